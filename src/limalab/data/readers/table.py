"""Any other instruction data: a JSONL file, Parquet file(s), a Hugging Face ``datasets``
directory (``save_to_disk``), or a hub id (``hf:org/name``, when online), with a column mapping.

``columns`` maps limalab's fields to the table's: ``prompt`` and ``response`` (plus an
optional ``context`` appended to the prompt, as Alpaca's input), or ``conversations`` (a list
of strings, or of ``{role|from, content|value}`` messages); ``id`` optionally names the row's
own id column.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from limalab.data.example import BadRecord, BadRecords, json_objects
from limalab.data.readers.alpaca import prompt_of

HUB = "hf:"


def table_format(location: str) -> str:
    if location.startswith(HUB):
        return "hub"
    path = Path(location)
    if path.is_dir():
        if any((path / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
            return "hf_disk"
        if any(path.glob("*.parquet")):
            return "parquet"
        raise BadRecord(f"{path}: a directory with neither a saved datasets dataset nor *.parquet files")
    if path.suffix == ".parquet":
        return "parquet"
    if path.suffix in (".jsonl", ".json"):
        return "jsonl"
    raise BadRecord(f"{path}: unknown table format; expected .jsonl, .parquet, a datasets directory or hf:<id>")


def _needed(columns: dict[str, str]) -> list[str]:
    if "conversations" in columns:
        return [columns["conversations"]]
    missing = {"prompt", "response"} - set(columns)
    if missing:
        raise ValueError(f"columns: expected 'prompt' and 'response' (or 'conversations'), missing {sorted(missing)}")
    return [columns["prompt"], columns["response"]] + [columns[k] for k in ("context",) if k in columns]


def _check(found: list[str], columns: dict[str, str], where: str) -> None:
    want = _needed(columns) + ([columns["id"]] if "id" in columns else [])
    missing = [c for c in want if c not in found]
    if missing:
        raise BadRecord(f"{where}: missing columns {missing}; expected {want} (data.sources.<name>.columns "
                        f"maps prompt/response/context/conversations/id to them), found {sorted(found)}")


def _turns(row: dict[str, Any], columns: dict[str, str]) -> list[str] | None:
    if "conversations" in columns:
        conv = row.get(columns["conversations"])
        if not isinstance(conv, list):
            return None
        turns = [m if isinstance(m, str) else (m.get("content") or m.get("value")) if isinstance(m, dict) else None
                 for m in conv]
        if isinstance(conv[0] if conv else None, dict) and conv[0].get("role", conv[0].get("from")) == "system":
            turns = turns[1:]  # limalab's chat format has no system turn
        return turns if len(turns) >= 2 and all(isinstance(t, str) and t for t in turns) else None
    p, r = row.get(columns["prompt"]), row.get(columns["response"])
    ctx = row.get(columns["context"], "") if "context" in columns else ""
    if not (isinstance(p, str) and p.strip() and isinstance(r, str) and r.strip() and isinstance(ctx, str | None)):
        return None
    return [prompt_of(p, ctx or ""), r.strip()]


def _jsonl(path: Path, columns: dict[str, str], bad: BadRecords) -> Iterator[tuple[str, dict]]:
    checked = False
    for n, row in json_objects(path, bad):
        if not checked:  # the first row fixes the schema, as a Parquet schema would
            _check(list(row), columns, f"{path}: line {n}")
            checked = True
        yield f"line {n}", row


def _parquet(path: Path, columns: dict[str, str]) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq  # installed with datasets

    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    for file in files:
        pf = pq.ParquetFile(file)
        _check(pf.schema_arrow.names, columns, str(file))
        i = 0
        for batch in pf.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield f"{file.name} row {i}", row
                i += 1


def _datasets(location: str, fmt: str, columns: dict[str, str], split: str) -> Iterator[tuple[str, dict]]:
    import datasets  # heavy: only for these formats

    if fmt == "hub":
        try:
            ds = datasets.load_dataset(location.removeprefix(HUB), split=split)
        except Exception as e:  # offline, unknown id, gated: say which
            raise BadRecord(f"{location}: could not load from the hub ({type(e).__name__}: {e})") from e
    else:
        ds = datasets.load_from_disk(location)
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise BadRecord(f"{location}: no split {split!r}; found {sorted(ds)}")
            ds = ds[split]
    _check(ds.column_names, columns, location)
    for i, row in enumerate(ds):
        yield f"row {i}", row


def read_rows(location: str, columns: dict[str, str], bad: BadRecords | None = None,
              split: str = "train") -> Iterator[tuple[str, str, list[str]]]:
    """Yield (row id, where in the file, turns)."""
    bad = bad or BadRecords()
    fmt = table_format(location)
    _needed(columns)
    rows = (_jsonl(Path(location), columns, bad) if fmt == "jsonl" else _parquet(Path(location), columns)
            if fmt == "parquet" else _datasets(location, fmt, columns, split))
    for n, (where, row) in enumerate(rows):
        turns = _turns(row, columns)
        if turns is None:
            bad(f"{location}: {where}: expected non-empty strings in "
                f"{_needed(columns)}" + (" (a list of at least 2 turns)" if "conversations" in columns else ""))
            continue
        yield str(row[columns["id"]]) if "id" in columns else str(n), where, turns
