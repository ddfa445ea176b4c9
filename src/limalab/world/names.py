"""Invented words: names and values that cannot leak from any real corpus."""

from __future__ import annotations

import random

_ONSETS = (
    "b",
    "d",
    "f",
    "g",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "br",
    "dr",
    "gr",
    "kr",
    "th",
    "sh",
    "st",
    "tr",
    "vl",
    "zh",
)
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ei", "ou", "ia")
_CODAS = ("", "n", "r", "s", "l", "th", "nd", "rk", "sk", "m", "x")


class WordForge:
    """Draws unique invented words; every word drawn is reserved for good."""

    def __init__(self, rng: random.Random, reserved: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.rng = rng
        self.used: set[str] = set(reserved)

    def word(self, syllables: tuple[int, int] = (2, 3)) -> str:
        while True:
            n = self.rng.randint(*syllables)
            w = "".join(
                self.rng.choice(_ONSETS) + self.rng.choice(_VOWELS) for _ in range(n)
            ) + self.rng.choice(_CODAS)
            if w not in self.used and len(w) >= 4:
                self.used.add(w)
                return w

    def words(self, n: int, syllables: tuple[int, int] = (2, 3)) -> list[str]:
        return [self.word(syllables) for _ in range(n)]
