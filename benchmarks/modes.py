"""`--mode full` (every cell of the notebook, training included, within the assignment's
budget) against the default definitions mode, on each reference: the time of each and
whether the verdicts (points per item) are the same. Run by hand:

    .venv/bin/python benchmarks/modes.py [SLUG ...]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from conftest import SLUGS  # noqa: E402

from grader import assignment, batch, expectations, pipeline  # noqa: E402


def main() -> None:
    print(f"{'assignment':24} {'definitions s':>13} {'full s':>8} {'same verdicts':>13}")
    for slug in sys.argv[1:] or SLUGS:
        a = assignment.get(slug)
        expectations.get(a, pipeline.Options(device="cpu"))
        out, times = {}, {}
        for mode in ("definitions", "full"):
            t = time.perf_counter()
            r = batch.run([a.reference_path], a, Path(tempfile.mkdtemp()), pipeline.Options(device="cpu", mode=mode),
                          resume=False, expand_dirs=False)[0]
            times[mode], out[mode] = time.perf_counter() - t, r
        same = out["definitions"].points() == out["full"].points()
        notes = "; ".join(f"cell {c.index} {c.status}" for c in out["full"].cells if c.status not in {"ok", "skipped"})
        print(f"{slug:24} {times['definitions']:>13.1f} {times['full']:>8.1f} {str(same):>13}  {notes}", flush=True)


if __name__ == "__main__":
    main()
