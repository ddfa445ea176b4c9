"""Stack Exchange data dumps: ``<site>/Posts.xml`` rows joined into question threads."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from limalab.data.example import BadRecord


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


def site_name(site_dir: Path) -> str:
    return site_dir.name.split(".stackexchange.com")[0].split(".")[0]


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


def read_threads(site_dir: str | Path) -> Iterator[Thread]:
    """Stream ``Posts.xml`` once; answers may come anywhere after (or before) their question."""
    site_dir = Path(site_dir)
    path = site_dir / "Posts.xml"
    site = site_name(site_dir)
    threads: dict[str, Thread] = {}
    orphans: dict[str, list[Answer]] = {}
    try:
        for _, el in ET.iterparse(path, events=("end",)):
            if el.tag != "row":
                continue
            a = el.attrib
            try:
                kind, pid = a["PostTypeId"], a["Id"]
                if kind == "1":
                    t = Thread(site, pid, a.get("Title", ""), a.get("Body", ""), int(a.get("Score", 0)),
                               parse_tags(a.get("Tags", "")), a.get("AcceptedAnswerId"))
                    t.answers.extend(orphans.pop(pid, []))
                    threads[pid] = t
                elif kind == "2":
                    ans = Answer(pid, int(a.get("Score", 0)), a.get("Body", ""))
                    parent = a["ParentId"]
                    if parent in threads:
                        threads[parent].answers.append(ans)
                    else:
                        orphans.setdefault(parent, []).append(ans)
            except (KeyError, ValueError) as e:
                raise BadRecord(f"{path}: post {a.get('Id', '?')}: bad or missing attribute ({e})") from e
            el.clear()
    except ET.ParseError as e:
        raise BadRecord(f"{path}: line {e.position[0]}: malformed XML ({e})") from e
    yield from threads.values()
