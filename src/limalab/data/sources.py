"""Turn one configured source into its pool: examples in a fixed, seeded order.

A reader is a plugin: one module per source format holds its parser and its pool (registered
here by name, ``data.sources.<name>.reader``), so adding a reader is its module plus its config
file. A user's own reader is a module listed in the config's ``plugins:``::

    from limalab.data.sources import READERS, Source

    @READERS.register("my_format")
    def my_pool(src: Source) -> list[Example]:
        return src.shuffled([Example(...) for rec in src.count(read(src.path, src.bad))])

A subset of size N is the first N of that order, so for one ``subset_seed`` the subset of size
N is contained in the subset of size 2N (nested), and the order is what the mix draws from.

Nothing is lost silently: every source accounts for its rows. ``rows in`` (records the reader
met: those it yielded through ``Source.count`` plus the bad records it skipped) must equal
``kept`` plus every filter's and clean step's drops plus the bad records; ``check_accounting``
fails the run otherwise. An example's id is unique within its source (``check_unique_ids``).
"""

from __future__ import annotations

import pkgutil
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from limalab.config.schema import Source as SourceConfig
from limalab.config.validate import attach, check_plugin_node, plugin_options
from limalab.data.example import BadRecords, Example
from limalab.registry import Registry

T = TypeVar("T")


def _builtin_readers() -> list[str]:
    """Every module of ``limalab.data.readers``: a new built-in reader is one module there."""
    import limalab.data.readers as package  # its __init__ imports nothing

    return [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]


READERS: Registry[Callable[[Source], list[Example]]] = Registry(
    "reader", "data.sources.<name>.reader", _builtin_readers()
)
COMMON = set(SourceConfig.model_fields) | {"name", "filter_overrides"}  # not a reader's own options


def check_sources(cfg: dict[str, Any]) -> None:
    """Every source's reader exists and its keys are the reader's declared options."""
    for name, node in (cfg.get("data", {}).get("sources") or {}).items():
        key = f"data.sources.{name}"
        READERS.get(node.get("reader"), f"{key}.reader")
        model = READERS.options(node["reader"])
        check_plugin_node(node, key, [model] if model else [], COMMON)


attach(check_sources)
HUB = "hf:"  # a table on the Hugging Face hub: no local path to check
RESERVED = ("input", "bad_records", "kept")  # every other key of a source's stats is a drop count


@dataclass
class Source:
    """What a reader plugin gets: its config, its input, the seed, and the counters."""

    name: str
    cfg: dict[str, Any]
    path: Path | str
    seed: int
    bad: BadRecords
    stats: dict[str, int] = field(default_factory=dict)
    _ids: set[str] = field(default_factory=set, repr=False)

    @cached_property
    def opt(self) -> Any:
        """The reader's options (its declared ``PluginOptions``), validated, defaults filled."""
        model = READERS.options(self.cfg["reader"])
        given = {k: v for k, v in self.cfg.items() if k not in COMMON}
        return plugin_options(model, given, f"data.sources.{self.name}") if model else None

    def key(self, option: str) -> str:
        """The config key of one of this source's options, for error messages."""
        return f"data.sources.{self.name}.{option}"

    def count(self, records: Iterable[T]) -> Iterator[T]:
        """Pass the reader's records through, counting each as a row in."""
        self.stats.setdefault("input", 0)
        for rec in records:
            self.stats["input"] += 1
            yield rec

    def drop(self, step: str, n: int = 1) -> None:
        """``n`` rows dropped by ``step`` (a name the manifest shows). A ``select:`` step picks
        rows by design (a label, a per-task cap), so no warning says it drops too many."""
        self.stats[step] = self.stats.get(step, 0) + n

    def unique_id(self, base: str) -> str:
        """``base``, or ``base#2``, ``#3``, ... when an earlier record took it: an id a format
        does not make unique (a wikiHow title, a table's id column) made unique within the
        source, deterministically when the reader calls this in file order."""
        candidate, k = base, 1
        while candidate in self._ids:
            k += 1
            candidate = f"{base}#{k}"
        self._ids.add(candidate)
        return candidate

    def shuffled(self, examples: list[Example]) -> list[Example]:
        random.Random(f"{self.seed}/shuffle").shuffle(examples)
        return examples


def temperature_order(per_group: dict[str, list[Example]], tau: float, seed: int) -> list[Example]:
    """Draw groups with p ∝ size^(1/tau) (sizes of the full pools), then the group's next
    example; an exhausted group leaves the draw. tau = 1 is proportional, large tau uniform."""
    rng = random.Random(f"{seed}/temperature")
    weights = {g: len(xs) ** (1.0 / tau) for g, xs in per_group.items() if xs}
    cursors = dict.fromkeys(weights, 0)
    order = []
    while weights:
        groups = sorted(weights)
        g = rng.choices(groups, weights=[weights[x] for x in groups])[0]
        order.append(per_group[g][cursors[g]])
        cursors[g] += 1
        if cursors[g] == len(per_group[g]):
            del weights[g]
    return order


def source_pool(
    cfg: dict[str, Any], path: Path | str, seed: int, on_bad_record: str = "error"
) -> tuple[list[Example], dict[str, int]]:
    """The source's pool in its seeded order, and its counts: ``input``, each filter's drops,
    ``bad_records`` (skipped with ``data.on_bad_record=skip``) and ``kept``."""
    name = cfg["name"]
    reader = READERS.get(cfg.get("reader"), f"data.sources.{name}.reader")
    if not str(path).startswith(HUB) and not Path(path).exists():
        raise FileNotFoundError(f"data.sources.{name}.path: {path} does not exist")
    src = Source(
        name,
        cfg,
        path if str(path).startswith(HUB) else Path(path),
        seed,
        BadRecords(on_bad_record),
    )
    src.stats["input"] = 0
    pool = reader(src)
    check_unique_ids(name, pool)
    stats = src.stats
    stats["input"] += src.bad.count  # a bad record is a row in that could not be read
    stats["bad_records"] = src.bad.count
    stats["kept"] = len(pool)
    check_accounting(name, stats)
    return pool, stats


def check_unique_ids(name: str, pool: list[Example]) -> None:
    """An id names one example of a source: the manifest lists ids, the mix checks sources
    against each other by id, so two examples sharing one would be indistinguishable."""
    seen: set[str] = set()
    for ex in pool:
        if ex.id in seen:
            raise ValueError(
                f"data.sources.{name}: two examples have the id {ex.id!r}; a reader must give each "
                "record its own id (Source.unique_id makes a format's ids unique)"
            )
        seen.add(ex.id)


def check_accounting(name: str, stats: dict[str, int]) -> None:
    """rows in = kept + every step's drops + bad records, or the run stops."""
    drops = {k: v for k, v in stats.items() if k not in RESERVED}
    if stats.get("input", 0) != stats.get("kept", 0) + sum(drops.values()) + stats.get(
        "bad_records", 0
    ):
        raise ValueError(
            f"data.sources.{name}: rows do not add up: {stats.get('input', 0)} in != "
            f"{stats.get('kept', 0)} kept + drops {drops} + {stats.get('bad_records', 0)} bad "
            "records (a reader or step lost rows without counting them)"
        )


def accounting(stats: dict[str, int]) -> dict[str, Any]:
    """The manifest's view of a source's stats."""
    return {
        "rows_in": stats.get("input", 0),
        "kept": stats.get("kept", 0),
        "dropped": {k: v for k, v in stats.items() if k not in RESERVED},
        "bad_records": stats.get("bad_records", 0),
    }
