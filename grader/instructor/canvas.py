"""A Canvas gradebook CSV for import: Student, ID, SIS User ID, SIS Login ID, Section, then
one column for the assignment, holding each student's total (grader.totals).

Canvas matches rows to students by its own columns, which the grader does not know, so a
roster CSV supplies them: `submission` (the submission's folder or file name in the batch)
and any of Student, ID, SIS User ID, SIS Login ID, Section. Students without a result get an
empty cell (Canvas leaves their grade alone); results without a roster row are reported."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import totals
from .marking import Graded, MarkError

STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


@dataclass
class Export:
    table: pd.DataFrame
    unmatched: list[str] = field(default_factory=list)        # results with no roster row
    no_result: list[str] = field(default_factory=list)        # roster rows with no result
    unmarked: list[str] = field(default_factory=list)         # results whose manual items are not all marked


def read_roster(path: Path) -> pd.DataFrame:
    try:
        roster = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as e:
        raise MarkError(f"{path}: {e}") from None
    if "submission" not in roster.columns or not set(STUDENT_COLUMNS[:4]) & set(roster.columns):
        raise MarkError(f"{path}: needs a `submission` column and at least one of "
                        f"{', '.join(STUDENT_COLUMNS[:4])}")
    return roster


def gradebook(graded: list[Graded], roster: pd.DataFrame, column: str,
              points_possible: float | None = None) -> Export:
    keys: dict[str, Graded] = {}
    for g in graded:
        for k in (g.name, g.result.submission, Path(g.result.submission).stem):
            keys.setdefault(k, g)
    rows, used, missing = [], set(), []
    for rec in roster.to_dict("records"):
        name = rec["submission"].strip()
        g = keys.get(name)
        row = {c: rec.get(c, "") for c in STUDENT_COLUMNS}
        row[column] = g.result.total if g is not None else ""
        if g is None:
            missing.append(name)
        else:
            used.add(g.name)
        rows.append(row)
    table = pd.DataFrame(rows, columns=[*STUDENT_COLUMNS, column])
    if points_possible is not None:     # the second row of a Canvas export; optional on import
        head = pd.DataFrame([{**{c: "" for c in STUDENT_COLUMNS}, "Student": "Points Possible",
                              column: points_possible}])
        table = pd.concat([head, table], ignore_index=True)
    return Export(table, unmatched=[g.name for g in graded if g.name not in used], no_result=missing,
                  unmarked=[g.name for g in graded if totals.unmarked(g.result)])
