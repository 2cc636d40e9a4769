"""Every case the test suite defines (bundled examples, mutants, alternatives, student-style
variants) graded through the real pipeline, with the points per item and the status written
to a JSON file, so that two versions of the grader can be compared item by item:

    .venv/bin/python benchmarks/scoreboard.py before.json [SLUG ...]
    ... change the grader ...
    .venv/bin/python benchmarks/scoreboard.py after.json [SLUG ...]
    .venv/bin/python benchmarks/scoreboard.py --compare before.json after.json
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from conftest import SLUGS, grade_all, variants, write_mutants  # noqa: E402

from grader import assignment  # noqa: E402
from grader.cli import demo_examples  # noqa: E402


def collect(slug: str) -> list[Path]:
    a = assignment.get(slug)
    return [*demo_examples(a), *variants(slug), *write_mutants(slug, Path(tempfile.mkdtemp())).values()]


def compare(before: str, after: str) -> int:
    b, a = json.loads(Path(before).read_text()), json.loads(Path(after).read_text())
    differ = 0
    for slug in sorted(set(b) & set(a)):
        for sub in sorted(set(b[slug]) & set(a[slug])):
            if b[slug][sub] != a[slug][sub]:
                differ += 1
                print(f"{slug} {sub}: {b[slug][sub]} -> {a[slug][sub]}")
        print(f"{slug}: {len(set(b[slug]) & set(a[slug]))} compared")
    print(f"{differ} differ")
    return 1 if differ else 0


def main() -> int:
    if sys.argv[1] == "--compare":
        return compare(sys.argv[2], sys.argv[3])
    out, seconds = {}, {}
    for slug in sys.argv[2:] or SLUGS:
        t = time.time()
        _, res = grade_all(slug, collect(slug), Path(tempfile.mkdtemp()))
        out[slug] = {k: {"status": str(r.status), "items": r.points()} for k, r in res.items()}
        seconds[slug] = {k: round(sum(r.timings.get(s, 0) for s in ("execute_s", "probe_s", "judge_s")), 1)
                         for k, r in res.items()}
        print(slug, len(res), f"{time.time() - t:.0f} s", flush=True)
        Path(sys.argv[1]).write_text(json.dumps(out, indent=1, sort_keys=True))
        # the seconds per submission apart, so that --compare compares verdicts only
        Path(sys.argv[1]).with_suffix(".seconds.json").write_text(json.dumps(seconds, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
