"""Where the time of grading one submission goes, per assignment: kernel start (sandbox,
interpreter, arming, the framework's import; started ahead of its turn, so it overlaps the
previous submission), executing the notebook's definitions, each probe, judging. `median` is
execute + probes + judge; `wall/sub` is the batch's wall time per submission, kernel starts
included. Expectations are computed first (not counted). Definitions mode, one job.

    .venv/bin/python benchmarks/stages.py [SLUG ...] [--device cpu|cuda] [--mode definitions|full]
        [--load]   # with a competing CPU-bound process on one core (robustness under load)
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from conftest import SLUGS, variants  # noqa: E402

from grader import assignment, batch, expectations, pipeline  # noqa: E402
from grader.cli import demo_examples  # noqa: E402


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        x += 1


def profile(slug: str, device: str, mode: str) -> dict:
    a = assignment.get(slug)
    opts = pipeline.Options(device=device, mode=mode)
    t = time.perf_counter()
    expectations.get(a, opts)
    warm = time.perf_counter() - t
    paths = [*demo_examples(a), *variants(slug)]
    t = time.perf_counter()
    results = batch.run(paths, a, Path(tempfile.mkdtemp()), opts, jobs=1, resume=False, expand_dirs=False)
    wall = time.perf_counter() - t
    per = {"kernel": [], "execute": [], "probes": [], "judge": [], "total": []}
    probes: dict[str, list[float]] = {}
    for r in results:
        tm = r.timings
        if not tm.get("probes"):
            continue
        per["kernel"].append(tm["kernel_start_s"])
        # the kernel is started ahead, while the previous submission is graded (batch.py), so
        # execute_s holds the cells only (and any restart); kernel_start_s is reported apart
        per["execute"].append(tm["execute_s"])
        per["probes"].append(tm["probe_s"])
        per["judge"].append(tm["judge_s"])
        per["total"].append(tm["execute_s"] + tm["probe_s"] + tm["judge_s"])
        for k, s in tm["probes"].items():
            probes.setdefault(k, []).append(s)
    med = {k: round(statistics.median(v), 2) if v else 0.0 for k, v in per.items()}
    return {"slug": slug, "n": len(results), "expectations_s": round(warm, 1), "batch_wall_s": round(wall, 1),
            "median": med, "probes": {k: round(statistics.median(v), 2) for k, v in probes.items()},
            "statuses": [str(r.status) for r in results]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("slugs", nargs="*")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--mode", default="definitions")
    ap.add_argument("--load", action="store_true")
    args = ap.parse_args()
    stop = multiprocessing.Event()
    spinner = multiprocessing.Process(target=_spin, args=(stop,), daemon=True) if args.load else None
    if spinner:
        spinner.start()
    try:
        print(f"{'assignment':24} {'n':>3} {'kernel':>7} {'execute':>8} {'probes':>7} {'judge':>6} {'median':>7} "
              f"{'wall/sub':>8}   (seconds; device {args.device}, mode {args.mode}{', under load' if args.load else ''})")
        for slug in args.slugs or SLUGS:
            p = profile(slug, args.device, args.mode)
            m = p["median"]
            print(f"{slug:24} {p['n']:>3} {m['kernel']:>7} {m['execute']:>8} {m['probes']:>7} {m['judge']:>6} "
                  f"{m['total']:>7} {p['batch_wall_s'] / max(1, p['n']):>8.1f}", flush=True)
            slow = sorted(p["probes"].items(), key=lambda kv: -kv[1])[:6]
            print("    slowest probes: " + ", ".join(f"{k} {v}" for k, v in slow), flush=True)
    finally:
        if spinner:
            stop.set()
            spinner.join()


if __name__ == "__main__":
    main()
