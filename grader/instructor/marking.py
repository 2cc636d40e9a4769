"""Manual marking: a marksheet out of a graded batch, and the markers' points merged back.

`marksheet` writes one CSV (a row per submission and manual or bonus item, with the
extracted answer, an empty `points` and a `comment` column) and a static HTML page per
submission, with each item's answer as the student left it (grader.instructor.pages, the
marking app's own blocks, without its controls) and the figures the grader made: to archive or
share. `merge` reads the filled sheet, or the marking app's database (`grader mark`), refuses
all of it on any bad row (all-or-nothing: half a merge is worse than none), sets the items'
points and comments, recomputes totals by grader.totals, re-signs each result.json and
rewrites grades.csv and feedback.md. A result.json whose signature does not check out is
refused: points the grader did not write must not reach a gradebook."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import assignment as assignments
from .. import report, totals
from ..config import Assignment
from ..result import Result
from . import marks as marks_db

SHEET = "marks.csv"
PAGE = "marking.html"
COLUMNS = ["submission", "file", "item", "kind", "title", "max_points", "points", "comment", "answer"]


class MarkError(ValueError):
    """A sheet or a batch folder that cannot be merged (the message names rows and files)."""


@dataclass
class Graded:
    name: str           # the submission's folder in the batch
    folder: Path
    result: Result


def load(out: Path) -> list[Graded]:
    """Every result.json of a batch folder, each checked against the folder's signing key."""
    out = Path(out)
    found, bad = [], []
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        path = folder / "result.json"
        if not path.exists():
            continue
        doc = report.read_signed(path, out)
        if doc is None:
            bad.append(str(path))
            continue
        found.append(Graded(folder.name, folder, Result.from_dict(doc)))
    if bad:
        raise MarkError("refused: result.json not signed by this grader (edited, forged, copied from "
                        f"another batch, or {out / report.KEY_FILE} lost): " + ", ".join(bad))
    if not found:
        raise MarkError(f"{out}: no result.json here (a `grader grade --out` folder is expected)")
    return found


def assignment_of(graded: list[Graded], slug: str | None = None) -> Assignment:
    slugs = {g.result.assignment for g in graded}
    if len(slugs) != 1 or (slug is not None and slugs != {slug}):
        raise MarkError(f"the results are for {', '.join(sorted(slugs))}" + (f", not {slug}" if slug else ""))
    return assignments.get(slugs.pop())


# ---- the marksheet -----------------------------------------------------------------------------

def marksheet(out: Path, slug: str | None = None, sheet: Path | None = None) -> tuple[Path, list[Path]]:
    """(the CSV, the HTML pages). Points already marked are filled in, so a sheet written
    again after a merge loses nothing."""
    from . import pages  # the pages' renderers load only when pages are made
    out = Path(out)
    graded = load(out)
    a = assignment_of(graded, slug)
    rows, written = [], []
    for g in graded:
        for it in g.result.items:
            if it.kind == "auto":
                continue
            rows.append({"submission": g.name, "file": g.result.submission, "item": it.id, "kind": it.kind,
                         "title": it.title, "max_points": it.max_points,
                         "points": f"{it.points:g}" if it.marked else "", "comment": it.comment,
                         "answer": it.answer})
        written.append(_page(g, a))
    sheet = Path(sheet) if sheet else out / SHEET
    pd.DataFrame(rows, columns=COLUMNS).to_csv(sheet, index=False)
    index = out / PAGE
    subs = [{"href": f"{g.name}/{PAGE}", "label": f"{g.name} ({g.result.submission})", "status": str(g.result.status),
             "auto": f"{g.result.auto_points:g} / {g.result.auto_max:g}",
             "marked": f"{sum(i.marked for i in g.result.items if i.kind == 'manual')} of "
                       f"{sum(i.kind == 'manual' for i in g.result.items)}", "total": f"{g.result.total:g}"}
            for g in graded]
    index.write_text(pages.page("index.html", app=False, csp=pages.STATIC_CSP, assignment=a, home=PAGE, title=f"Marking: {a.title or a.slug}",
                                view="index", questions=[i for i in a.items if i.manual], subs=subs))
    return sheet, [index, *written]


def _page(g: Graded, a: Assignment) -> Path:
    """A submission's static page: the same blocks as the app's, figures inline, no controls."""
    from . import pages
    nb, note = pages.notebook(g.folder)
    page = g.folder / PAGE
    page.write_text(pages.page(
        "submission.html", app=False, csp=pages.STATIC_CSP, assignment=a, home=f"../{PAGE}", title=f"{a.slug}: {g.name}",
        view="submission", label=f"{g.name} ({g.result.submission})", result=g.result, note=note,
        answers=pages.answers(a, g.result, nb), attached=pages.attachments(g.folder), file_url=lambda name: name,
        matches=[], prev=None, next=None, nb_link=None))
    return page


# ---- merging the markers' points ---------------------------------------------------------------

def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def merge(out: Path, sheet: Path | None = None) -> list[Result]:
    """Fold the marks into the batch: a filled sheet's, or without one the marking app's
    (OUT/marks.sqlite); returns the results rewritten."""
    out = Path(out)
    graded = load(out)
    a = assignment_of(graded)
    if sheet is None:
        if not (out / marks_db.DB).is_file():
            raise MarkError(f"{out}: no {marks_db.DB} (mark with `grader mark {out}`) and no sheet given")
        with marks_db.opened(out) as con:
            rows = marks_db.rows(con, graded)
        where = [f"{marks_db.DB} ({r['submission']}, {r['item']})" for r in rows]
    else:
        sheet = Path(sheet)
        try:
            df = pd.read_csv(sheet, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as e:
            raise MarkError(f"{sheet}: {e}") from None
        missing = {"submission", "item", "points"} - set(df.columns)
        if missing:
            raise MarkError(f"{sheet}: missing column(s) {', '.join(sorted(missing))}")
        rows = df.to_dict("records")
        where = [f"{sheet.name} row {n} ({r['submission'].strip()}, {r['item'].strip()})"      # row 1 is the header
                 for n, r in enumerate(rows, start=2)]
    return _merge(out, graded, a, rows, where)


def _merge(out: Path, graded: list[Graded], a: Assignment, rows: list[dict], where: list[str]) -> list[Result]:
    by_name = {g.name: g for g in graded}
    by_file = {g.result.submission: g for g in graded}
    errors, marks, seen = [], [], set()
    for row, at in zip(rows, where):
        name, item_id, text = str(row["submission"]).strip(), str(row["item"]).strip(), str(row["points"]).strip()
        if not text:
            continue                                              # not marked yet
        g = by_name.get(name) or by_file.get(name)
        if g is None:
            errors.append(f"{at}: no such submission in {out}")
            continue
        item = next((i for i in g.result.items if i.id == item_id), None)
        if item is None:
            errors.append(f"{at}: no such item")
            continue
        if item.kind == "auto":
            errors.append(f"{at}: scored automatically; only manual and bonus items are marked")
            continue
        value = _number(text)
        if value is None:
            errors.append(f"{at}: {text!r} is not a number")
        elif value < 0 or value > item.max_points + 1e-9:
            errors.append(f"{at}: {value:g} points is outside 0..{item.max_points:g}")
        elif (g.name, item_id) in seen:
            errors.append(f"{at}: marked twice in the sheet")
        else:
            seen.add((g.name, item_id))
            marks.append((g, item, value, str(row.get("comment", "")).strip()))
    if errors:
        raise MarkError("nothing merged:\n" + "\n".join(errors))
    changed: dict[str, Graded] = {}
    for g, item, value, comment in marks:
        if (item.points, item.marked, item.comment) != (value, True, comment):
            item.points, item.marked, item.comment = value, True, comment
            changed[g.name] = g
    for g in graded:                       # a rule fixed since grading reaches every total
        if totals.apply(g.result, a):
            changed[g.name] = g
    for g in changed.values():
        report.write(g.result, a, g.folder)
    _gradebook(out, [g.result for g in graded], a)
    return [g.result for g in changed.values()]


def _gradebook(out: Path, results: list[Result], a: Assignment) -> Path:
    """grades.csv again, in the order it had (new names last)."""
    order: dict[str, int] = {}
    old = out / "grades.csv"
    if old.is_file():
        try:
            order = {s: k for k, s in enumerate(pd.read_csv(old, dtype=str)["submission"])}
        except (ValueError, KeyError):
            order = {}
    results = sorted(results, key=lambda r: (order.get(r.submission, len(order)), r.submission))
    return report.write_gradebook(results, a, out)
