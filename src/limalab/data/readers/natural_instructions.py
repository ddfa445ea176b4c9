"""Super-NaturalInstructions task files: ``tasks/taskNNN_<name>.json`` (``Definition``,
``Positive Examples``, ``Instances`` with ``id``, ``input`` and a list of ``output``; an
instance without an ``id``, as in task files from before the release, gets ``<task>-<index>``).

The pool is ordered round-robin over tasks (tasks in a seeded order, each task's instances
shuffled): its first N examples come from N different tasks, one each, as the paper's 50 did.
A count above the number of tasks spreads evenly: every task gives its second example before
any gives a third. ``per_task`` caps the examples a task may give (``per_task: 1`` is the
paper's rule strictly; a count above the number of tasks is then an error naming it);
instances past the cap are counted as ``select:per_task``. The prompt is the task's definition,
a blank line, then the instance's input; dedup compares what follows the definition (the
instance), not the definition every example of a task shares (``meta.shared_prompt``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from pydantic import Field

from limalab.config.schema import PluginOptions
from limalab.data.example import BadRecord, BadRecords, Example, read_text
from limalab.data.sources import READERS, Source


def read_tasks(
    root: str | Path, bad: BadRecords | None = None
) -> Iterator[tuple[str, str, list[dict]]]:
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
        definition = (
            " ".join(task["Definition"])
            if isinstance(task["Definition"], list)
            else task["Definition"]
        )
        instances = []
        for i, inst in enumerate(task["Instances"]):
            if (
                isinstance(inst, dict) and "id" not in inst
            ):  # early task files (before the release) have none
                inst = {**inst, "id": f"{path.stem}-{i}"}
            ok = (
                isinstance(inst, dict)
                and isinstance(inst.get("id"), str)
                and isinstance(inst.get("input"), str)
                and isinstance(inst.get("output"), list)
                and inst["output"]
                and isinstance(inst["output"][0], str)
                and inst["output"][0].strip()
            )
            if not ok:
                bad(
                    f"{path}: Instances[{i}]: expected id and input (strings) and output (a list "
                    "of strings, the first non-empty)"
                )
                continue
            instances.append(inst)
        yield path.stem, definition, instances


class NaturalInstructionsOptions(PluginOptions):
    per_task: Annotated[int, Field(ge=1)] | None = (
        None  # at most this many instances a task (no cap when unset)
    )


@READERS.register("natural_instructions", options=NaturalInstructionsOptions)
def natural_instructions_pool(src: Source) -> list[Example]:
    cap = src.opt.per_task
    rng = random.Random(f"{src.seed}/ni")
    per_task = []
    for task, definition, instances in read_tasks(src.path, src.bad):
        xs = [
            Example(
                src.unique_id(f"ni:{inst['id']}"),
                src.name,
                [f"{definition}\n\n{inst['input']}", inst["output"][0]],
                {"task": task, "shared_prompt": definition},
            )
            for inst in src.count(instances)
        ]
        rng.shuffle(xs)
        if cap is not None and len(xs) > cap:
            src.drop("select:per_task", len(xs) - cap)
            xs = xs[:cap]
        per_task.append(xs)
    rng.shuffle(per_task)
    return [
        xs[i] for i in range(max(map(len, per_task), default=0)) for xs in per_task if i < len(xs)
    ]
