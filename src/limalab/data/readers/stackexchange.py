"""Stack Exchange data dumps: ``<site>/Posts.xml`` rows joined into question threads.

Real dumps are ordered by post Id, so an answer sits wherever it was posted, often far after
its question (and, after migrations, before it). The reader streams the file once with
``iterparse`` into a temporary SQLite index on disk, then yields each question with its
answers: memory stays bounded by one thread, not by the dump (a site's Posts.xml runs to
tens of GB).

A site keeps its full identity: the directory name less its domain (``biology`` for
``biology.stackexchange.com``, ``biology.meta`` for ``biology.meta.stackexchange.com``,
``meta.askubuntu`` for ``meta.askubuntu.com``). Meta sites (discussion about the site itself)
join a pool only when named in ``exchanges`` or with ``include_meta: true``; two directories
with the same identity are an error, never one overwriting the other.

A file that is not a dump is a BadRecord naming it, under either bad-record policy: a root
element other than ``<posts>``, no ``<row>`` at all, a Git LFS pointer, malformed XML.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from tqdm import tqdm

from limalab.config.schema import PluginOptions
from limalab.data.example import BadRecord, BadRecords, Example, refuse_lfs_pointer
from limalab.data.filters import Candidate, apply_steps, with_overrides
from limalab.data.sources import READERS, Source, temperature_order


@dataclass
class Answer:
    id: str
    score: int
    body: str


@dataclass
class Thread:
    site: str  # the exchange, from the directory name ("biology" for biology.stackexchange.com)
    id: str
    title: str
    body: str
    score: int
    tags: list[str]
    accepted_id: str | None
    answers: list[Answer] = field(default_factory=list)


DOMAINS = (".stackexchange.com", ".com", ".net")


def site_name(site_dir: Path) -> str:
    """The site's identity: its directory name less the domain (``*.stackexchange.com``,
    ``*.com``, ``*.net``), so ``biology`` and ``biology.meta`` stay apart."""
    name = site_dir.name
    for suffix in DOMAINS:
        if name.endswith(suffix) and name != suffix.lstrip("."):
            return name.removesuffix(suffix)
    return name


def is_meta(site: str) -> bool:
    return "meta" in site.split(".")


def parse_tags(tags: str) -> list[str]:
    """Both syntaxes real dumps use: ``<a><b>`` (older) and ``|a|b|`` (newer)."""
    if tags.startswith("<"):
        return re.findall(r"<([^>]+)>", tags)
    return [t for t in tags.split("|") if t]


def site_dirs(root: str | Path) -> list[Path]:
    """Every directory under ``root`` (or ``root`` itself) holding a ``Posts.xml``."""
    root = Path(root)
    if (root / "Posts.xml").exists():
        return [root]
    found = sorted(p.parent for p in root.glob("*/Posts.xml"))
    if not found:
        raise FileNotFoundError(f"{root}: no Posts.xml in it or in its subdirectories")
    return found


SCHEMA = """
CREATE TABLE q (
    id INTEGER PRIMARY KEY, score INTEGER, title TEXT, body TEXT, tags TEXT, accepted TEXT
);
CREATE TABLE a (id INTEGER PRIMARY KEY, parent INTEGER, score INTEGER, body TEXT);
"""


def _dump_root(el: ET.Element, path: Path) -> ET.Element:
    """The document element, if it is a dump's: a file of another kind saved as Posts.xml (a
    blog export, a feed) would otherwise read as a site with no posts."""
    if el.tag != "posts":
        raise BadRecord(
            f"{path}: root element <{el.tag}>; expected <posts> (a Stack Exchange dump's Posts.xml)"
        )
    return el


def _question_row(a: dict[str, str]) -> tuple:
    return (
        int(a["Id"]),
        int(a.get("Score", 0)),
        a.get("Title", ""),
        a.get("Body", ""),
        a.get("Tags", ""),
        a.get("AcceptedAnswerId"),
    )


def _answer_row(a: dict[str, str]) -> tuple:
    return (int(a["Id"]), int(a["ParentId"]), int(a.get("Score", 0)), a.get("Body", ""))


def _post_attributes(path: Path) -> Iterator[dict[str, str]]:
    """Each ``<row>``'s attributes, streamed: the parsed tree is cleared as it goes. A file that
    is not a readable dump is a BadRecord naming it."""
    root = None
    try:
        for event, el in ET.iterparse(path, events=("start", "end")):
            if root is None:
                root = _dump_root(el, path)
            if event != "end" or el.tag != "row":
                continue
            yield el.attrib
            root.clear()  # drop finished rows, or the tree grows with the file
    except BadRecord:
        raise
    except ET.ParseError as e:
        raise BadRecord(
            f"{path}: line {e.position[0]}, column {e.position[1]}: malformed XML ({e})"
        ) from e
    except (LookupError, ValueError, UnicodeError) as e:  # an encoding expat cannot read
        raise BadRecord(
            f"{path}: unreadable XML declaration or encoding ({e}); expected UTF-8"
        ) from e


def _index(path: Path, db: sqlite3.Connection, bad: BadRecords, batch: int = 5000) -> None:
    """Stream the posts into the index, ``batch`` rows at a time."""
    qs: list[tuple] = []
    ans: list[tuple] = []

    def flush() -> None:
        db.executemany("INSERT OR REPLACE INTO q VALUES (?,?,?,?,?,?)", qs)
        db.executemany("INSERT OR REPLACE INTO a VALUES (?,?,?,?)", ans)
        qs.clear()
        ans.clear()

    refuse_lfs_pointer(path)
    rows = 0
    for a in _post_attributes(path):
        rows += 1
        try:
            if a["PostTypeId"] == "1":
                qs.append(_question_row(a))
            elif a["PostTypeId"] == "2":
                ans.append(_answer_row(a))
        except (KeyError, ValueError) as e:
            bad(
                f"{path}: post {a.get('Id', '?')}: bad or missing attribute ({e}); "
                "expected Id, PostTypeId, ParentId (answers) as integers"
            )
        if len(qs) + len(ans) >= batch:
            flush()
    if not rows:
        raise BadRecord(
            f"{path}: no <row> elements; expected a Stack Exchange dump's Posts.xml, "
            "one <row> per post"
        )
    flush()
    db.execute("CREATE INDEX a_parent ON a (parent, id)")
    db.commit()


def read_threads(
    site_dir: str | Path,
    bad: BadRecords | None = None,
    by_score: bool = False,
    workdir: str | Path | None = None,
) -> Iterator[Thread]:
    """Every question of one site with its answers (in Id order), in question Id order, or
    by score (highest first, then Id) with ``by_score``. Answers whose question is not in the
    dump (deleted, migrated) are dropped, as the site drops them."""
    site_dir = Path(site_dir)
    path = site_dir / "Posts.xml"
    site = site_name(site_dir)
    bad = bad or BadRecords()
    with tempfile.TemporaryDirectory(prefix="limalab-se-", dir=workdir) as tmp:
        db = sqlite3.connect(Path(tmp) / "posts.sqlite")
        try:
            db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA)
            _index(path, db, bad)
            order = "score DESC, id" if by_score else "id"
            questions = db.execute(
                f"SELECT id, score, title, body, tags, accepted FROM q ORDER BY {order}"
            )
            for qid, score, title, body, tags, accepted in questions:
                answers = [
                    Answer(str(i), s, b)
                    for i, s, b in db.execute(
                        "SELECT id, score, body FROM a WHERE parent = ? ORDER BY id", (qid,)
                    )
                ]
                yield Thread(
                    site, str(qid), title, body, score, parse_tags(tags), accepted, answers
                )
        finally:
            db.close()


def _site_pool(src: Source, site_dir: Path, steps: list[dict]) -> list[Example]:
    """One site's filtered pairs, best questions first."""
    site = site_name(site_dir)
    threads = read_threads(site_dir, src.bad, by_score=True)  # apply_steps counts them in
    kept = apply_steps(
        (Candidate(t) for t in threads), steps, src.stats, src.seed, src.key("filters")
    )
    return [
        Example(
            f"se:{site}:q{c.thread.id}:a{c.answer.id}",
            src.name,
            [c.prompt, c.response],
            {"exchange": site, "question_score": c.thread.score, "answer_score": c.answer.score},
        )
        for c in kept
    ]


class StackExchangeOptions(PluginOptions):
    exchanges: list[str] | None = None  # the sites to read (every non-meta site found when unset)
    include_meta: bool = False  # with exchanges unset: read the X.meta sites too
    temperature: Annotated[float, Field(gt=0)] = 3.0  # sites drawn with p ∝ size^(1/temperature)
    filters: list[dict[str, Any]] = []  # the paper's filter steps (conf/filters/se_paper.yaml)


def selected_sites(src: Source) -> dict[str, Path]:
    """The sites this source reads: ``exchanges`` (every non-meta site found when unset)."""
    wanted = src.opt.exchanges
    found: dict[str, Path] = {}
    for d in site_dirs(src.path):
        site = site_name(d)
        if site in found:
            raise ValueError(
                f"{src.key('path')}: {found[site]} and {d} are both the site {site!r}; "
                "keep one (a pool name must not be shared)"
            )
        found[site] = d
    if wanted is None:
        meta = src.opt.include_meta or (Path(src.path) / "Posts.xml").exists()  # one site named
        chosen = {s: d for s, d in found.items() if meta or not is_meta(s)}
        if not chosen:
            raise FileNotFoundError(
                f"{src.key('path')}: only meta sites under {src.path} ({sorted(found)}); name them "
                f"in {src.key('exchanges')} or set {src.key('include_meta')}=true"
            )
        return chosen
    if missing := sorted(set(wanted) - set(found)):
        raise FileNotFoundError(
            f"{src.key('exchanges')}: no dump for {missing} under {src.path} (found "
            f"{sorted(found)})"
        )
    return {s: found[s] for s in wanted}


@READERS.register("stackexchange", options=StackExchangeOptions)
def stackexchange_pool(src: Source) -> list[Example]:
    """Filtered pairs per exchange, best questions first; exchanges drawn with temperature.
    A question is a row in; a question whose prompt and answer pass every filter is kept."""
    steps = with_overrides(list(src.opt.filters), src.cfg.get("filter_overrides"))
    per_site = {
        site: _site_pool(src, d, steps)
        for site, d in tqdm(
            selected_sites(src).items(), desc=f"read {src.name}", unit="site", leave=False
        )
    }
    return temperature_order(per_site, src.opt.temperature, src.seed)
