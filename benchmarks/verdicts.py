"""What the test suite's verdict matrix costs: each assignment's session batch (reference,
skeleton, mutants, alternatives, attacks, variants, examples) graded exactly as
tests/conftest.py grades it, one after another, with the machine's busy CPU-seconds measured
around each (/proc/stat) and shared out over the kinds of case by their kernels' seconds.

The sum is a floor on CI: the suite cannot end sooner than that work divided by the cores, set-up
and every other test aside. Run by hand on an otherwise idle machine (Linux):

    .venv/bin/python benchmarks/verdicts.py [SLUG ...] [--warm] [--jobs 3]

By default the expectations start cold, as in a fresh clone on CI; --warm uses $GRADER_CACHE.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

KINDS = ("reference/skeleton", "mutants", "variants", "attacks", "examples")


def busy_seconds() -> float:
    """CPU-seconds the whole machine has spent busy since boot (every process, the sandboxed
    kernels included, which are not this process's children)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class _Folders:
    """What `conftest._grade_batch` asks of pytest's tmp_path_factory."""

    def __init__(self, root: Path):
        self.root = root

    def mktemp(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))


def kinds(slug: str, conftest) -> dict[str, str]:
    """Case name -> its kind, for the named cases of mutants.toml (the batch names the rest:
    the reference, the skeleton, "attack:..." and the variants by their stems)."""
    c = conftest.cases(slug)
    return {**{n: "mutants" for g in ("mutants", "alternatives") for n in c.get(g, {})},
            **{n: "examples" for n in c.get("examples", {})},
            "reference": "reference/skeleton", "skeleton": "reference/skeleton"}


def measure(slug: str, root: Path, conftest) -> tuple[int, float, float, Counter]:
    """(cases, wall s, busy CPU-s, CPU-s per kind)."""
    b0, t0 = busy_seconds(), time.monotonic()
    batch = conftest._grade_batch(slug, _Folders(root))
    wall, busy = time.monotonic() - t0, busy_seconds() - b0
    # the examples are not in batch.names: their case name is their file name
    case_of = {file: case for case, file in batch.names.items()}
    kind_of = kinds(slug, conftest)
    kernel = Counter()
    for file, r in batch.results.items():
        case, t = case_of.get(file, file), r.timings
        kind = "attacks" if case.startswith("attack:") else kind_of.get(case, "variants")
        kernel[kind] += t.get("kernel_start_s", 0) + t.get("execute_s", 0) + t.get("probe_s", 0)
    total = sum(kernel.values()) or 1.0
    return len(batch.results), wall, busy, Counter({k: busy * v / total for k, v in kernel.items()})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("slugs", nargs="*")
    ap.add_argument("--warm", action="store_true", help="keep $GRADER_CACHE (default: a cold cache, as on CI)")
    ap.add_argument("--jobs", type=int, default=None, help="jobs per batch (default: the suite's: GRADER_TEST_JOBS, else one more than the cores)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="verdicts-"))
    if not args.warm:
        os.environ["GRADER_CACHE"] = str(root / "cache")
    if args.jobs:
        os.environ["GRADER_TEST_JOBS"] = str(args.jobs)
    import conftest  # after the environment is set: it reads GRADER_TEST_JOBS (and imports torch before TF)

    print(f"{'assignment':24} {'cases':>5} {'wall s':>7} {'CPU-s':>6}  " + "  ".join(f"{k:>18}" for k in KINDS))
    cases, wall, busy, kinds = 0, 0.0, 0.0, Counter()
    for slug in args.slugs or conftest.SLUGS:
        n, w, b, k = measure(slug, root, conftest)
        cases, wall, busy = cases + n, wall + w, busy + b
        kinds.update(k)
        print(f"{slug:24} {n:>5} {w:>7.0f} {b:>6.0f}  " + "  ".join(f"{k[x]:>18.0f}" for x in KINDS), flush=True)
    print(f"{'all':24} {cases:>5} {wall:>7.0f} {busy:>6.0f}  " + "  ".join(f"{kinds[x]:>18.0f}" for x in KINDS))
    print("\nshare of the CPU-s: " + ", ".join(f"{x} {kinds[x] / (busy or 1):.0%}" for x in KINDS))
    print("the suite's floor from these batches alone (CPU-s / cores, at 100 % busy): "
          + ", ".join(f"{c} cores {busy / c:.0f} s" for c in (2, 4, 8)))


if __name__ == "__main__":
    main()
