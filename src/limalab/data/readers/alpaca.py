"""Stanford Alpaca's release format: one JSON array of ``{instruction, input, output}``; the
prompt is the instruction, followed by the input when there is one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from limalab.data.example import BadRecords, Example, json_array
from limalab.data.sources import READERS, Source

KEYS = ("instruction", "input", "output")


def prompt_of(instruction: str, inp: str) -> str:
    return f"{instruction.strip()}\n\n{inp.strip()}" if inp.strip() else instruction.strip()


def read_records(path: str | Path, bad: BadRecords | None = None) -> Iterator[tuple[int, str, str]]:
    """Yield (index in the array, prompt, output)."""
    path = Path(path)
    bad = bad or BadRecords()
    rows = json_array(path, f"a JSON array of objects with keys {list(KEYS)}")
    for i, row in enumerate(rows):
        if (
            not isinstance(row, dict)
            or not all(isinstance(row.get(k, ""), str) for k in KEYS)
            or not row.get("instruction")
            or not row.get("output")
        ):
            bad(
                f"{path}: record {i}: expected non-empty 'instruction' and 'output' strings (and "
                "an optional 'input')"
            )
            continue
        yield i, prompt_of(row["instruction"], row.get("input", "")), row["output"].strip()


@READERS.register("alpaca")
def alpaca_pool(src: Source) -> list[Example]:
    return src.shuffled(
        [
            Example(f"alpaca:{i}", src.name, [p, r], {})
            for i, p, r in src.count(read_records(src.path, src.bad))
        ]
    )
