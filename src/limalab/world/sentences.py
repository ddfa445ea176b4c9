"""Reading a response sentence by sentence against the miniature world's grammar.

Every sentence the world writes comes from a few hundred patterns (``world/phrasing.py``,
``world/answers.py``, ``world/experiments.py``), so the reference judge can parse a response
instead of spotting value words in it. A sentence is normalised (values -> ``<v>``, entity
names -> ``<e>``, a few verb forms, negations and hedges taken out and remembered) and looked up
among the normalised patterns; what surrounds a matched pattern in the sentence (``i think``,
``it is not true that``, ``as mentioned above ,``, ``the first :``) is read as a hedge, a
negation, a reference elsewhere, first person, a pointer to one of two compared entities,
harmless framing, or unparsed text.

A ``Claim`` is what one matched pattern says: about whom (the asked entities for ``it`` and for
patterns without a subject, or the named entity), which attribute, which value(s), whether
negated or hedged. ``reference.py`` turns claims and the sentences' labels into the rubric.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from limalab.world import answers, experiments, phrasing
from limalab.world.kinds import KINDS

V, E = "<v>", "<e>"  # slots: a value word (or number), an entity name
_TOKEN = re.compile(r"\w+|[^\w\s]")
_CONTRACTIONS = (
    (re.compile(r"\b(can)'t\b"), r"\1 not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"\b(it|that|what)'s\b"), r"\1 is"),
)

# Verb forms folded together, so "it does not eat x" and "it might live in the x" meet "it eats
# x" and "it lives in the x"; "might be" meets "is".
LEMMA = {
    "eats": "eat",
    "lives": "live",
    "makes": "make",
    "exports": "export",
    "flies": "fly",
    "feeds": "feed",
    "finds": "find",
    "marks": "mark",
    "covers": "cover",
    "hears": "hear",
    "be": "is",
    "are": "is",
}
NEGATORS = frozenset({"not", "never", "no"})
DO_AUX = frozenset({"does", "do", "did"})
HEDGE_WORDS = frozenset(
    {
        "maybe",
        "perhaps",
        "probably",
        "possibly",
        "likely",
        "might",
        "may",
        "could",
        "think",
        "believe",
        "guess",
        "seems",
        "seem",
        "apparently",
        "supposedly",
        "remember",
        "recall",
        "doubt",
        "unsure",
        "suppose",
        "heard",
    }
)
UNSURE = frozenset({"sure", "certain"})  # a hedge with a negator: "i am not sure", "not certain"
_INNER_HEDGES = frozenset(
    {"maybe", "perhaps", "probably", "possibly", "likely", "might", "may", "could"}
)
FALSITY = frozenset({"false", "untrue", "myth", "wrong", "incorrect"})
FIRST_PERSON = frozenset({"i", "me", "my", "mine", "myself", "we", "us", "our"})
ELSEWHERE = frozenset(
    {
        "above",
        "below",
        "mentioned",
        "accepted",
        "comments",
        "comment",
        "thread",
        "duplicate",
        "link",
        "links",
        "page",
        "said",
        "answered",
        "elsewhere",
        "post",
    }
)
# Words that frame a statement without saying anything of their own ("also , about the first ,",
# "here is what to do :", "first ,", "to say it again ," is repetition and is not here).
CONNECTIVES = frozenset(
    {
        "and",
        "also",
        "so",
        "then",
        "next",
        "after",
        "that",
        "finally",
        "first",
        "second",
        "here",
        "is",
        "are",
        "what",
        "to",
        "do",
        "the",
        "steps",
        "answer",
        "for",
        "each",
        "about",
        "plan",
        "yes",
        "well",
        "oh",
        "now",
        "in",
        "short",
        "fact",
        "of",
        "course",
        "sure",
        "actually",
        "an",
        "overview",
        "some",
        "more",
        "facts",
        ",",
        ":",
        ";",
        "-",
        "!",
    }
)
# A sentence that is a bare value answers the asked attribute ("the reedmarsh .", "it is 1203 .").
ELLIPSIS = frozenset(
    {
        "the",
        "a",
        "an",
        "it",
        "is",
        "its",
        "in",
        "year",
        "years",
        "for",
        "also",
        "and",
        "first",
        "second",
        ":",
        ",",
        "about",
        "answer",
    }
)
ORDINALS = {"first": 0, "second": 1}
# Headers answers.py and experiments.py write before a list (framing, not content).
HEADERS = (
    "here is an overview :",
    "some more facts :",
    "here is the answer for each :",
    "here are the steps :",
    "here is what to do :",
    "here is the plan :",
)


def tokenize(text: str) -> list[str]:
    """Lowercase word and punctuation tokens; robust to punctuation glued to words."""
    text = text.lower()
    if "'" in text:
        for pattern, repl in _CONTRACTIONS:
            text = pattern.sub(repl, text)
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class Template:
    attr: str
    subject: str  # "it": the asked entities (or the one an ordinal picks); "e": the named entity
    source: str  # which family of patterns: answer, corpus, step, story, label, ellipsis


def _norm_template(text: str) -> tuple[str, ...]:
    toks = tokenize(text.replace("{v}", " vslot ").replace("{e}", " eslot "))
    out: list[str] = []
    for t in toks:
        if t == "eslot":
            if out and out[-1] == "the":
                out.pop()
            out.append(E)
        elif t == "vslot":
            out.append(V)
        elif t not in DO_AUX and t != "can" and t not in _INNER_HEDGES:
            out.append(LEMMA.get(t, t))
    return tuple(out[:-1] if out and out[-1] in ".!?" else out)


@cache
def grammar() -> tuple[dict[tuple[str, ...], Template], dict[str, tuple[int, ...]]]:
    """Every fact pattern of the world, normalised, and an index: first token -> lengths."""
    patterns: list[tuple[str, Template]] = []
    for attr, texts in phrasing.CORPUS.items():
        patterns += [(t, Template(attr, "e", "corpus")) for t in texts]
    for attr, text in phrasing.ANSWER.items():
        patterns.append((text, Template(attr, "it", "answer")))
    for table, source in ((answers.STEP, "step"), (answers.STORY, "story")):
        patterns += [(text, Template(attr, "it", source)) for attr, text in table.items()]
    for kind in KINDS.values():
        for a in kind.attributes:  # "its banner color is x", "banner color : x", "banner : x"
            for noun in {a.noun, a.name}:
                patterns += [
                    (f"its {noun} is {{v}}", Template(a.name, "it", "label")),
                    (f"{noun} : {{v}}", Template(a.name, "it", "label")),
                    (f"the {noun} of {{e}} is {{v}}", Template(a.name, "e", "corpus")),
                ]
    table: dict[tuple[str, ...], Template] = {}
    for text, tpl in patterns:
        table.setdefault(_norm_template(text), tpl)
    index: dict[str, set[int]] = {}
    for key in table:
        index.setdefault(key[0], set()).add(len(key))
    return table, {k: tuple(sorted(v, reverse=True)) for k, v in index.items()}


@cache
def fixed_sentences() -> dict[tuple[str, ...], str]:
    """Whole sentences the world writes that state no fact: framing (acknowledgments, headers,
    casual openers) and story narration (openers and closers)."""
    out: dict[tuple[str, ...], str] = {}
    for text in (*phrasing.ACKNOWLEDGE, *answers.CASUAL_OPEN, *HEADERS):
        out[_norm_template(text)] = "framing"
    for kind in KINDS:
        for text in (*answers.STORY_OPEN, *answers.STORY_CLOSE):
            out[_norm_template(text.format(m=f"the {kind}"))] = "narrative"
    for text in (
        *experiments.REFUSE,
        *(r for rs in experiments.REASON.values() for r in rs),
        experiments.OFFER,
    ):
        out.setdefault(_norm_template(text), "refusal")
    return out


@dataclass(frozen=True)
class Claim:
    attr: str
    values: tuple[str, ...]  # more than one: "x or y", a hedge that commits to neither
    entity: str | None  # a named entity, or None: the asked entities
    ordinal: int | None = None  # "the first :" / "the second :": which asked entity
    negated: bool = False
    hedged: bool = False


@dataclass
class Normalised:
    tokens: list[str]  # normalised: slots, lemmas; negators, auxiliaries and inner hedges out
    where: list[int]  # position of each normalised token in the original sentence
    values: dict[int, tuple[str, ...]]  # normalised position of a <v> -> the value(s) it stands for
    entities: dict[int, str]  # normalised position of an <e> -> the entity name
    dropped: dict[int, str] = field(default_factory=dict)  # original position -> dropped word


def normalise(
    words: tuple[str, ...], value_attribute: dict[str, str], entity_names: Iterable[str]
) -> Normalised:
    names = entity_names if isinstance(entity_names, (set, frozenset, dict)) else set(entity_names)
    n = Normalised([], [], {}, {})
    for i, w in enumerate(words):
        if w in NEGATORS or w in DO_AUX or w in _INNER_HEDGES:
            n.dropped[i] = w
        elif w in value_attribute or w.isdigit():
            gap = 2 if len(n.tokens) >= 3 and n.tokens[-1] in ("the", "a") else 1
            if (
                len(n.tokens) > gap and n.tokens[-gap] == "or" and n.tokens[-gap - 1] == V
            ):  # "x or (the) y"
                del n.tokens[-gap:], n.where[-gap:]  # one slot holding both: a hedge
                last = len(n.tokens) - 1
                n.values[last] = (*n.values[last], w)
                continue
            n.values[len(n.tokens)] = (w,)
            n.tokens.append(V)
            n.where.append(i)
        elif w in names:
            if n.tokens and n.tokens[-1] == "the":
                n.tokens.pop()
                n.where.pop()
            n.entities[len(n.tokens)] = w
            n.tokens.append(E)
            n.where.append(i)
        else:
            n.tokens.append(LEMMA.get(w, w))
            n.where.append(i)
    return n


def find_patterns(tokens: list[str]) -> list[tuple[int, int, Template]]:
    """Non-overlapping pattern matches, left to right, the longest at each position."""
    table, index = grammar()
    found, i = [], 0
    while i < len(tokens):
        for length in index.get(tokens[i], ()):
            tpl = table.get(tuple(tokens[i : i + length])) if i + length <= len(tokens) else None
            if tpl is not None:
                found.append((i, i + length, tpl))
                i += length
                break
        else:
            i += 1
    return found


# Words a clause around a pattern may use without saying anything of its own.
_UNDERSTOOD = (
    CONNECTIVES
    | HEDGE_WORDS
    | UNSURE
    | NEGATORS
    | FALSITY
    | FIRST_PERSON
    | ELSEWHERE
    | DO_AUX
    | {"it", "true", "case", "again", "say", "though", "as", "am", "was"}
)


def read_clause(words: Iterable[str]) -> set[str]:
    """What text around a pattern does to it: ``hedge``, ``negate``, ``first_person``,
    ``elsewhere``, ``repeat``, ``ordinal:<n>``, or ``unparsed`` (words that say something the
    grammar does not know); nothing for framing and connectives ("also ,",
    "here is what to do :")."""
    ws = [w for w in words if w not in ".!?"]
    s = set(ws)
    marks: set[str] = set()
    if s & HEDGE_WORDS or (s & UNSURE and s & NEGATORS):
        marks.add("hedge")
    elif (len(s & NEGATORS) + len(s & FALSITY)) % 2 == 1:
        marks.add("negate")
    if s & FIRST_PERSON:
        marks.add("first_person")
    if s & ELSEWHERE or "other answer" in " ".join(ws):
        marks.add("elsewhere")
    if "again" in s:
        marks.add("repeat")
    joined = " ".join(ws)
    marks |= {f"ordinal:{k}" for word, k in ORDINALS.items() if f"the {word}" in joined}
    if (
        not marks and not s <= _UNDERSTOOD
    ):  # a marked clause may say more ("... my teacher told me")
        marks.add("unparsed")
    return marks


def ellipsis(n: Normalised) -> tuple[str, ...] | None:
    """The value(s) of a sentence that is only a value (and words like "it is the")."""
    if len(n.values) != 1 or len(n.tokens) > 6 or n.entities:
        return None
    if not all(t == V or t in ELLIPSIS for t in n.tokens):
        return None
    return next(iter(n.values.values()))
