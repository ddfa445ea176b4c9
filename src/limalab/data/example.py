"""The unit every stage passes along: one conversation, traceable to its source."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
