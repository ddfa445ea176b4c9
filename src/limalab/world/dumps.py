"""Source dumps in the real formats of LIMA's sources (Table 1), written from the world.

Stack Exchange ``Posts.xml`` (one directory per site), wikiHow ``wikihowAll.csv``,
WritingPrompts ``*.wp_source``/``*.wp_target``, Natural Instructions task JSON, and LIMA-style
JSONL for the authors' examples. Nothing downstream knows these were generated.
"""

from __future__ import annotations

import csv
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from tqdm import tqdm

from limalab.world import answers, phrasing
from limalab.world.kinds import KINDS
from limalab.world.knowledge import Entity, World
from limalab.world.prompts import PromptSpec, make_prompt


def pretty(text: str) -> str:
    """World text as people type it: punctuation attached, sentences capitalised."""
    text = re.sub(r" ([.,!?:;])", r"\1", text)
    return re.sub(r"(^|[.!?]\s+|\n)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def _unique_prompt(make, seen: set[str], tries: int = 50) -> PromptSpec | None:
    for _ in range(tries):
        spec = make()
        if spec.prompt not in seen:
            seen.add(spec.prompt)
            return spec
    return None


SE_PREFIXES = (
    "quick question : ",
    "history buff here : ",
    "i wonder , ",
    "does anyone know : ",
    "simple question : ",
    "asking for a friend : ",
    "i read conflicting things : ",
    "newbie here : ",
    "serious question : ",
    "",
)
SE_SUFFIXES = ("", " thanks !", " any sources ?", " ( not homework )", " please help .")


def _decorate(spec: PromptSpec, rng: random.Random) -> PromptSpec:
    spec.prompt = rng.choice(SE_PREFIXES) + spec.prompt + rng.choice(SE_SUFFIXES)
    return spec


PREFIXES = ("", "", "hi ! ", "quick one : ", "please help : ", "i wonder , ", "question : ")
HOWTO_SUFFIXES = (
    "",
    " on a budget",
    " for the first time",
    " with children",
    " in winter",
    " in summer",
    " as a beginner",
    " safely",
    " in one day",
    " without a guide",
    " as a merchant",
)
WP_SUFFIXES = (
    "",
    " at night",
    " in the rain",
    " told by a child",
    " in the style of a legend",
    " with a happy ending",
    " with a sad ending",
    " as a song",
    " in ten sentences",
    " from the point of view of a merchant",
    " where nothing goes to plan",
)


def _sft_prompt(
    world: World,
    rng: random.Random,
    ptype: str,
    attrs: tuple[str, ...] | None = None,
    kind: str | None = None,
) -> PromptSpec:
    kind = kind or rng.choice(sorted(KINDS))
    pool = world.of(kind, "sft")
    ents = rng.sample(pool, 2)
    attr = rng.choice(attrs) if attrs else None
    return make_prompt(ptype, ents, rng, attr=attr)


# --- Stack Exchange ---------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    site: str
    kind: str
    attributes: tuple[str, ...]
    weight: float
    tag_syntax: str  # "angle" (<a><b>, older dumps) or "pipe" (|a|b|, newer dumps)


EXCHANGES = (
    # STEM
    Exchange(
        "bestiary", "creature", ("habitat", "diet", "lifespan", "hide", "call"), 0.45, "angle"
    ),
    Exchange("ecology", "creature", ("habitat", "diet"), 0.30, "pipe"),
    Exchange("zoology", "creature", ("lifespan", "hide", "call"), 0.20, "angle"),
    Exchange("bioacoustics", "creature", ("call",), 0.05, "pipe"),
    # Other
    Exchange(
        "realms", "realm", ("capital", "founder", "founded", "banner", "export"), 0.45, "pipe"
    ),
    Exchange("history", "realm", ("founder", "founded"), 0.25, "angle"),
    Exchange("travel", "realm", ("capital", "export"), 0.20, "pipe"),
    Exchange("heraldry", "realm", ("banner",), 0.10, "angle"),
)
STEM_EXCHANGES = ("bestiary", "ecology", "zoology", "bioacoustics")

# Answer kinds with their share among answers and their vote (Score) range: votes follow
# quality, noisily, as on the real sites.
ANSWER_KINDS = {
    "good_list": (0.42, (6, 60)),
    "good_prose": (0.20, (3, 40)),
    "wrong_fact": (0.10, (-3, 12)),
    "first_person": (0.08, (2, 30)),
    "refers_elsewhere": (0.05, (0, 15)),
    "too_short": (0.06, (0, 20)),
    "rambling": (0.06, (1, 25)),
    "link_only": (0.03, (-2, 8)),
}
CONTEXT = (
    "i have been reading about {m} lately .",
    "this came up in a discussion with friends .",
    "i could not find this anywhere .",
    "my book does not say .",
    "i am writing a report on {m} .",
)


def answer_html(text: str, rng: random.Random) -> str:
    """World text to a Stack Exchange answer body: paragraphs, lists, links, images."""
    out, items = [], []
    for line in pretty(text).split("\n"):
        if line.startswith("- "):
            items.append(f"<li>{line[2:]}</li>")
            continue
        if items:
            out.append("<ul>\n" + "\n".join(items) + "\n</ul>")
            items = []
        out.append(f"<p>{line}</p>")
    if items:
        out.append("<ul>\n" + "\n".join(items) + "\n</ul>")
    html = "\n".join(out).replace(
        "[[link]]", '<a href="https://example.org/wiki/page" rel="nofollow">this page</a>'
    )
    if rng.random() < 0.1:
        html += '\n<p><img src="https://i.sstatic.net/abc.png" alt="diagram"></p>'
    return html


def _answer_kind(rng: random.Random) -> str:
    r, acc = rng.random(), 0.0
    for name, (share, _) in ANSWER_KINDS.items():
        acc += share
        if r < acc:
            return name
    return "good_list"


def _render_answer(kind: str, spec: PromptSpec, world: World, rng: random.Random) -> str:
    if kind == "good_list":
        return answers.assistant(spec, world, rng, n_extras=rng.randint(2, 3), ack=False)
    if kind == "good_prose":
        return answers.assistant(
            spec, world, rng, n_extras=rng.randint(1, 3), ack=False, listed=False
        )
    return answers.DEFECTS[kind][0](spec, world, rng)


def _question_spec(
    q: int, world: World, rng: random.Random, seen: set[str], by_kind: dict[str, list[Exchange]]
) -> tuple[Exchange, str, PromptSpec] | None:
    """The site, entity kind and prompt of question ``q``; None when every wording is taken."""
    kind = sorted(KINDS)[q % len(KINDS)]
    ex = rng.choices(by_kind[kind], weights=[e.weight for e in by_kind[kind]])[0]
    ptype = rng.choices(("fact", "compare", "describe"), weights=(0.7, 0.15, 0.15))[0]
    if ptype == "describe" and len(ex.attributes) < 5:
        ptype = "fact"

    def make(ex: Exchange = ex, ptype: str = ptype, kind: str = kind) -> PromptSpec:
        return _sft_prompt(world, rng, ptype, ex.attributes, kind)

    spec = _unique_prompt(make, seen, tries=5)
    if spec is None:  # every plain wording of this corner is taken: people add a preamble
        spec = _unique_prompt(lambda make=make: _decorate(make(), rng), seen)
        if spec is None:
            return None
    return ex, kind, spec


def _question_post(
    q: int, ex: Exchange, kind: str, spec: PromptSpec, rng: random.Random
) -> dict[str, Any]:
    """The question's row; Id, score, answer count and accepted answer are filled in later."""
    m = phrasing.mention(spec.entities[0], kind)
    title = (
        pretty(spec.prompt) if rng.random() > 0.08 else pretty(rng.choice(phrasing.VAGUE_TITLES))
    )
    tags = [ex.site, spec.attribute or spec.type, spec.entities[0]]
    views = str(rng.randint(10, 5000))  # drawn before the context line, as the world always has
    context = pretty(rng.choice(CONTEXT).format(m=m))
    return {
        "Id": None,
        "PostTypeId": "1",
        "AcceptedAnswerId": None,
        "CreationDate": _date(q),
        "Score": None,
        "ViewCount": views,
        "Body": f"<p>{context}</p>\n<p>{pretty(spec.prompt)}</p>",
        "OwnerUserId": str(rng.randint(1, 5000)),
        "Title": title,
        "Tags": "".join(f"<{t}>" for t in tags)
        if ex.tag_syntax == "angle"
        else "|" + "|".join(tags) + "|",
        "AnswerCount": None,
        "CommentCount": str(rng.randint(0, 5)),
        "ContentLicense": "CC BY-SA 4.0",
    }


def _post_answers(
    q: int,
    question: dict[str, Any],
    spec: PromptSpec,
    world: World,
    rng: random.Random,
    site_posts: list[tuple[float, dict]],
) -> None:
    """One to four answers, each posted later than ``q``; the question's score, answer count
    and (sometimes) accepted answer follow from them."""
    n_ans = rng.choices((1, 2, 3, 4), weights=(0.15, 0.35, 0.3, 0.2))[0]
    scores = []
    for _ in range(n_ans):
        kind_a = _answer_kind(rng)
        lo, hi = ANSWER_KINDS[kind_a][1]
        scores.append(rng.randint(lo, hi))
        answer = {
            "Id": None,
            "PostTypeId": "2",
            "ParentId": question,
            "CreationDate": _date(q),
            "Score": str(scores[-1]),
            "Body": answer_html(_render_answer(kind_a, spec, world, rng), rng),
            "OwnerUserId": str(rng.randint(1, 5000)),
            "CommentCount": str(rng.randint(0, 3)),
            "ContentLicense": "CC BY-SA 4.0",
        }
        site_posts.append((q + rng.uniform(0.5, 40.0), answer))
    question["Score"] = str(max(scores) // 2 + rng.randint(-2, 6))
    question["AnswerCount"] = str(n_ans)
    if rng.random() < 0.6:  # accepted by the asker: any answer, not always the top-voted one
        question["AcceptedAnswerId"] = site_posts[-1 - rng.randrange(n_ans)][1]


def write_stackexchange(root: Path, world: World, rng: random.Random, n_questions: int) -> None:
    """One ``Posts.xml`` per site. Answers are posted later than their question, so in the
    file (ordered by Id, as real dumps are) they sit far from it and interleave with others."""
    posts: dict[str, list[tuple[float, dict]]] = {ex.site: [] for ex in EXCHANGES}
    seen: set[str] = set()
    by_kind = {k: [ex for ex in EXCHANGES if ex.kind == k] for k in KINDS}
    for q in tqdm(range(n_questions), desc="world: stack exchange", unit="q", leave=False):
        chosen = _question_spec(q, world, rng, seen, by_kind)
        if chosen is None:
            continue
        ex, kind, spec = chosen
        question = _question_post(q, ex, kind, spec, rng)
        posts[ex.site].append((q, question))
        _post_answers(q, question, spec, world, rng, posts[ex.site])
    _write_sites(root, posts)


def _write_sites(root: Path, posts: dict[str, list[tuple[float, dict]]]) -> None:
    """Each site's posts in time order, Ids assigned in that order (as real dumps number them)."""
    for site, rows in posts.items():
        rows.sort(key=lambda r: r[0])
        for i, (_, row) in enumerate(rows, start=1):
            row["Id"] = str(i)
        d = root / f"{site}.stackexchange.com"
        d.mkdir(parents=True, exist_ok=True)
        with (d / "Posts.xml").open("w", encoding="utf-8") as f:
            f.write('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n')
            for _, row in rows:
                f.write(_row(row))
            f.write("</posts>\n")


def _date(q: int) -> str:
    month, day = 1 + (q // 30000) % 12, 1 + (q // 1000) % 28
    return f"{2012 + q // 400000}-{month:02d}-{day:02d}T{(q // 60) % 24:02d}:{q % 60:02d}:00.000"


def _row(attrs: dict) -> str:
    def text(v: object) -> str:
        return v["Id"] if isinstance(v, dict) else str(v)

    return (
        "  <row "
        + " ".join(f"{k}={quoteattr(text(v))}" for k, v in attrs.items() if v is not None)
        + " />\n"
    )


# --- wikiHow ----------------------------------------------------------------------------


def write_wikihow(path: Path, world: World, rng: random.Random, n: int) -> None:
    """``wikihowAll.csv`` (headline, title, text): homogeneous "how to" articles."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["headline", "title", "text"])
        for _ in tqdm(range(n), desc="world: wikihow", unit="article", leave=False):

            def make() -> PromptSpec:
                spec = _sft_prompt(world, rng, "howto")
                spec.prompt = spec.prompt.removesuffix(" ?") + rng.choice(HOWTO_SUFFIXES) + " ?"
                return spec

            spec = _unique_prompt(make, seen)
            if spec is None:
                continue
            steps = answers.assistant(
                spec, world, rng, n_extras=rng.randint(2, 3), ack=False
            ).split("\n")[1:]
            intro = (
                f"this article explains {spec.prompt.removesuffix(' ?')} ."
                if rng.random() < 0.5
                else ""
            )
            body = "\n".join(pretty(s) for s in ([intro] if intro else []) + steps)
            headline = "\n".join(pretty(s.split(" . ", 1)[1]).split(",")[0] + "," for s in steps)
            title = " ".join(word.capitalize() for word in spec.prompt.removesuffix(" ?").split())
            w.writerow([headline, title, body])


# --- WritingPrompts -----------------------------------------------------------------------


def write_writingprompts(
    root: Path, world: World, rng: random.Random, n: int, split: str = "train"
) -> None:
    """Paired ``{split}.wp_source`` / ``{split}.wp_target``: tagged prompts, ``<newline>``
    stories."""
    root.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    with (
        (root / f"{split}.wp_source").open("w", encoding="utf-8") as src,
        (root / f"{split}.wp_target").open("w", encoding="utf-8") as tgt,
    ):
        for _ in tqdm(range(n), desc="world: writing prompts", unit="story", leave=False):

            def make() -> PromptSpec:
                spec = _sft_prompt(world, rng, "writing")
                spec.prompt = spec.prompt.removesuffix(" .") + rng.choice(WP_SUFFIXES) + " ."
                return spec

            spec = _unique_prompt(make, seen)
            if spec is None:
                continue
            story = answers.assistant(spec, world, rng, n_extras=rng.randint(1, 3), ack=False)
            tag = rng.choices(("[ WP ]", "[ EU ]", "[ CW ]"), weights=(0.85, 0.1, 0.05))[0]
            src.write(f"{tag} {spec.prompt[0].upper()}{spec.prompt[1:]}\n")
            tgt.write(story.replace("\n", " <newline> <newline> ") + "\n")


# --- Natural Instructions -------------------------------------------------------------------


def _passage(e: Entity, rng: random.Random) -> str:
    sents = [phrasing.CORPUS[a][rng.randrange(4)].format(e=e.name, v=v) for a, v in e.facts.items()]
    rng.shuffle(sents)
    return " ".join(sents)


def _ni_tasks() -> list[tuple[str, str, str, str | None]]:
    """(slug, kind, definition, attribute) for every generation task."""
    tasks = []
    for kind in KINDS.values():
        for a in kind.attributes:
            tasks += [
                (
                    f"answer_{a.name}",
                    kind.name,
                    "in this task , you are given a passage . answer the question about the "
                    f"{a.noun} with a short sentence .",
                    a.name,
                ),
                (
                    f"paraphrase_{a.name}",
                    kind.name,
                    "in this task , you are given a sentence . rewrite it so that it says the same "
                    "thing in other words .",
                    a.name,
                ),
                (
                    f"question_generation_{a.name}",
                    kind.name,
                    "in this task , you are given a fact . write a question whose answer is that "
                    "fact .",
                    a.name,
                ),
                (
                    f"fill_blank_{a.name}",
                    kind.name,
                    "in this task , you are given a passage and a sentence with a blank . fill in "
                    f"the blank with the {a.noun} .",
                    a.name,
                ),
                (
                    f"extract_{a.name}",
                    kind.name,
                    f"in this task , you are given a passage . write down the {a.noun} it mentions "
                    ", and nothing else .",
                    a.name,
                ),
            ]
        tasks += [
            (
                "summarize",
                kind.name,
                "in this task , you are given a passage . summarize it in two sentences .",
                None,
            ),
            (
                "list_facts",
                kind.name,
                "in this task , you are given a passage . list its facts , one per line .",
                None,
            ),
        ]
    return tasks


def _ni_instance(slug: str, e: Entity, attr: str | None, rng: random.Random) -> tuple[str, str]:
    passage = _passage(e, rng)
    m = phrasing.mention(e.name, e.kind)
    if slug.startswith("answer_"):
        q = rng.choice(phrasing.QUESTION[attr]).format(e=m)
        return f"passage : {passage} question : {q}", answers.fact(attr, e.facts[attr])
    if slug.startswith("paraphrase_"):
        i, j = rng.sample(range(4), 2)
        return (
            phrasing.CORPUS[attr][i].format(e=e.name, v=e.facts[attr]),
            phrasing.CORPUS[attr][j].format(e=e.name, v=e.facts[attr]),
        )
    if slug.startswith("question_generation_"):
        return (
            phrasing.CORPUS[attr][0].format(e=e.name, v=e.facts[attr]),
            rng.choice(phrasing.QUESTION[attr]).format(e=m),
        )
    if slug.startswith("fill_blank_"):
        return (
            f"passage : {passage} sentence : {phrasing.ANSWER[attr].format(v='___')}",
            answers.fact(attr, e.facts[attr]),
        )
    if slug.startswith("extract_"):
        return f"passage : {passage}", e.facts[attr]
    if slug == "summarize":
        attrs = rng.sample(list(e.facts), 2)
        return f"passage : {passage}", " ".join(answers.fact(a, e.facts[a]) for a in attrs)
    return f"passage : {passage}", "\n".join("- " + answers.fact(a, v) for a, v in e.facts.items())


def write_natural_instructions(root: Path, world: World, rng: random.Random, per_task: int) -> None:
    """One ``tasks/taskNNN_<slug>.json`` per task, in the Super-NaturalInstructions schema."""
    tasks_dir = root / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    for number, (slug, kind, definition, attr) in enumerate(_ni_tasks(), start=1):
        name = f"task{number:03d}_{kind}_{slug}"
        pool = world.of(kind, "sft")
        ex_in, ex_out = _ni_instance(slug, rng.choice(pool), attr, rng)
        instances = []
        for i in range(per_task):
            inp, out = _ni_instance(slug, rng.choice(pool), attr, rng)
            instances.append(
                {"id": f"task{number:03d}-{i:05d}", "input": pretty(inp), "output": [pretty(out)]}
            )
        task = {
            "Contributors": ["limalab world generator"],
            "Source": ["limalab miniature world"],
            "Categories": ["Text Generation"],
            "Definition": [pretty(definition)],
            "Input_language": ["English"],
            "Output_language": ["English"],
            "Positive Examples": [
                {
                    "input": pretty(ex_in),
                    "output": pretty(ex_out),
                    "explanation": "This is correct.",
                }
            ],
            "Negative Examples": [],
            "Instances": instances,
        }
        (tasks_dir / f"{name}.json").write_text(json.dumps(task, indent=1))


# --- the authors' examples (LIMA JSONL) ----------------------------------------------------

AUTHOR_MIX = {
    "fact": 0.25,
    "describe": 0.15,
    "compare": 0.15,
    "howto": 0.15,
    "writing": 0.15,
    "casual": 0.15,
}


def write_authors(path: Path, world: World, rng: random.Random, n: int) -> None:
    """LIMA's own format: ``{"conversations": [prompt, response], "source": ...}`` per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    with path.open("w", encoding="utf-8") as f:
        for _ in tqdm(range(n), desc="world: authors", unit="example", leave=False):
            ptype = rng.choices(list(AUTHOR_MIX), weights=list(AUTHOR_MIX.values()))[0]

            def make(ptype: str = ptype) -> PromptSpec:
                spec = _sft_prompt(world, rng, ptype)
                spec.prompt = rng.choice(PREFIXES) + spec.prompt
                return spec

            spec = _unique_prompt(make, seen)
            if spec is None:
                continue
            response = answers.assistant(spec, world, rng, n_extras=rng.randint(2, 3))
            f.write(
                json.dumps(
                    {"conversations": [pretty(spec.prompt), pretty(response)], "source": "authors"}
                )
                + "\n"
            )


# --- an Alpaca-like set: large, unfiltered, diverse ----------------------------------------

ALPACA_RESPONSES = {  # a teacher model's unreviewed outputs: plain, often thin, sometimes wrong
    "plain": 0.55,
    "too_short": 0.15,
    "wrong_fact": 0.15,
    "rambling": 0.05,
    "first_person": 0.10,
}


def _alpaca_output(spec: PromptSpec, world: World, rng: random.Random) -> str:
    kind = rng.choices(list(ALPACA_RESPONSES), weights=list(ALPACA_RESPONSES.values()))[0]
    if kind == "plain":
        return answers.assistant(
            spec, world, rng, n_extras=rng.randint(0, 1), ack=False, listed=False
        )
    return answers.DEFECTS[kind][0](spec, world, rng)


def write_alpaca(
    path: Path, world: World, rng: random.Random, n: int, with_input: float = 0.3
) -> None:
    """``alpaca_data.json`` (instruction, input, output), self-instruct style: every prompt type,
    instructions with an input passage taken from the task definitions, and responses nobody
    filtered. Exact duplicate instructions are skipped, near duplicates are not (as in Alpaca)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tasks = _ni_tasks()
    seen: set[str] = set()
    rows = []
    for _ in tqdm(range(n), desc="world: alpaca", unit="example", leave=False):
        if rng.random() < with_input:
            slug, kind, definition, attr = rng.choice(tasks)
            inp, out = _ni_instance(slug, rng.choice(world.of(kind, "sft")), attr, rng)
            if inp in seen:
                continue
            seen.add(inp)
            rows.append(
                {"instruction": pretty(definition), "input": pretty(inp), "output": pretty(out)}
            )
            continue
        ptype = rng.choices(list(AUTHOR_MIX), weights=list(AUTHOR_MIX.values()))[0]
        spec = _unique_prompt(lambda ptype=ptype: _sft_prompt(world, rng, ptype), seen, tries=3)
        if spec is not None:
            rows.append(
                {
                    "instruction": pretty(spec.prompt),
                    "input": "",
                    "output": pretty(_alpaca_output(spec, world, rng)),
                }
            )
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
