"""Content-addressed cache entries (worlds, tokenizers, base models, source pools, tokenized
sets) that are built once, safely when several processes want the same entry, and verified
every time they are used.

An entry is a directory ``<root>/<key>/`` holding what a builder wrote and a record,
``.record.json``, of every file's size and SHA-256, written last. A reader uses the entry
only if the record exists and every file still matches it; otherwise the entry is rebuilt.

Builders of one entry take its lock (``<key>.lock``, an advisory ``flock`` the kernel drops
when the holder dies): the first builds into a temp directory of its own and renames it into
place; the others wait, then find the entry complete and reuse it. A temp directory left by a
killed builder is removed by the next builder of that entry, which holds the lock, so it cannot
belong to a live process.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from limalab.tracking.io import atomic_write_json, file_sha256

log = logging.getLogger(__name__)

RECORD = ".record.json"


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if missing), held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for %s (another process is building it)", path.with_suffix(""))
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != RECORD)


def write_record(root: Path, **meta: object) -> dict:
    """Record every file under ``root`` (relative path -> size and SHA-256)."""
    files = {
        str(p.relative_to(root)): {"size": p.stat().st_size, "sha256": file_sha256(p)}
        for p in _files(root)
    }
    record = {"files": files, **meta}
    atomic_write_json(root / RECORD, record)
    return record


def verify(root: Path) -> str | None:
    """``None`` if ``root`` is complete and unchanged since its record was written, else why not."""
    path = root / RECORD
    if not path.exists():
        return "no record (never finished)"
    try:
        files = json.loads(path.read_text())["files"]
    except (ValueError, KeyError, TypeError):
        return f"{path}: unreadable record"
    for rel, want in files.items():
        p = root / rel
        if not p.is_file():
            return f"{p}: missing"
        if p.stat().st_size != want["size"] or file_sha256(p) != want["sha256"]:
            return f"{p}: changed since it was written (size or SHA-256 differs)"
    extra = {str(p.relative_to(root)) for p in _files(root)} - set(files)
    if extra:
        return f"{root}: files not in its record: {sorted(extra)[:3]}"
    return None


def cached_entry(root: Path, build: Callable[[Path], None], what: str = "cache entry") -> Path:
    """``root`` complete and verified: reused as it is, or built by ``build(tmp_dir)`` exactly
    once across processes (see the module docstring). ``build`` writes into the empty directory
    it is given; a failed build leaves nothing behind."""
    if verify(root) is None:
        return root
    with file_lock(root.with_name(root.name + ".lock")):
        problem = verify(root)
        if problem is None:  # another process built it while we waited
            return root
        if root.exists():
            log.warning(
                "%s %s is incomplete or corrupt (%s): rebuilding it", what, root.name, problem
            )
        for stale in root.parent.glob(f"{root.name}.tmp-*"):  # a dead builder's (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        tmp.mkdir(parents=True)
        try:
            build(tmp)
            write_record(tmp)
            if root.exists():
                aside = root.with_name(f"{root.name}.tmp-old-{uuid.uuid4().hex[:8]}")
                root.rename(aside)
                shutil.rmtree(aside, ignore_errors=True)
            tmp.rename(root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root
