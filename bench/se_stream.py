"""Memory and speed of the Stack Exchange reader on a dump of real size.

Writes a ~1 GB ``Posts.xml`` in the real dump format (HTML-escaped bodies, posts in Id order
so answers sit far from their questions, both tag syntaxes), then runs the real data path
(reader → the paper's filters at the paper's length bounds → temperature order) in a fresh
process and reports its peak RSS, against an idle interpreter that imports the same modules.

    python bench/se_stream.py [--gb 1.0] [--out bench/se_stream.json]

Target (issue 3): peak RSS under 500 MB for the reading process, with torch never imported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

TARGET_MB = 500
VOCAB = (
    "hinge door oil screw bracket shelf wall stud drill level bread dough yeast oven salt water "
    "time heat pan egg whisk butter light steel wood glue clamp sand paint brush coat dry layer "
    "cut measure"
)
WORDS = VOCAB.split()


def paragraphs(rng: random.Random, n: int = 3000) -> list[str]:
    out = []
    for _ in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 110))).capitalize() + "."
        kind = rng.random()
        if kind < 0.15:
            html = "<ul>" + "".join(f"<li>{w}</li>" for w in text.split()[:6]) + "</ul>"
        elif kind < 0.25:
            html = f"<pre><code>x = {rng.randint(0, 9)} &lt; {rng.randint(10, 99)}\n</code></pre>"
        elif kind < 0.32:
            html = f"<p>I think {text}</p>"
        else:
            html = f'<p>{text} <a href="https://example.org/{rng.randint(0, 999)}">link</a></p>'
        out.append(escape(html, {'"': "&quot;", "\n": "&#xA;"}))
    return out


def write_dump(path: Path, target_bytes: int, seed: int = 0) -> dict[str, int]:
    """Questions in Id order; each answer is posted 1-20,000 posts later, so it lands far away."""
    rng = random.Random(seed)
    paras = paragraphs(rng)
    pending: dict[int, list[tuple[int, int]]] = {}
    ids = {"next": 1, "questions": 0, "answers": 0}

    def body(k: int) -> str:
        return "&#xA;".join(rng.choice(paras) for _ in range(k))

    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n')
        step = 0
        while f.tell() < target_bytes:
            for qid, score in pending.pop(step, []):
                i = ids["next"]
                ids["next"] += 1
                ids["answers"] += 1
                f.write(
                    f'  <row Id="{i}" PostTypeId="2" ParentId="{qid}" '
                    f'CreationDate="2015-01-01T00:00:00.000" Score="{score}" '
                    f'Body="{body(rng.randint(1, 9))}" OwnerUserId="{rng.randint(1, 9999)}" '
                    'CommentCount="0" ContentLicense="CC BY-SA 4.0" />\n'
                )
            qid = ids["next"]
            ids["next"] += 1
            ids["questions"] += 1
            title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9)))
            tags = (
                "".join(f"&lt;{w}&gt;" for w in rng.sample(WORDS, 2))
                if qid % 2
                else "|" + "|".join(rng.sample(WORDS, 2)) + "|"
            )
            f.write(
                f'  <row Id="{qid}" PostTypeId="1" CreationDate="2015-01-01T00:00:00.000" '
                f'Score="{rng.randint(-2, 80)}" ViewCount="{rng.randint(10, 9999)}" '
                f'Body="{body(rng.randint(1, 3))}" OwnerUserId="{rng.randint(1, 9999)}" '
                "Title="
                f'"{"Is this right" if rng.random() < 0.1 else "How do I " + escape(title)}?" '
                f'Tags="{tags}" AnswerCount="2" CommentCount="0" '
                f'ContentLicense="CC BY-SA 4.0" />\n'
            )
            for _ in range(rng.choice((0, 1, 2, 2, 3, 4))):
                pending.setdefault(step + rng.randint(1, 20_000), []).append(
                    (qid, rng.randint(-3, 60))
                )
            step += 1
        f.write("</posts>\n")
    return {"questions": ids["questions"], "answers": ids["answers"]}


PAPER_FILTERS = [
    {"name": "title_self_contained"},
    {"name": "top_answer"},
    {"name": "min_score", "min": 10},
    {"name": "strip_html"},
    {"name": "length", "min_chars": 1200, "max_chars": 4096},
    {"name": "first_person"},
    {"name": "references_other_answers"},
    {"name": "prompt_title_or_description"},
]


def read(root: Path) -> None:
    """Child process: the real data path, then a one-line JSON report."""
    from limalab.data.sources import source_pool

    t0 = time.time()
    cfg = {"name": "bench", "reader": "stackexchange", "filters": PAPER_FILTERS, "temperature": 3.0}
    pool, stats = source_pool(cfg, root, seed=0)
    print(
        json.dumps(
            {
                "seconds": round(time.time() - t0, 1),
                "kept": len(pool),
                "filter_stats": stats,
                "torch_imported": "torch" in sys.modules,
            }
        )
    )


def child(args: list[str]) -> tuple[dict, float]:
    """Run a child and return its last JSON line and its peak RSS in MB (ru_maxrss is KB on
    Linux)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak < before:
        raise SystemExit("RUSAGE_CHILDREN went down: cannot attribute the peak")
    return json.loads(proc.stdout.strip().splitlines()[-1]), peak / 1024


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("se_stream.json"))
    ap.add_argument("--read", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--idle", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.idle:  # the baseline: same imports, no data
        import limalab.data.sources  # noqa: F401

        print(json.dumps({"torch_imported": "torch" in sys.modules}))
        return
    if args.read:
        read(args.read)
        return
    work = Path(tempfile.mkdtemp(prefix="limalab-se-bench-", dir=os.environ.get("TMPDIR")))
    try:
        site = work / "bench.stackexchange.com"
        site.mkdir()
        t0 = time.time()
        counts = write_dump(site / "Posts.xml", int(args.gb * 1e9))
        size = (site / "Posts.xml").stat().st_size
        write_s = time.time() - t0
        _, idle_mb = child(["--idle"])  # first: RUSAGE_CHILDREN keeps the max over children
        report, peak_mb = child(["--read", str(site)])
        results = {
            "file_mb": round(size / 1e6),
            **counts,
            "write_s": round(write_s, 1),
            "read_filter_s": report["seconds"],
            "mb_per_s": round(size / 1e6 / report["seconds"], 1),
            "peak_rss_mb": round(peak_mb),
            "idle_rss_mb": round(idle_mb),
            "rss_ratio_to_idle": round(peak_mb / idle_mb, 2),
            "kept": report["kept"],
            "filter_stats": report["filter_stats"],
            "torch_imported": report["torch_imported"],
            "target_mb": TARGET_MB,
            "within_target": peak_mb < TARGET_MB and not report["torch_imported"],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if not results["within_target"]:
        raise SystemExit(f"peak RSS {peak_mb:.0f} MB (target < {TARGET_MB} MB) or torch imported")


if __name__ == "__main__":
    main()
