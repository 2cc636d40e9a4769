"""Wall time of `grader grade` as an instructor runs it: one submission, then an
assignment's bundled examples together (expectations already cached, so the timing is
the per-submission cost). Run by hand; numbers go into closing notes, not into tests.

    .venv/bin/python benchmarks/grade_time.py [SLUG ...] [--jobs N] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import assignment  # noqa: E402
from grader.cli import demo_examples  # noqa: E402


def grade(slug: str, paths: list[Path], jobs: int, device: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        subprocess.run([str(ROOT / ".venv" / "bin" / "grader"), "grade", slug, *map(str, paths), "--out", out,
                        "--jobs", str(jobs), "--device", device, "--no-resume"], check=True, capture_output=True)
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("slugs", nargs="*")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    rows = []
    for slug in a.slugs or list(assignment.all_assignments()):
        asg = assignment.get(slug)
        examples = demo_examples(asg)
        warm = grade(slug, [asg.reference], 1, a.device)  # fills the expectations cache if cold
        one = grade(slug, [asg.reference], 1, a.device)
        many = grade(slug, examples, a.jobs, a.device)
        rows.append({"assignment": slug, "first_run_s": round(warm, 1), "one_submission_s": round(one, 1),
                     "examples": len(examples), "examples_s": round(many, 1), "jobs": a.jobs})
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
