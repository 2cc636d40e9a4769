"""Manual marking: a marksheet out of a graded batch, and the markers' points merged back.

`marksheet` writes one CSV (a row per submission and manual or bonus item, with the
extracted answer, an empty `points` and a `comment` column) and an HTML page per submission
with each item's answer and the figures the grader made. `merge` reads the filled sheet,
refuses the whole sheet on any bad row (all-or-nothing: half a merge is worse than none),
sets the items' points, recomputes totals by grader.totals, re-signs each result.json and
rewrites grades.csv. A result.json whose signature does not check out is refused: points
the grader did not write must not reach a gradebook."""
from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd

from .. import assignment as assignments
from .. import report, totals
from ..config import Assignment
from ..result import Result

SHEET = "marks.csv"
PAGE = "marking.html"
COLUMNS = ["submission", "file", "item", "kind", "title", "max_points", "points", "comment", "answer"]
IMAGES = {".png", ".jpg", ".jpeg", ".gif"}       # never SVG: it can carry script
_MAGIC = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg"}


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


def _assignment(graded: list[Graded], slug: str | None) -> Assignment:
    slugs = {g.result.assignment for g in graded}
    if len(slugs) != 1 or (slug is not None and slugs != {slug}):
        raise MarkError(f"the results are for {', '.join(sorted(slugs))}" + (f", not {slug}" if slug else ""))
    return assignments.get(slugs.pop())


# ---- the marksheet -----------------------------------------------------------------------------

def marksheet(out: Path, slug: str | None = None, sheet: Path | None = None) -> tuple[Path, list[Path]]:
    """(the CSV, the HTML pages). Points already marked are filled in, so a sheet written
    again after a merge loses nothing."""
    out = Path(out)
    graded = load(out)
    a = _assignment(graded, slug)
    rows, pages = [], []
    for g in graded:
        for it in g.result.items:
            if it.kind == "auto":
                continue
            rows.append({"submission": g.name, "file": g.result.submission, "item": it.id, "kind": it.kind,
                         "title": it.title, "max_points": it.max_points,
                         "points": f"{it.points:g}" if it.marked else "", "comment": it.comment,
                         "answer": it.answer})
        pages.append(_page(g, a))
    sheet = Path(sheet) if sheet else out / SHEET
    pd.DataFrame(rows, columns=COLUMNS).to_csv(sheet, index=False)
    index = out / PAGE
    index.write_text(_html(f"Marking: {a.title or a.slug}", "<ul>" + "".join(
        f'<li><a href="{html.escape(g.name)}/{PAGE}">{html.escape(g.name)}</a> '
        f"({html.escape(g.result.submission)}, {g.result.status})</li>" for g in graded) + "</ul>"))
    return sheet, [index, *pages]


def _html(title: str, body: str) -> str:
    return (f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto}pre{white-space:pre-wrap;"
            "background:#f4f4f4;padding:.5em}img{max-width:100%}</style>"
            f"<h1>{html.escape(title)}</h1>{body}\n")


def _notebook_images(path: Path, limit: int = 40) -> list[str]:
    """PNG/JPEG outputs kept in the executed notebook, as data URIs (checked to be images)."""
    if not path.is_file():
        return []
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable notebook only loses its figures
        return []
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            for mime in ("image/png", "image/jpeg"):
                data = o.get("data", {}).get(mime)
                if not isinstance(data, str) or len(out) >= limit:
                    continue
                try:
                    raw = base64.b64decode(data, validate=False)
                except ValueError:
                    continue
                if any(raw.startswith(m) and _MAGIC[m] == mime for m in _MAGIC):
                    out.append(f"data:{mime};base64,{base64.b64encode(raw).decode()}")
    return out


def _page(g: Graded, a: Assignment) -> Path:
    r = g.result
    parts = [f"<p>{html.escape(r.submission)}: status {r.status}, automatic points {r.auto_points:g} / "
             f"{r.auto_max:g}" + (f", {r.minutes_late:g} minutes late" if r.minutes_late else "") + "</p>"]
    for it in r.items:
        if it.kind == "auto":
            continue
        mark = f"marked {it.points:g}" if it.marked else "not marked"
        parts.append(f"<h2>{html.escape(it.id)} ({it.kind}, {it.max_points:g} points, {mark})</h2>"
                     f"<p><i>{html.escape(it.title)}</i></p>"
                     + (f"<pre>{html.escape(it.answer)}</pre>" if it.answer else "<p>(no answer text found)</p>")
                     + (f"<p>comment: {html.escape(it.comment)}</p>" if it.comment else ""))
    files = sorted(p.name for p in g.folder.iterdir() if p.suffix.lower() in IMAGES and p.is_file()
                   and not p.is_symlink())
    embedded = _notebook_images(g.folder / "executed.ipynb")
    if files or embedded:
        parts.append("<h2>Figures</h2>")
        parts += [f'<figure><img src="{html.escape(f)}"><figcaption>{html.escape(f)}'
                  f"{' (the grader&#39;s training runs; the reference dashed)' if f == report.CURVES_PNG else ''}"
                  "</figcaption></figure>" for f in files]
        parts += [f'<figure><img src="{uri}"><figcaption>from the notebook\'s outputs</figcaption></figure>'
                  for uri in embedded]
    page = g.folder / PAGE
    page.write_text(_html(f"{a.slug}: {g.name}", "\n".join(parts)))
    return page


# ---- merging the markers' points ---------------------------------------------------------------

def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def merge(out: Path, sheet: Path) -> list[Result]:
    """Fold the sheet's points into the batch; returns the results rewritten."""
    out, sheet = Path(out), Path(sheet)
    graded = load(out)
    a = _assignment(graded, None)
    by_name = {g.name: g for g in graded}
    by_file = {g.result.submission: g for g in graded}
    try:
        df = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as e:
        raise MarkError(f"{sheet}: {e}") from None
    missing = {"submission", "item", "points"} - set(df.columns)
    if missing:
        raise MarkError(f"{sheet}: missing column(s) {', '.join(sorted(missing))}")
    errors, marks, seen = [], [], set()
    for n, row in enumerate(df.to_dict("records"), start=2):      # row 1 is the header
        name, item_id, text = row["submission"].strip(), row["item"].strip(), row["points"].strip()
        where = f"{sheet.name} row {n} ({name}, {item_id})"
        if not text:
            continue                                              # not marked yet
        g = by_name.get(name) or by_file.get(name)
        if g is None:
            errors.append(f"{where}: no such submission in {out}")
            continue
        item = next((i for i in g.result.items if i.id == item_id), None)
        if item is None:
            errors.append(f"{where}: no such item")
            continue
        if item.kind == "auto":
            errors.append(f"{where}: scored automatically; only manual and bonus items are marked")
            continue
        value = _number(text)
        if value is None:
            errors.append(f"{where}: {text!r} is not a number")
        elif value < 0 or value > item.max_points + 1e-9:
            errors.append(f"{where}: {value:g} points is outside 0..{item.max_points:g}")
        elif (g.name, item_id) in seen:
            errors.append(f"{where}: marked twice in the sheet")
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
