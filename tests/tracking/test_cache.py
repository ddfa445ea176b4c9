"""Cache entries: built once across processes, verified on every use, rebuilt when corrupt."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

from limalab.tracking.cache import RECORD, cached_entry, verify


def _slow_build(tmp: Path, log: Path) -> None:
    with log.open("a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(0.5)  # long enough that a second builder arrives while this one works
    (tmp / "sub").mkdir()
    (tmp / "sub" / "data.txt").write_text("payload\n")


def _worker(root: str, log: str, out: str) -> None:
    path = cached_entry(Path(root), lambda tmp: _slow_build(tmp, Path(log)))
    Path(out).write_text((path / "sub" / "data.txt").read_text())


def test_concurrent_builders_build_once_and_share(tmp_path: Path) -> None:
    root, log = tmp_path / "cache" / "entry", tmp_path / "builds.log"
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(str(root), str(log), str(tmp_path / f"out{i}")))
        for i in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(log.read_text().split()) == 1  # one builder, the others waited and reused
    assert all((tmp_path / f"out{i}").read_text() == "payload\n" for i in range(3))
    assert verify(root) is None
    assert not list(root.parent.glob("entry.tmp-*"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "add", "record"])
def test_a_damaged_entry_is_rebuilt_not_used(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "entry"
    builds = []

    def build(tmp: Path) -> None:
        builds.append(1)
        (tmp / "rows.jsonl").write_text("".join(f'{{"i": {i}}}\n' for i in range(20)))

    cached_entry(root, build)
    f = root / "rows.jsonl"
    if damage == "truncate":
        f.write_text(f.read_text()[:-30])
    elif damage == "flip":
        data = bytearray(f.read_bytes())
        data[5] ^= 1
        f.write_bytes(bytes(data))
    elif damage == "delete":
        f.unlink()
    elif damage == "add":
        (root / "stray.txt").write_text("x")
    else:
        (root / RECORD).write_text('{"files": ')
    assert verify(root) is not None
    cached_entry(root, build)
    assert len(builds) == 2 and verify(root) is None
    assert len(f.read_text().splitlines()) == 20


def test_failed_build_leaves_nothing_and_stale_temp_dirs_are_cleaned(tmp_path: Path) -> None:
    root = tmp_path / "entry"
    stale = tmp_path / "entry.tmp-99999-deadbeef"  # a killed builder's leftover
    stale.mkdir()

    def broken(tmp: Path) -> None:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        cached_entry(root, broken)
    assert not root.exists() and not list(tmp_path.glob("entry.tmp-*"))
    cached_entry(root, lambda tmp: (tmp / "ok.txt").write_text("ok"))
    assert (root / "ok.txt").read_text() == "ok"
