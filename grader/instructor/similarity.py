"""Similarity across a batch: which submissions share code beyond the skeleton.

    grader similarity SLUG SUBMISSIONS... --out DIR      (or: grader grade ... --similarity)

Each submission is read as `grade` reads it (grader/submission.py): the entry notebook's code
cells, or the entry .py, and every other .py file it holds (a package, models.py beside the
notebook); never the notebook's JSON or outputs. grader/instructor/fingerprints.py turns that
code into winnowed fingerprints of normalised syntax trees. Shared code does not count: every
k-gram of the assignment's skeleton and of the helpers handed out with it (the assignment
folder's .py files, as `grader release` ships them), and every k-gram found in more than
`shared_over` submissions of the batch (MOSS's -m: it covers a course skeleton the grader has
never seen). An inverted index from fingerprint to submissions finds the pairs that share any,
so the cost grows with what is shared, not with the number of pairs.

DIR/similarity.csv has one row per pair of submissions, highest score first:

- `a`, `b`: the submissions, named as grades.csv's `submission` column names them (the file or
  folder name), so the two files join on it; a comes before b in the batch's order.
- `score`: in [0, 1], 2|shared| / (|a's| + |b's|) over the fingerprints that count (JPlag's
  average similarity; 0 when neither has code of its own beyond the shared code); empty when
  either could not be read (`note` says why). Equal scores rank by `shared`.
- `shared`: how many fingerprints the two share (about one per 5 tokens of shared code).
- `a_share`, `b_share`: the fraction of a's (b's) own fingerprints that b (a) shares: a high
  share on one side only is a small submission contained in a larger one.
- `regions`: the matched passages, JSON: a list of
  `[a_source, a_first_line, a_last_line, b_source, b_first_line, b_last_line]`, a source being
  a file of the submission ("models.py") or a notebook cell ("asgn6.ipynb [3]", 1-based, lines
  counted within the cell).
- `note`: why a pair has no score (a submission that could not be read).

DIR/similarity.html ranks the pairs and shows each one's matched passages side by side.
"""
from __future__ import annotations

import csv
import functools
import json
import math
import shutil
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from .. import submission
from ..config import Assignment
from .fingerprints import MASKED, Code, K, Source, W, kgrams, normalise, winnow

CSV = "similarity.csv"
HTML = "similarity.html"
COLUMNS = ["a", "b", "score", "shared", "a_share", "b_share", "regions", "note"]
MAX_SHARE = 10              # MOSS's default: a passage in more submissions than this is shared code
MAX_PY_BYTES = 1 << 20      # a larger .py is data or generated code, not a student's
_REPEATS = 4                # positions per fingerprint used to place regions (repeated code)


@dataclass
class Region:
    a_source: str
    a_lines: tuple[int, int]
    b_source: str
    b_lines: tuple[int, int]

    def row(self) -> list:
        return [self.a_source, *self.a_lines, self.b_source, *self.b_lines]


@dataclass
class Pair:
    a: int
    b: int
    score: float | None            # None: one of them could not be read
    shared: int = 0
    a_share: float = 0.0
    b_share: float = 0.0
    regions: list[Region] = field(default_factory=list)


@dataclass
class Similarity:
    names: list[str]
    codes: list[Code]
    pairs: list[Pair]              # every pair, highest score first
    shared_over: int               # a k-gram in more submissions than this did not count
    own: list[int]                 # fingerprints that count, per submission
    notes: list[str] = field(default_factory=list)   # what of the shared code could not be read


# ---- reading code -------------------------------------------------------------------------------

def sources_of(path: Path, assignment: Assignment) -> tuple[list[Source], str | None]:
    """The code of a submission, loaded as grading loads it; (sources, why unreadable)."""
    sub = submission.load(Path(path), assignment.entry)
    if not sub.ok:
        return [], sub.reason
    try:
        entry = sub.files / sub.entry
        if entry.suffix == ".py":
            out = [Source(sub.entry, entry.read_text(encoding="utf-8", errors="replace"))]
        else:
            out = [Source(f"{sub.entry} [{i}]", c.source) for i, c in enumerate(sub.notebook.cells, 1)
                   if c.cell_type == "code" and c.source.strip()]
        for p in sorted(sub.files.rglob("*.py")):
            rel = p.relative_to(sub.files)
            if (str(rel) == sub.entry or p.is_symlink() or not p.is_file() or p.stat().st_size > MAX_PY_BYTES
                    or submission._IGNORED_PARTS & set(rel.parts)):
                continue
            out.append(Source(str(rel), p.read_text(encoding="utf-8", errors="replace")))
        return out, None
    finally:
        shutil.rmtree(sub.root, ignore_errors=True)


def read(path: Path, name: str, assignment: Assignment) -> Code:
    """A submission's normalised code; one that cannot be read says why (and is not scored)."""
    try:
        sources, why = sources_of(path, assignment)
    except (OSError, ValueError) as e:
        sources, why = [], f"cannot read {path.name}: {e}"
    if why is not None:
        return Code(name, problems=[why], unreadable=True)
    code = normalise(name, sources)
    if not code.tokens:
        code.unreadable = True
        code.problems.append("no code to compare (none that parses, beyond comments and docstrings)")
    return code


def shared_code(assignment: Assignment) -> list[Code]:
    """What every student was given: the skeleton and the helpers released with it."""
    given = [read(assignment.skeleton_path, "skeleton", assignment)]
    helpers = [Source(p.name, p.read_text(encoding="utf-8", errors="replace"))
               for p in sorted(assignment.directory.glob("*.py"))]
    if helpers:
        given.append(normalise("helpers", helpers))
    return given


# ---- comparing ----------------------------------------------------------------------------------

def shared_over(n: int) -> int:
    """A passage in more submissions than this is shared code: MOSS's 10, or in a batch of
    fewer than 20, more than half of it (at least 3 submissions)."""
    return min(MAX_SHARE, max(2, n // 2))


def compare(codes: list[Code], given: list[Code] = (), max_share: int | None = None, k: int = K,
            w: int = W) -> Similarity:
    """Every pair of `codes`, through an inverted index of their winnowed fingerprints."""
    n = len(codes)
    grams = [kgrams(c, k) for c in codes]
    excluded = [kgrams(g, k)[0] for g in given]
    over = shared_over(n) if max_share is None else max_share
    seen = np.concatenate([np.unique(h) for h, _ in grams] or [np.zeros(0, np.uint64)])
    values, counts = np.unique(seen, return_counts=True)
    excluded = np.unique(np.concatenate([values[counts > over], *excluded]))
    prints: list[dict[int, list[int]]] = []
    for code, (h, starts) in zip(codes, grams):
        h = np.where(np.isin(h, excluded), MASKED, h)
        sel = winnow(h, starts, code, w) if len(h) else np.zeros(0, np.int64)
        fp: dict[int, list[int]] = {}
        for hv, pos in zip(h[sel].tolist(), starts[sel].tolist()):
            fp.setdefault(hv, []).append(pos)
        prints.append(fp)
    own = [0 if c.unreadable else len(fp) for c, fp in zip(codes, prints)]
    # the inverted index: fingerprint -> submissions; pairs meet only through what they share
    index: dict[int, list[int]] = {}
    for i, fp in enumerate(prints):
        if not codes[i].unreadable:
            for hv in fp:
                index.setdefault(hv, []).append(i)
    meets: dict[tuple[int, int], list[int]] = {}
    for hv, docs in index.items():
        for pair in combinations(docs, 2):
            meets.setdefault(pair, []).append(hv)
    pairs = []
    for i, j in combinations(range(n), 2):
        if codes[i].unreadable or codes[j].unreadable:
            pairs.append(Pair(i, j, None))
            continue
        common = meets.get((i, j), [])
        if not common:
            pairs.append(Pair(i, j, 0.0))
            continue
        s = len(common)
        pairs.append(Pair(i, j, 2 * s / (own[i] + own[j]), s, s / own[i], s / own[j],
                          regions(codes[i], prints[i], codes[j], prints[j], common, k, w)))
    pairs.sort(key=lambda p: (-(p.score if p.score is not None else -1), -p.shared))   # stable: batch order
    notes = [f"{g.name}: {msg}" for g in given for msg in g.problems]
    return Similarity([c.name for c in codes], codes, pairs, over, own, notes)


def regions(ca: Code, fa: dict, cb: Code, fb: dict, common: list[int], k: int, w: int) -> list[Region]:
    """Shared fingerprints grouped into passages: consecutive matches (at most a window apart on
    both sides, in one source each) are one passage, reported as line ranges."""
    matches = sorted((pa, pb) for hv in common for pa in fa[hv][:_REPEATS] for pb in fb[hv][:_REPEATS])
    spans: list[list[int]] = []     # [a_start, a_end, b_start, b_end] in tokens
    for pa, pb in matches:
        last = spans[-1] if spans else None
        if (last is not None and ca.where[pa] == ca.where[last[0]] and cb.where[pb] == cb.where[last[2]]
                and pa <= last[1] + w and last[2] - w - k <= pb <= last[3] + w):
            last[1], last[2], last[3] = max(last[1], pa + k), min(last[2], pb), max(last[3], pb + k)
        else:
            spans.append([pa, pa + k, pb, pb + k])
    found: list[Region] = []
    for a0, a1, b0, b1 in spans:
        r = Region(ca.sources[ca.where[a0]].label, _lines(ca, a0, a1), cb.sources[cb.where[b0]].label,
                   _lines(cb, b0, b1))
        prev = next((p for p in found if (p.a_source, p.b_source) == (r.a_source, r.b_source)
                     and _touch(p.a_lines, r.a_lines) and _touch(p.b_lines, r.b_lines)), None)
        if prev is None:
            found.append(r)
        else:
            prev.a_lines = (min(prev.a_lines[0], r.a_lines[0]), max(prev.a_lines[1], r.a_lines[1]))
            prev.b_lines = (min(prev.b_lines[0], r.b_lines[0]), max(prev.b_lines[1], r.b_lines[1]))
    return found


def _lines(code: Code, start: int, end: int) -> tuple[int, int]:
    """The lines of tokens start..end in the source of the first (a run of statements can go on
    into the next cell)."""
    lines = [ln for ln, w in zip(code.lines[start:end], code.where[start:end]) if w == code.where[start]]
    return min(lines), max(lines)


def _touch(x: tuple[int, int], y: tuple[int, int]) -> bool:
    return x[0] <= y[1] + 1 and y[0] <= x[1] + 1


# ---- a batch ------------------------------------------------------------------------------------

def run(assignment: Assignment, paths: list[Path], out: Path, max_share: int | None = None,
        top: int = 200) -> Similarity:
    """Compare the submissions `paths` (each one submission) and write out/similarity.csv and
    out/similarity.html. Names are grades.csv's: the file or folder name."""
    from . import similarity_html
    paths = [Path(p) for p in paths]
    codes = [read(p, p.name, assignment) for p in paths]
    sim = compare(codes, shared_code(assignment), max_share)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(sim, out / CSV)
    similarity_html.write(sim, assignment, out / HTML, top)
    return sim


def write_csv(sim: Similarity, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for p in sim.pairs:
            ca, cb = sim.codes[p.a], sim.codes[p.b]
            if p.score is None:
                why = "; ".join(f"{c.name} not read: {c.problems[-1]}" for c in (ca, cb) if c.unreadable)
                out.writerow([ca.name, cb.name, "", "", "", "", "[]", why])
            else:
                out.writerow([ca.name, cb.name, f"{p.score:.4f}", p.shared, f"{p.a_share:.4f}", f"{p.b_share:.4f}",
                              json.dumps([r.row() for r in p.regions]) if p.regions else "[]", ""])


@functools.lru_cache(maxsize=4)
def _scores(path: str, stamp: tuple[int, int]) -> dict[str, list[tuple[str, float]]]:
    by: dict[str, list[tuple[str, float]]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if not row["score"]:
                continue
            s = float(row["score"])
            by.setdefault(row["a"], []).append((row["b"], s))
            by.setdefault(row["b"], []).append((row["a"], s))
    for v in by.values():
        v.sort(key=lambda t: (-t[1], t[0]))
    return by


def closest(out_dir: Path, submission: str, n: int = 3) -> list[tuple[str, float]]:
    """The `n` submissions most similar to `submission` (grades.csv's name), with their scores,
    highest first, from out_dir/similarity.csv (see the module's docstring for its columns);
    pairs that scored 0 are left out, and [] when there is no similarity.csv."""
    path = Path(out_dir) / CSV
    try:
        st = path.stat()
    except OSError:
        return []
    return [(other, s) for other, s in _scores(str(path), (st.st_mtime_ns, st.st_size)).get(submission, [])
            if s > 0 and not math.isnan(s)][:n]
