"""Sources as the mix sees them: plugins from the config, accounting, pool names, the
miniature's scaled bounds, Natural Instructions per task, prompt files in LIMA's format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from limalab.data.clean import eval_texts
from limalab.data.mix import build_mix, needs_world
from limalab.data.sources import READERS, check_accounting, source_pool

FIX = Path(__file__).parents[1] / "fixtures"
NO_CLEAN: list = []


def mix(sources: dict, **data) -> dict:
    return {"name": "t", "sources": sources, "clean": NO_CLEAN, **data}


def write_tsv(tmp_path: Path, rows: int = 4) -> Path:
    p = tmp_path / "rows.tsv"
    p.write_text("".join(f"question {i}?\tanswer {i}.\n" for i in range(rows)) + "no tab here\n")
    return p


def test_a_reader_from_the_test_tree_via_plugins(tmp_path: Path) -> None:
    p = write_tsv(tmp_path)
    cfg = mix({"mine": {"reader": "tsv", "path": str(p), "count": 3}}, on_bad_record="skip")
    examples, manifest = build_mix(
        cfg, None, tmp_path / "cache", plugins=["tests.plugins.tsv_reader"]
    )
    assert len(examples) == 3 and all(e.id.startswith("tsv:") for e in examples)
    assert manifest["accounting"]["mine"] == {
        "rows_in": 5,
        "kept": 4,
        "dropped": {},
        "bad_records": 1,
    }
    with pytest.raises(ValueError, match=r"^plugins: cannot import 'tests.plugins.nope'"):
        build_mix(cfg, None, tmp_path / "cache", plugins=["tests.plugins.nope"])


def test_unknown_reader_names_the_config_key(tmp_path: Path) -> None:
    cfg = mix({"mine": {"reader": "tsvv", "path": str(write_tsv(tmp_path)), "count": 1}})
    with pytest.raises(
        ValueError, match=r"^data.sources.mine.reader: unknown reader 'tsvv'; expected one of \["
    ):
        build_mix(cfg, None, tmp_path / "cache")
    assert "stackexchange" in READERS


def test_a_reader_that_loses_rows_fails_the_run(tmp_path: Path) -> None:
    import tests.plugins.tsv_reader  # noqa: F401  registers the readers

    cfg = {"name": "lossy", "reader": "tsv_losing_rows", "path": str(write_tsv(tmp_path))}
    with pytest.raises(ValueError, match=r"data.sources.lossy: rows do not add up: 5 in != 2 kept"):
        source_pool(cfg, cfg["path"], seed=0, on_bad_record="skip")
    check_accounting("ok", {"input": 5, "length": 2, "bad_records": 1, "kept": 2})


def test_ids_are_unique_within_a_source_in_file_order(tmp_path: Path) -> None:
    """wikiHow ids are titles and the release repeats some; a table's id column may repeat too."""
    article = (
        '"\r\nKnot it.,\r\nTighten it.","How to Tie a Tie"," This article shows one knot.\r\n'
        "Cross the wide end over the narrow end.\r\n"
        ",Wrap it around, then pull it through the loop.\r\n,"
        'Tighten {n}."\r\n'
    )
    csv = tmp_path / "wikihowAll.csv"
    csv.write_text(
        "\ufeffheadline,title,text\r\n"
        + article.format(n="slowly")
        + article.format(n="fast")
        + article.format(n="firmly").replace("Tie a Tie", "Boil an Egg"),
        encoding="utf-8",
        newline="",
    )
    pools = [source_pool({"name": "wikihow", "reader": "wikihow"}, csv, seed=s)[0] for s in (0, 1)]
    by_id = [{ex.id: ex.turns[1].split("Tighten ")[-1] for ex in pool} for pool in pools]
    assert (
        by_id[0]
        == by_id[1]
        == {
            "wikihow:How to Tie a Tie": "slowly.",
            "wikihow:How to Tie a Tie#2": "fast.",
            "wikihow:How to Boil an Egg": "firmly.",
        }
    )
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(
            json.dumps({"uid": u, "q": f"q{i}?", "a": f"a{i}."}) + "\n"
            for i, u in enumerate(["r1", "r2", "r1", "r1#2"])
        )
    )
    pool, _ = source_pool(
        {"name": "t", "reader": "table", "columns": {"prompt": "q", "response": "a", "id": "uid"}},
        rows,
        seed=0,
    )
    assert sorted((ex.id, ex.turns[0]) for ex in pool) == [
        ("t:r1", "q0?"),
        ("t:r1#2", "q2?"),
        ("t:r1#2#2", "q3?"),
        ("t:r2", "q1?"),
    ]


def test_a_reader_giving_two_examples_one_id_fails_the_run(tmp_path: Path) -> None:
    import tests.plugins.tsv_reader  # noqa: F401  registers the readers

    cfg = {"name": "same", "reader": "tsv_one_id", "path": str(write_tsv(tmp_path))}
    with pytest.raises(ValueError, match=r"data.sources.same: two examples have the id 'tsv'"):
        source_pool(cfg, cfg["path"], seed=0, on_bad_record="skip")


# --- Stack Exchange: meta sites, pool names, the paper's bounds and the miniature's --------------

SE_STEPS = [
    {"name": "title_self_contained"},
    {"name": "top_answer"},
    {"name": "min_score", "min": 10},
    {"name": "strip_html"},
    {"name": "length", "min_chars": 1200, "max_chars": 4096},
    {"name": "prompt_title_or_description"},
]


def se_source(**kw) -> dict:
    return {
        "reader": "stackexchange",
        "path": str(FIX / "se_dump"),
        "filters": SE_STEPS,
        "count": 1,
        **kw,
    }


def test_meta_sites_stay_out_unless_asked_and_every_row_is_accounted(tmp_path: Path) -> None:
    steps = [{**s, "min_chars": 10} if s["name"] == "length" else s for s in SE_STEPS]
    _, m = build_mix(mix({"se": se_source(filters=steps)}), None, tmp_path)
    assert m["pool_sizes"] == {"se": 2}  # woodwork only: its two answered, scored questions
    assert m["accounting"]["se"] == {
        "rows_in": 3,
        "kept": 2,
        "dropped": {
            "title_self_contained": 0,
            "top_answer": 1,
            "min_score": 0,
            "strip_html": 0,
            "length": 0,
            "prompt_title_or_description": 0,
        },
        "bad_records": 0,
    }
    _, m = build_mix(mix({"se": se_source(filters=steps, include_meta=True)}), None, tmp_path)
    assert m["pool_sizes"] == {"se": 3} and m["accounting"]["se"]["rows_in"] == 4
    _, m = build_mix(
        mix({"se": se_source(filters=steps, exchanges=["woodwork.meta"])}), None, tmp_path
    )
    assert [e for e in m["example_ids"]] == ["se:woodwork.meta:q1:a2"]
    one_site = str(
        FIX / "se_dump" / "woodwork.meta.stackexchange.com"
    )  # a meta site named by its own path
    _, m = build_mix(mix({"se": se_source(filters=steps, path=one_site)}), None, tmp_path)
    assert m["example_ids"] == ["se:woodwork.meta:q1:a2"]


def test_two_directories_of_one_site_are_an_error(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(FIX / "se_dump", tmp_path / "dump")
    shutil.copytree(FIX / "se_dump" / "woodwork.stackexchange.com", tmp_path / "dump" / "woodwork")
    with pytest.raises(ValueError, match=r"data.sources.se.path: .* are both the site 'woodwork'"):
        build_mix(mix({"se": se_source(path=str(tmp_path / "dump"))}), None, tmp_path / "cache")


def test_two_sources_drawing_the_same_rows_are_an_error(tmp_path: Path) -> None:
    steps = [{**s, "min_chars": 10} if s["name"] == "length" else s for s in SE_STEPS]
    cfg = mix({"a": se_source(filters=steps), "b": se_source(filters=steps)})
    with pytest.raises(
        ValueError,
        match=r"data.sources.b: example se:woodwork:q\d+:a\d+ is also drawn by data.sources.a",
    ):
        build_mix(cfg, None, tmp_path)


def test_paper_bounds_for_real_dumps_scaled_bounds_for_world_paths_only(tmp_path: Path) -> None:
    import shutil

    scaled = {"length": {"min_chars": 10, "max_chars": 4096}}
    real = mix({"se": {**se_source(), "count": None, "fraction": 1.0}}, world_filters=scaled)
    with pytest.raises(
        ValueError, match=r"no examples left"
    ):  # 1,200 characters: nothing in the fixture
        build_mix(real, None, tmp_path)
    world = tmp_path / "world"
    shutil.copytree(
        FIX / "se_dump" / "woodwork.stackexchange.com",
        world / "stackexchange" / "woodwork.stackexchange.com",
    )
    as_world = mix(
        {"se": {**se_source(path="world:stackexchange"), "count": None, "fraction": 1.0}},
        world_filters=scaled,
    )
    _, m = build_mix(as_world, world, tmp_path)
    assert m["pool_sizes"] == {"se": 2} and m["filter_stats"]["se"]["length"] == 0


def test_drop_warning_above_95_percent_not_for_selections() -> None:
    from limalab.data.mix import drop_warnings

    stats = {
        "input": 1001,
        "top_answer": 1,
        "length": 960,
        "select:labels": 30,
        "bad_records": 1,
        "kept": 9,
    }
    [w] = drop_warnings("se", stats)
    assert w.startswith(
        "data.sources.se: step 'length' dropped 960 of the 999 rows that reached it (96.1%)"
    )


def test_prepare_builds_no_world_for_real_sources_and_warns(tmp_path: Path) -> None:
    from limalab.config.compose import compose
    from limalab.pipeline.prepare_data import prepare_alone

    rows = tmp_path / "rows.tsv"
    rows.write_text("".join(f"question {i}?\tanswer {i}.\n" for i in range(100)))
    cfg = compose([f"runs_dir={tmp_path / 'runs'}", f"cache_dir={tmp_path / 'cache'}"])
    cfg |= {
        "plugins": ["tests.plugins.tsv_reader"],
        "data": cfg["data"]
        | mix(
            {
                "mine": {
                    "reader": "tsv",
                    "path": str(rows),
                    "count": 1,
                    "clean": [
                        {"name": "exact_dedup", "field": "response"},
                        {"name": "near_dedup", "field": "text", "threshold": 0.3, "shingle": 1},
                    ],
                }
            }
        ),
    }
    out = prepare_alone(cfg)
    manifest = json.loads((out / "manifest.json").read_text())
    assert not (tmp_path / "cache" / "worlds").exists()
    assert manifest["warnings"] and "step 'near_dedup' dropped 9" in manifest["warnings"][0]
    assert "**Warning:**" in (out / "preview.md").read_text()


# --- Natural Instructions: one per task, a larger count spread evenly ----------------------------


def test_natural_instructions_count_above_tasks(smoke_world: Path, cache_dir: Path) -> None:
    src = {"reader": "natural_instructions", "path": "world:natural_instructions", "count": 50}
    exs, m = build_mix(mix({"ni": src}), smoke_world, cache_dir)
    tasks = [e.meta["task"] for e in exs]
    assert len(set(tasks)) == 50  # the paper's rule: one example from each of 50 tasks
    _, m = build_mix(mix({"ni": {**src, "per_task": 1}}), smoke_world, cache_dir)
    n_tasks = m["pool_sizes"]["ni"]  # per_task 1: the pool is one example per task
    assert (
        m["filter_stats"]["ni"]["select:per_task"] > 0
        and 50 <= n_tasks < m["filter_stats"]["ni"]["input"]
    )
    exs, _ = build_mix(mix({"ni": {**src, "count": n_tasks + 10}}), smoke_world, cache_dir)
    per = {t: [e.meta["task"] for e in exs].count(t) for t in set(e.meta["task"] for e in exs)}
    assert max(per.values()) - min(per.values()) <= 1  # spread evenly
    with pytest.raises(ValueError, match=r"or raise data.sources.ni.per_task"):
        build_mix(mix({"ni": {**src, "per_task": 1, "count": n_tasks + 1}}), smoke_world, cache_dir)


# --- LIMA's test file as evaluation prompts and as a decontamination set -------------------------


def test_lima_test_file_as_prompts_and_for_decontamination(tmp_path: Path) -> None:
    from limalab.pipeline.reevaluate import load_prompts

    prompts = load_prompts(
        {"prompts": str(FIX / "lima" / "test.jsonl"), "eval": {"max_prompts": None}}, tmp_path
    )
    rows, name = prompts.rows, prompts.name
    assert name == "test" and rows[0]["prompt"] == "What should I plant in a shady garden?"
    assert rows[1]["prompt"] == "Make it two days." and rows[1]["history"] == [
        "Plan a trip.",
        "Go to the coast.",
    ]
    assert eval_texts([FIX / "lima" / "test.jsonl"])[0] == "What should I plant in a shady garden?"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"conversations": ["q", "a"]}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl: line 1: .*ends on an assistant turn"):
        load_prompts({"prompts": str(bad), "eval": {"max_prompts": None}}, tmp_path)
    with pytest.raises(ValueError, match=r"bad.jsonl: line 1: not an eval prompt"):
        eval_texts([bad])


def test_needs_world_only_for_world_paths() -> None:
    real = {"sources": {"a": {"path": "/data/x.jsonl", "count": 1}}, "clean": []}
    assert not needs_world(real)
    assert needs_world(
        {**real, "clean": [{"name": "decontaminate", "against": ["world:eval/test.jsonl"]}]}
    )
    assert needs_world({"sources": {"a": {"path": "world:authors/authors.jsonl", "count": 1}}})
