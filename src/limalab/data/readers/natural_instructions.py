"""Super-NaturalInstructions task files: ``tasks/taskNNN_<name>.json`` (``Definition``,
``Positive Examples``, ``Instances`` with ``id``, ``input`` and a list of ``output``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from limalab.data.example import BadRecord, BadRecords, read_text


def read_tasks(root: str | Path, bad: BadRecords | None = None) -> Iterator[tuple[str, str, list[dict]]]:
    """Yield (task name, definition, valid instances) for every task file, in name order."""
    root = Path(root)
    bad = bad or BadRecords()
    files = sorted((root / "tasks").glob("task*.json")) or sorted(root.glob("task*.json"))
    if not files:
        raise FileNotFoundError(f"{root}: no task*.json files (in it or in its tasks/ folder)")
    for path in files:
        try:
            task = json.loads(read_text(path))
        except BadRecord as e:
            bad(str(e))
            continue
        except json.JSONDecodeError as e:
            bad(f"{path}: line {e.lineno}: malformed JSON ({e.msg})")
            continue
        missing = {"Definition", "Instances"} - set(task if isinstance(task, dict) else {})
        if missing:
            bad(f"{path}: missing keys {sorted(missing)}; expected Definition and Instances")
            continue
        definition = " ".join(task["Definition"]) if isinstance(task["Definition"], list) else task["Definition"]
        instances = []
        for i, inst in enumerate(task["Instances"]):
            ok = (isinstance(inst, dict) and isinstance(inst.get("id"), str) and isinstance(inst.get("input"), str)
                  and isinstance(inst.get("output"), list) and inst["output"] and isinstance(inst["output"][0], str))
            if not ok:
                bad(f"{path}: Instances[{i}]: expected id and input (strings) and output (a list of strings)")
                continue
            instances.append(inst)
        yield path.stem, definition, instances
