"""Judges and backends by name through the plugin registry; callers ask a judge what it can do,
never its name."""

from __future__ import annotations

import pytest

from limalab.eval.judges import (
    BACKENDS,
    JUDGES,
    build_judge,
    ground_truth_judge,
    is_ground_truth,
    judge_class,
)
from limalab.registry import import_plugins
from limalab.versions import RUBRIC_VERSION
from limalab.world.knowledge import generate_world
from limalab.world.reference_judge import ReferenceJudge


def test_builtin_judges_and_backends_with_their_capabilities(tmp_path) -> None:
    assert {"reference", "likert", "hf_local", "llama_local", "pairwise"} <= set(JUDGES.names())
    assert {"api", "hf_local", "llama_server"} <= set(BACKENDS.names())
    caps = {
        n: (JUDGES.get(n).grades, JUDGES.get(n).compares, JUDGES.get(n).needs_world)
        for n in JUDGES.names()
    }
    assert caps["reference"] == (True, False, True) and caps["likert"] == (True, False, False)
    assert caps["pairwise"] == (False, True, False)
    world = generate_world(
        seed=0, entities_per_kind={"sft": 2, "eval": 2}, eval_fraction=0.4, reserved_words=set()
    )
    pw = build_judge(
        {"name": "pairwise", "backend": "reference"}, world=world
    )  # levels of a grading judge
    assert pw.compares and pw.needs_world and pw.id == f"pairwise:reference@rubric{RUBRIC_VERSION}"
    assert isinstance(ground_truth_judge(world), ReferenceJudge)
    with pytest.raises(
        ValueError, match="judge=reference: the reference judge needs the miniature world"
    ):
        build_judge("reference")
    with pytest.raises(
        ValueError, match=r"judge.backend: unknown judge backend 'nope'; expected one of \["
    ):
        build_judge({"name": "likert", "backend": "nope"}, cache_dir=tmp_path)


def test_judge_ids_name_their_class_and_only_the_current_rubric_is_ground_truth() -> None:
    assert is_ground_truth(f"reference@rubric{RUBRIC_VERSION}")
    assert not is_ground_truth("reference@rubric2")  # an older rubric's results are another judge's
    assert not is_ground_truth("likert:gpt-x@likert-1") and not is_ground_truth("plugin_gone@1")
    assert judge_class("likert:gpt-x@likert-json-1") is JUDGES.get("likert")
    assert judge_class("plugin_gone@1") is None


def test_a_judge_plugin_from_the_test_tree() -> None:
    """A new judge is its module (named in the config's ``plugins:``) plus its config."""
    import_plugins(["tests.judge_plugin"])
    j = build_judge({"name": "by_length", "per_level": 2})
    assert j.grades and not j.needs_world and not is_ground_truth(j.id)
    assert j.judge({}, "one two three four five", True).score == 3
    with pytest.raises(ValueError, match="plugins: cannot import 'tests.no_such_judge'"):
        import_plugins(["tests.no_such_judge"])
