"""No silent zero: an item that scores below full because the grader found nothing to grade
(a definition not defined) or could not run what it found (the cells that answer it raised or
ran out of time, a check could not bind an argument it needs), while the submission has work
for it, goes to the review column with the cells that hold that work, and its status becomes
`review`: a marker decides, the zero is not final.

Work for an item: the cells that answer it (grader/locate.py: a tag, the course's marker, a
heading) holding code of the student's; when those are not found, the cells under the part
it belongs to (its locate label `Question 3 > c`: under "Question 3"); or a cell that defines
a missing name (or one of its aliases) and raised when it ran (an unfinished class whose body
is only a comment)."""
from __future__ import annotations

import re

from . import inline, locate
from .config import Assignment
from .result import Result, Status

_MISSING = re.compile(r"`(\w+)` is not defined in the submission")
_UNRUN = ("<ipython-input-inline-", "InlineError", "timed out", "which this check needs")


def _defining(nb, names: set[str]) -> list[int]:
    pattern = re.compile(rf"^\s*(class|def)\s+({'|'.join(map(re.escape, sorted(names)))})\b", re.M)
    return [i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code" and pattern.search(c.source)]


def _cells(cells: list[int]) -> str:
    many = len(cells) > 1
    return f"cell{'s' if many else ''} {', '.join(map(str, cells))} answer{'' if many else 's'}"


def _area(assignment: Assignment, nb, item_id: str) -> list[int]:
    """The code cells, holding code, under the headings that enclose an item in its locate labels
    (`Question 3 > c` -> the cells under "Question 3")."""
    parents = {lab.split(">")[0].strip() for lab in assignment.item(item_id).locate.labels if ">" in lab}
    cells = sorted({i for p in parents for cs, _ in locate.by_heading(nb, p) for i in cs})
    return [i for i in cells if nb.cells[i].get("cell_type") == "code"
            and inline.has_code(inline.cell_code(nb.cells[i].source))]


def review(assignment: Assignment, nb, result: Result) -> None:
    if nb is None:
        return
    records = {c.index: c for c in result.cells}
    for item in result.items:
        if item.kind != "auto" or item.points >= item.max_points - 1e-9:
            continue
        failing = [c.message for c in item.checks if not c.passed]
        missing = {m.group(1) for msg in failing for m in _MISSING.finditer(msg)}
        unrun = [msg for msg in failing if any(u in msg for u in _UNRUN)]
        if not missing and not unrun:
            continue
        work = []
        cells, note = inline.item_cells(assignment, nb, item.id)
        written = [i for i in cells if inline.has_code(inline.cell_code(nb.cells[i].source))]
        if written:
            work.append(f"{_cells(written)} it" + (f" ({note})" if note else ""))
        if not cells:           # not found itself: the part it belongs to ("Question 3 > c": Question 3)
            area = _area(assignment, nb, item.id)
            if area:
                work.append(f"its cells were not found, but {_cells(area)} the part it belongs to")
        names = missing | {a for n in missing for a in assignment.aliases.get(n, ())}
        for i in _defining(nb, names) if names else []:
            rec = records.get(i)
            if rec is not None and rec.status not in {"ok", "skipped"}:
                work.append(f"cell {i} defines {', '.join(f'`{n}`' for n in sorted(missing))} but raised "
                            f"{rec.ename}: {rec.evalue[:120]}".rstrip(": "))
        if not work:
            continue
        why = ("the grader could not run what answers it" if unrun else
               f"{', '.join(f'`{n}`' for n in sorted(missing))} not found")
        result.flag(f"{item.id} was not graded in full ({why}); the submission has work for it: {'; '.join(work)}",
                    item=item.id, evidence="; ".join(unrun)[:500])
        item.status = Status.REVIEW
