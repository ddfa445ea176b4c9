"""Super-NaturalInstructions task files: ``tasks/taskNNN_<name>.json``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from limalab.data.example import BadRecord


def read_tasks(root: str | Path) -> Iterator[tuple[str, str, list[dict]]]:
    """Yield (task name, definition, instances) for every task file, in name order."""
    root = Path(root)
    files = sorted((root / "tasks").glob("task*.json")) or sorted(root.glob("task*.json"))
    if not files:
        raise FileNotFoundError(f"{root}: no task*.json files (in it or in its tasks/ folder)")
    for path in files:
        try:
            task = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise BadRecord(f"{path}: line {e.lineno}: malformed JSON ({e.msg})") from e
        missing = {"Definition", "Instances"} - set(task)
        if missing:
            raise BadRecord(f"{path}: missing keys {sorted(missing)}")
        definition = " ".join(task["Definition"]) if isinstance(task["Definition"], list) else task["Definition"]
        yield path.stem, definition, task["Instances"]
