"""Throughput of `grader grade` on a batch: 20 submissions per assignment (its examples,
variants and mutants, repeated to 20), with --jobs 1 and --jobs 2, in submissions per
minute. Expectations are warm (computed before timing). Run by hand:

    .venv/bin/python benchmarks/batch.py [SLUG ...] [--n 20] [--device cpu]
"""
from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT), str(ROOT / "benchmarks")]

from conftest import SLUGS  # noqa: E402
from scoreboard import collect  # noqa: E402

from grader import assignment, batch, expectations, pipeline  # noqa: E402


def submissions(slug: str, n: int) -> list[Path]:
    """n distinct files: the assignment's cases, copied under numbered names."""
    cases = collect(slug)
    d = Path(tempfile.mkdtemp())
    out = []
    for k, p in zip(range(n), itertools.cycle(cases)):
        target = d / f"{k:02d}-{p.name}"
        (shutil.copytree if p.is_dir() else shutil.copy2)(p, target)
        out.append(target)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("slugs", nargs="*")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    print(f"{'assignment':24} {'n':>3} {'jobs 1 /min':>11} {'jobs 2 /min':>11} {'speed-up':>8}")
    for slug in args.slugs or SLUGS:
        a = assignment.get(slug)
        opts = pipeline.Options(device=args.device)
        expectations.get(a, opts)
        subs = submissions(slug, args.n)
        rates = []
        for jobs in (1, 2):
            t = time.perf_counter()
            batch.run(subs, a, Path(tempfile.mkdtemp()), opts, jobs=jobs, resume=False, expand_dirs=False)
            rates.append(len(subs) / (time.perf_counter() - t) * 60)
        print(f"{slug:24} {len(subs):>3} {rates[0]:>11.1f} {rates[1]:>11.1f} {rates[1] / rates[0]:>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
