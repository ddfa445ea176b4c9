"""The unit every stage passes along: one conversation, traceable to its source."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Example:
    id: str  # the source's own ids, e.g. "se:realms:q12:a40", so a manifest can be checked by hand
    source: str  # which mix source it came from
    turns: list[str]  # alternating user / assistant utterances, user first
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Example:
        return cls(d["id"], d["source"], list(d["turns"]), d.get("meta", {}))


class BadRecord(ValueError):
    """A malformed record; the message names the file and line."""


POLICIES = ("error", "skip")


class BadRecords:
    """``data.on_bad_record``: raise on the first malformed record (``error``, the default) or
    skip it and count it (``skip``); the count and the first messages go into the manifest.
    A file that cannot be parsed past the fault (truncated XML, a broken JSON array) is always
    an error: there is no next record to skip to."""

    def __init__(self, policy: str = "error", keep: int = 5) -> None:
        if policy not in POLICIES:
            raise ValueError(f"data.on_bad_record: expected one of {POLICIES}, got {policy!r}")
        self.policy, self.keep = policy, keep
        self.count = 0
        self.examples: list[str] = []

    def __call__(self, message: str) -> None:
        if self.policy == "error":
            raise BadRecord(message)
        self.count += 1
        if len(self.examples) < self.keep:
            self.examples.append(message)
            log.warning("skipped bad record: %s", message)

    def report(self) -> dict:
        return {"count": self.count, "first": self.examples}


LFS_POINTER = b"version https://git-lfs.github.com/spec/"  # how every Git LFS pointer file starts


def refuse_lfs_pointer(path, head: bytes | None = None) -> None:
    """A Git LFS pointer (what a clone without ``git lfs`` holds in place of a large file) is
    a BadRecord saying so: parsed as data it fails with a syntax error or reads as nothing.
    ``head``: the file's first bytes when the caller has them already."""
    if head is None:
        with open(path, "rb") as f:
            head = f.read(len(LFS_POINTER))
    if head.startswith(LFS_POINTER):
        raise BadRecord(
            f"{path}: a Git LFS pointer, not the data file it stands for; fetch the file itself "
            "(git lfs pull in its repository)"
        )


def read_text(path, what: str = "file") -> str:
    """A whole UTF-8 file, or a BadRecord naming it and the first undecodable byte."""
    data = path.read_bytes()
    refuse_lfs_pointer(path, data)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark is no content
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise BadRecord(f"{path}: line {line}: not valid UTF-8 (byte {e.start})") from None


def json_array(path, expected: str) -> list:
    """A whole file holding one JSON array; a broken array has no next record to skip to, so a
    parse error or another top-level value is a BadRecord (``expected`` says what it should
    hold)."""
    try:
        rows = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise BadRecord(f"{path}: line {e.lineno}: malformed JSON ({e.msg})") from None
    if not isinstance(rows, list):
        raise BadRecord(f"{path}: expected {expected}")
    return rows


def is_json_array(path) -> bool:
    """Whether a JSON file is one array (its first character past a BOM and whitespace is
    ``[``) rather than JSON Lines: how the readers tell the two apart without parsing."""
    with open(path, "rb") as f:
        head = f.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"[")


def utf8_lines(path, bad: BadRecords):
    """(line number, text) of a UTF-8 text file; an undecodable line is a bad record."""
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            if n == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark is no content
                refuse_lfs_pointer(path, raw)
            try:
                yield n, raw.decode("utf-8")
            except UnicodeDecodeError:
                bad(f"{path}: line {n}: not valid UTF-8")


def json_objects(path, bad: BadRecords):
    """(line number, object) of a JSONL file: undecodable, malformed or non-object lines are bad
    records."""
    for n, line in utf8_lines(path, bad):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            bad(f"{path}: line {n}: malformed JSON ({e.msg})")
            continue
        if not isinstance(row, dict):
            bad(f"{path}: line {n}: expected a JSON object")
            continue
        yield n, row
