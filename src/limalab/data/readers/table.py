"""Any other instruction data: a JSON file (a JSONL file, or one JSON array of objects: told
apart by the first character), Parquet file(s), a Hugging Face ``datasets`` directory
(``save_to_disk``), or a hub id (``hf:org/name``, when online), with a column mapping.

``columns`` maps limalab's fields to the table's: ``prompt`` and ``response`` (plus an
optional ``context`` appended to the prompt, as Alpaca's input), or ``conversations``: a list
of strings (alternating, user first), OpenAI ``messages`` (``role``/``content``, tool calls)
or ShareGPT ``conversations`` (``from``/``value``), roles honoured as ``data/messages.py``
says; an unknown role, or a conversation that does not end on an assistant turn, is a bad
record naming its line. ``id`` optionally names the row's own id column (a value two rows
share gets ``#2``, ``#3``, ... in file order: an id is unique within a source).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from limalab.config.schema import PluginOptions
from limalab.data.example import (
    BadRecord,
    BadRecords,
    Example,
    is_json_array,
    json_array,
    json_objects,
    refuse_lfs_pointer,
)
from limalab.data.messages import ConversationError, to_turns
from limalab.data.readers.alpaca import prompt_of
from limalab.data.sources import HUB, READERS, Source


def table_format(location: str) -> str:
    if location.startswith(HUB):
        return "hub"
    path = Path(location)
    if path.is_dir():
        if any(
            (path / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")
        ):
            return "hf_disk"
        if any(path.glob("*.parquet")):
            return "parquet"
        raise BadRecord(
            f"{path}: a directory with neither a saved datasets dataset nor *.parquet files"
        )
    if path.suffix == ".parquet":
        return "parquet"
    if path.suffix == ".jsonl":
        return "jsonl"
    if path.suffix == ".json":
        return "json_array" if is_json_array(path) else "jsonl"
    raise BadRecord(
        f"{path}: unknown table format; expected .jsonl, .parquet, a datasets directory or hf:<id>"
    )


def _needed(columns: dict[str, str]) -> list[str]:
    if "conversations" in columns:
        return [columns["conversations"]]
    missing = {"prompt", "response"} - set(columns)
    if missing:
        raise ValueError(
            "columns: expected 'prompt' and 'response' (or 'conversations'), missing "
            f"{sorted(missing)}"
        )
    return [columns["prompt"], columns["response"]] + [
        columns[k] for k in ("context",) if k in columns
    ]


def _check(found: list[str], columns: dict[str, str], where: str) -> None:
    want = _needed(columns) + ([columns["id"]] if "id" in columns else [])
    missing = [c for c in want if c not in found]
    if missing:
        raise BadRecord(
            f"{where}: missing columns {missing}; expected {want} (data.sources.<name>.columns "
            f"maps prompt/response/context/conversations/id to them), found {sorted(found)}"
        )


def _turns(row: dict[str, Any], columns: dict[str, str]) -> list[str] | None:
    """The row's turns, None when a field is missing or empty; ConversationError says why a
    conversation cannot be one."""
    if "conversations" in columns:
        return to_turns(row.get(columns["conversations"]), end="assistant")
    p, r = row.get(columns["prompt"]), row.get(columns["response"])
    ctx = row.get(columns["context"], "") if "context" in columns else ""
    if not (
        isinstance(p, str)
        and p.strip()
        and isinstance(r, str)
        and r.strip()
        and isinstance(ctx, str | None)
    ):
        return None
    return [prompt_of(p, ctx or ""), r.strip()]


def _jsonl(path: Path, columns: dict[str, str], bad: BadRecords) -> Iterator[tuple[str, dict]]:
    checked = False
    for n, row in json_objects(path, bad):
        if not checked:  # the first row fixes the schema, as a Parquet schema would
            _check(list(row), columns, f"{path}: line {n}")
            checked = True
        yield f"line {n}", row


def _json_array(path: Path, columns: dict[str, str]) -> Iterator[tuple[str, dict]]:
    """One JSON array of objects (Alpaca's and many chat sets' release format). A broken array
    has no next record to skip to: a BadRecord, under either policy."""
    rows = json_array(path, "a JSON array of objects (or one object per line)")
    for i, row in enumerate(rows):
        if i == 0 and isinstance(row, dict):
            _check(list(row), columns, f"{path}: record 0")
        yield f"record {i}", row


def _parquet(path: Path, columns: dict[str, str]) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq  # installed with datasets

    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    for file in files:
        refuse_lfs_pointer(file)
        pf = pq.ParquetFile(file)
        _check(pf.schema_arrow.names, columns, str(file))
        i = 0
        for batch in pf.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield f"{file.name} row {i}", row
                i += 1


def _datasets(
    location: str, fmt: str, columns: dict[str, str], split: str
) -> Iterator[tuple[str, dict]]:
    import datasets  # heavy: only for these formats

    if fmt == "hub":
        try:
            ds = datasets.load_dataset(location.removeprefix(HUB), split=split)
        except Exception as e:  # offline, unknown id, gated: say which
            raise BadRecord(
                f"{location}: could not load from the hub ({type(e).__name__}: {e})"
            ) from e
    else:
        ds = datasets.load_from_disk(location)
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise BadRecord(f"{location}: no split {split!r}; found {sorted(ds)}")
            ds = ds[split]
    _check(ds.column_names, columns, location)
    for i, row in enumerate(ds):
        yield f"row {i}", row


def read_rows(
    location: str, columns: dict[str, str], bad: BadRecords | None = None, split: str = "train"
) -> Iterator[tuple[str, str, list[str]]]:
    """Yield (row id, where in the file, turns)."""
    bad = bad or BadRecords()
    fmt = table_format(location)
    _needed(columns)
    readers = {
        "jsonl": lambda: _jsonl(Path(location), columns, bad),
        "json_array": lambda: _json_array(Path(location), columns),
        "parquet": lambda: _parquet(Path(location), columns),
    }
    rows = readers[fmt]() if fmt in readers else _datasets(location, fmt, columns, split)
    for n, (where, row) in enumerate(rows):
        if not isinstance(row, dict):
            bad(f"{location}: {where}: expected a JSON object")
            continue
        try:
            turns = _turns(row, columns)
        except ConversationError as e:
            bad(f"{location}: {where}: {columns['conversations']}: {e}")
            continue
        if turns is None:
            bad(f"{location}: {where}: expected non-empty strings in {_needed(columns)}")
            continue
        if "id" in columns and row.get(columns["id"]) is None:
            bad(
                f"{location}: {where}: no {columns['id']!r} (the id column, "
                "data.sources.<name>.columns.id)"
            )
            continue
        yield str(row[columns["id"]]) if "id" in columns else str(n), where, turns


class TableOptions(PluginOptions):
    # limalab's fields -> the table's: {prompt: instruction, response: output} or {conversations:
    # messages}
    columns: dict[str, str]
    split: str = "train"  # a `datasets` table's split


@READERS.register("table", options=TableOptions)
def table_pool(src: Source) -> list[Example]:
    rows = read_rows(str(src.path), dict(src.opt.columns), src.bad, src.opt.split)
    return src.shuffled(
        [
            Example(src.unique_id(f"{src.name}:{rid}"), src.name, turns, {"at": where})
            for rid, where, turns in src.count(rows)
        ]
    )
