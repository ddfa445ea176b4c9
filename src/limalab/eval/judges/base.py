"""What every judge returns, and the interface the evaluation loop calls."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Judgment:
    """One graded response.

    ``score`` is the LIMA helpfulness level 1..6, or ``None`` when an LLM judge's reply could
    not be parsed (the reference judge never returns ``None``).
    """

    score: int | None
    subscores: dict[str, Any]  # JSON-serialisable
    rationale: str
    judge: str  # judge id, e.g. "reference@rubric1"

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Judge(Protocol):
    id: str

    def judge(self, prompt: dict, response: str, terminated: bool) -> Judgment:
        """Grade ``response`` to the eval-set row ``prompt``.

        ``terminated`` is True when generation ended with the end-of-turn token rather than
        being cut at the length limit.
        """
        ...
