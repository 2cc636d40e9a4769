"""`grader similarity` on a class-sized batch: 500 generated submissions, timed. Run by hand:

    .venv/bin/python benchmarks/similarity.py [SLUG ...] [--n 500] [--copies 25]

Each "student" starts from the assignment's reference or one of its variants (the solutions in
tests/assignments/<slug>/variants/), changes about a fifth of its numbers (widths, kernel sizes,
learning rates), drops a few statements, and disguises the rest as tests/disguise.py does
(names, order, comments, cells). `--copies` of them are disguised copies of another student's
file; the benchmark reports where those planted pairs rank (all of them should be the top
pairs) as well as the time: reading (loading and parsing every submission), comparing (the
index, scores and passages) and writing the CSV and HTML. Target: 500 in under 5 minutes on
2 cores."""
from __future__ import annotations

import argparse
import ast
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

import disguise  # noqa: E402

from grader import assignment  # noqa: E402
from grader.instructor import similarity, similarity_html  # noqa: E402


class _Student(ast.NodeTransformer):
    """A student's own choices: other numbers here and there, a statement left out."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def visit_Constant(self, node):
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool) and self.rng.random() < 0.2:
            node.value = type(node.value)(node.value * self.rng.choice([2, 3]) + self.rng.choice([0, 1]))
        return node

    def generic_visit(self, node):
        super().generic_visit(node)
        body = getattr(node, "body", None)
        if isinstance(body, list) and len(body) > 2 and not isinstance(node, ast.Module):
            node.body = [s for s in body if self.rng.random() > 0.05] or body[:1]
        return node


def own_version(cells: list[str], rng: random.Random) -> list[str]:
    out = []
    for c in cells:
        try:
            out.append(ast.unparse(_Student(rng).visit(ast.parse(c))))
        except SyntaxError:
            out.append(c)
    return out


def variants(slug: str) -> list[Path]:
    """As tests/conftest.py lists them (not imported: it loads torch, which would swamp the memory figure)."""
    folder = ROOT / "tests" / "assignments" / slug / "variants"
    return sorted(p for p in folder.iterdir() if not p.name.startswith((".", "_"))) if folder.is_dir() else []


def batch(slug: str, n: int, copies: int, folder: Path) -> tuple[list[Path], set[tuple[str, str]]]:
    a = assignment.get(slug)
    bases = [disguise.cells_of(p) for p in [a.reference_path, *variants(slug)] if p.suffix in {".py", ".ipynb"}]
    rng = random.Random(0)
    folder.mkdir(parents=True)
    paths, planted, written, copied = [], set(), [], {}
    for i in range(n):
        namer, shuffle = disguise.seeded(i)
        how = rng.choice(["split", "merge", "keep"])
        j = rng.randrange(n - copies) if i >= n - copies else None
        if j is not None:                        # a copy of an earlier student, disguised again
            cells = disguise.disguise(written[j], namer, shuffle, keep=a.names, cells_as=how,
                                      comments=rng.random() < 0.5)
        else:
            cells = disguise.disguise(own_version(rng.choice(bases), rng), namer, shuffle, keep=a.names,
                                      cells_as=how, comments=rng.random() < 0.5, indent=rng.choice([2, 4]))
        written.append(cells)
        paths.append(disguise.write(cells, folder / (f"s{i:03d}.ipynb" if i % 2 else f"s{i:03d}.py")))
        group = [paths[j]] + [paths[c] for c in copied.get(j, [])] if j is not None else []
        planted |= {tuple(sorted((q.name, paths[i].name))) for q in group}    # copies of one student too
        if j is not None:
            copied.setdefault(j, []).append(i)
    return paths, planted


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("slugs", nargs="*", default=["pixelcnn-mnist"])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--copies", type=int, default=25)
    args = ap.parse_args()
    for slug in args.slugs:
        a = assignment.get(slug)
        folder = Path(tempfile.mkdtemp(prefix="sim-bench-"))
        try:
            paths, planted = batch(slug, args.n, args.copies, folder / "subs")
            lines = sum(len(p.read_text().splitlines()) for p in paths if p.suffix == ".py")
            t0 = time.perf_counter()
            codes = [similarity.read(p, p.name, a) for p in paths]
            t1 = time.perf_counter()
            sim = similarity.compare(codes, similarity.shared_code(a))
            t2 = time.perf_counter()
            similarity.write_csv(sim, folder / similarity.CSV)
            similarity_html.write(sim, a, folder / similarity.HTML)
            t3 = time.perf_counter()
            names = sim.names
            ranked = [tuple(sorted((names[p.a], names[p.b]))) for p in sim.pairs]
            ranks = sorted(ranked.index(pp) + 1 for pp in planted)
            sharing = sum(1 for p in sim.pairs if p.score)
            print(f"{slug}: {len(paths)} submissions ({lines / max(1, sum(p.suffix == '.py' for p in paths)):.0f} "
                  f"lines per .py), {len(sim.pairs)} pairs, {sharing} sharing code of their own")
            print(f"  read {t1 - t0:.1f} s, compare {t2 - t1:.1f} s, write {t3 - t2:.1f} s: "
                  f"total {t3 - t0:.1f} s; peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
            print(f"  planted copies ({len(planted)}) rank: {ranks[:5]} .. {ranks[-5:]}; their lowest score "
                  f"{min(p.score for p in sim.pairs if tuple(sorted((names[p.a], names[p.b]))) in planted):.2f}; "
                  f"the best other pair {next(p.score for p in sim.pairs if tuple(sorted((names[p.a], names[p.b]))) not in planted):.2f}")
            print(f"  CSV {(folder / similarity.CSV).stat().st_size / 1e6:.1f} MB, "
                  f"HTML {(folder / similarity.HTML).stat().st_size / 1e6:.1f} MB")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
