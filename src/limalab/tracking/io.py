"""Writes that never leave a half-written file behind, and stable hashes of configs."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write to a temp file in the same directory, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(
            tmp, 0o666 & ~_umask()
        )  # mkstemp makes 0600: teammates sharing runs_dir must read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinity replaced by ``None``: strict JSON has no NaN, and a
    missing number must read as missing, never as a value."""
    if type(obj).__module__ == "numpy" and hasattr(obj, "item"):  # numpy scalars and 0-d arrays
        obj = obj.item() if getattr(obj, "ndim", 0) == 0 else obj.tolist()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def to_json(data: Any, indent: int | None = None) -> str:
    """Strict JSON (no ``NaN`` literals: parsers other than Python's reject them)."""
    return json.dumps(finite(data), indent=indent, default=str, allow_nan=False)


def json_text(data: Any) -> str:
    """A JSON file's text as limalab writes it: the same data, the same bytes (an artifact
    rebuilt from the file has the digest of the one logged before it was written)."""
    return to_json(data, indent=2) + "\n"


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json_text(data))


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(to_json(r) + "\n" for r in rows))


class CorruptFile(ValueError):
    """A file limalab wrote that no longer parses (truncated, overwritten, flipped bytes)."""


def read_json(path: str | Path) -> Any:
    """A JSON file limalab wrote, or a one-line ``CorruptFile`` naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptFile(f"{path}: not valid JSON ({e})") from None


def read_jsonl(path: str | Path) -> list[dict]:
    """A JSONL file limalab wrote (one object a line), or a ``CorruptFile`` naming the file and
    line."""
    rows = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                if raw.strip():
                    rows.append(json.loads(raw.decode("utf-8")))
            except (ValueError, UnicodeDecodeError) as e:
                raise CorruptFile(f"{path}: line {n}: not valid JSON ({e})") from None
    return rows


def config_hash(data: Any, length: int = 12) -> str:
    """Short, stable hash of JSON-able data (key order does not matter)."""
    blob = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
