"""The grader's memory when a submission prints a lot: grades the colourization reference with
one more cell that prints MB megabytes (half in 100-character prints, half as one string), and
the reference alone, each in a fresh process, and reports the grading process's peak RSS, the
executed notebook's size and the points. Expectations are computed first (not counted).

    .venv/bin/python benchmarks/output.py [--mb 300] [--slug colourization-cifar10]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from grader import assignment, batch, expectations, pipeline  # noqa: E402

LOUD = """
# %%
_ = [print("x" * 99) for _ in range({n})]
_ = print("y" * {big})
"""


def one(slug: str, mb: int) -> dict:
    """Grade in this process (a fresh one): peak RSS, notebook size, points."""
    a = assignment.get(slug)
    opts = pipeline.Options(device="cpu")
    expectations.get(a, opts)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    d = Path(tempfile.mkdtemp())
    sub = d / f"{'loud' if mb else 'quiet'}{a.reference_path.suffix}"
    text = a.reference_path.read_text()
    sub.write_text(text + (LOUD.format(n=mb * 5_000, big=mb * 500_000) if mb else ""))
    t = time.perf_counter()
    [r] = batch.run([sub], a, d / "out", opts, jobs=1, resume=False, expand_dirs=False)
    nb = d / "out" / sub.stem / "executed.ipynb"
    return {"mb": mb, "seconds": round(time.perf_counter() - t, 1), "points": r.auto_points,
            "rss_before_mb": base // 1024, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            "notebook_mb": round(nb.stat().st_size / 1e6, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--slug", default="colourization-cifar10")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.slug, args.one)))
        return
    print(f"{'printed MB':>10} {'points':>6} {'RSS before':>10} {'peak RSS':>9} {'notebook MB':>11} {'seconds':>7}")
    for mb in (0, args.mb):
        out = subprocess.run([sys.executable, __file__, "--slug", args.slug, "--one", str(mb)], capture_output=True,
                             text=True, cwd=ROOT)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['mb']:>10} {r['points']:>6} {r['rss_before_mb']:>10} {r['peak_rss_mb']:>9} {r['notebook_mb']:>11} "
              f"{r['seconds']:>7}", flush=True)


if __name__ == "__main__":
    main()
