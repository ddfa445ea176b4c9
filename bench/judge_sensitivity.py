"""How much of the quality difference between Stack Exchange answers the reference judge sees:
every answer kind the world's dumps write (good list and prose answers, and the defects the
paper's filters remove: first person, references elsewhere, rambling, too short, link only,
wrong facts), rendered for the same test prompts and graded by the current rubric and by an
older one taken from git, side by side.

    python bench/judge_sensitivity.py [--old-rev cab4686] [--prompts 200]

The old rubric's judge is loaded from ``src/limalab/eval/judges/reference.py`` at ``--old-rev``
(cab4686: the last rubric 2). Writes bench/latest.judge_sensitivity.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from limalab.world.dumps import ANSWER_KINDS, _render_answer
from limalab.world.knowledge import generate_world
from limalab.world.prompts import make_prompt
from limalab.world.reference_judge import ReferenceJudge

ROOT = Path(__file__).resolve().parents[1]


def old_judge(rev: str, world) -> object:
    src = subprocess.run(
        ["git", "show", f"{rev}:src/limalab/eval/judges/reference.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "reference_old.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("reference_old", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["reference_old"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod.ReferenceJudge(world)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--old-rev", default="cab4686")
    ap.add_argument("--prompts", type=int, default=200)
    args = ap.parse_args(argv)
    world = generate_world(
        seed=0, entities_per_kind={"sft": 20, "eval": 20}, eval_fraction=0.4, reserved_words=set()
    )
    rng = random.Random(0)
    judges = {"old": old_judge(args.old_rev, world), "new": ReferenceJudge(world)}
    scores = {k: {j: [] for j in judges} for k in ANSWER_KINDS}
    for i in range(args.prompts):
        kind = ("realm", "creature")[i % 2]
        ents = rng.sample(world.of(kind, "eval"), 2)
        spec = make_prompt(
            rng.choices(("fact", "compare", "describe"), weights=(0.7, 0.15, 0.15))[0], ents, rng
        )
        row = {"prompt_id": f"p{i}", **spec.to_dict()}
        for answer_kind in ANSWER_KINDS:
            text = _render_answer(answer_kind, spec, world, rng)
            for name, judge in judges.items():
                scores[answer_kind][name].append(judge.judge(row, text, True).score)
    table = {k: {j: float(np.mean(v)) for j, v in s.items()} for k, s in scores.items()}
    good = [k for k in ANSWER_KINDS if k.startswith("good")]
    share = {k: ANSWER_KINDS[k][0] for k in ANSWER_KINDS}
    defects = [k for k in ANSWER_KINDS if k not in good]
    out = {
        "old_rev": args.old_rev,
        "new": judges["new"].id,
        "prompts": args.prompts,
        "by_kind": table,
    }
    for (
        j
    ) in judges:  # the mean of good answers against the share-weighted mean of every answer kind
        mix = sum(share[k] * table[k][j] for k in ANSWER_KINDS) / sum(share.values())
        out[f"gap_{j}"] = float(np.mean([table[k][j] for k in good]) - mix)
    print(f"{'answer kind':<18} {'old':>5} {'new':>5}")
    for k in [*good, *defects]:
        print(f"{k:<18} {table[k]['old']:5.2f} {table[k]['new']:5.2f}")
    print(
        f"good answers minus the unfiltered mix: old {out['gap_old']:+.2f}, new "
        f"{out['gap_new']:+.2f}"
    )
    (ROOT / "bench" / "latest.judge_sensitivity.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.exit(main())
