"""Report stage: Result -> result.json, feedback.md, executed.ipynb, grades.csv and
Gradescope's results.json."""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import tempfile
from pathlib import Path

import nbformat
import pandas as pd

from .config import Assignment
from .result import Result, Status

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def clean(text: str, limit: int = 300) -> str:
    """Text that came from student code (exception messages), made safe for Markdown and
    HTML: one line, no control or bidi characters, no markup, at most `limit` characters."""
    line = _CONTROL.sub("", str(text)).replace("\r", " ").replace("\n", " ").strip()
    line = line.replace("|", "/").replace("<", "‹").replace(">", "›").replace("`", "'")
    return line[:limit] + ("…" if len(line) > limit else "")


def feedback(result: Result, assignment: Assignment) -> str:
    lines = [f"# {assignment.title}", "",
             f"Submission `{result.submission}`: **{result.auto_points:g} / {result.auto_max:g}** automatic points"
             + (f", plus up to {result.manual_max:g} marked by hand." if result.manual_max else "."), ""]
    if late_text(result):
        lines += [late_text(result), ""]
    if not any(i.kind == "manual" and not i.marked for i in result.items):
        lines += [f"**Total: {result.total:g}**", ""]
    if result.status not in {Status.GRADED, Status.REVIEW}:
        lines += [f"**Not graded: {clean(result.reason, 500)}**", ""]
    elif result.reason:
        lines += [f"Note: {clean(result.reason, 500)}", ""]
    lines += ["| item | points | notes |", "|---|---|---|"]
    for it in result.items:
        if it.kind != "auto":
            note = ("bonus, " if it.kind == "bonus" else "") + "marked by hand" + ("" if it.answer else " (no answer text found)")
            if it.marked and it.comment:
                note += ": " + clean(it.comment, 500)
            lines.append(f"| {it.id} | {f'{it.points:g}' if it.marked else '–'} / {it.max_points:g} | {note} |")
            continue
        notes = "; ".join(f"{c.name}: {clean(c.message)}" for c in it.checks if not c.passed)
        if it.status == Status.REVIEW:
            notes = "your instructor will review this item" + ("; " + notes if notes else "")
        lines.append(f"| {it.id} | {it.points:g} / {it.max_points:g} | {notes.replace('|', '/') or 'all checks passed'} |")
    errors = [c for c in result.cells if c.status in {"error", "timeout", "crashed"}]
    if errors:
        lines += ["", "## Cells that failed while your notebook ran", ""]
        lines += [f"- cell {c.index}: {c.status} – {clean(c.ename, 60)}: {clean(c.evalue, 200)}" for c in errors]
    if result.curves:
        lines += ["", "## Training curves (the grader's own short runs)", "",
                  "Your models trained by the grader under the same seeded budget as the reference's "
                  "(dashed); attached for the hand-marked items.", "", f"![training curves]({CURVES_PNG})"]
    answered = [it for it in result.items if it.kind == "manual" and it.answer]
    if answered:
        lines += ["", "## Your answers to the hand-marked items", ""]
        for it in answered:
            lines += [f"### {it.id}", "", it.answer, ""]
    skipped = [c for c in result.cells if c.status == "skipped"]
    if skipped:
        lines += ["", f"{len(skipped)} cell(s) were not run for grading (training, plotting or reporting)."]
    return "\n".join(lines) + "\n"


def late_text(result: Result) -> str:
    """One line on lateness for the student ('' when on time)."""
    if result.status == Status.NOT_ACCEPTED:
        return "Handed in after the last time the late policy accepts: not accepted (total 0)."
    if result.minutes_late <= 0:
        return ""
    h, m = divmod(result.minutes_late, 60)
    when = (f"{int(h)} h " if h else "") + f"{m:.1f} min"
    return f"Handed in {when} after the deadline" + \
        (f": {result.late_penalty:g} points deducted (late policy)." if result.late_penalty else ".")


def gradescope(result: Result, hidden: str = "after_published") -> dict:
    """Gradescope's results.json: a test per check of the automatic items, hidden checks
    with visibility `hidden` (after_published, after_due_date or hidden), public ones
    visible; the score is the total by grader.totals (late penalty included)."""
    tests = []
    for it in result.items:
        if it.kind != "auto":
            continue
        for c in it.checks:
            tests.append({"name": f"{it.id}: {c.name}", "score": c.points, "max_score": c.max_points,
                          "status": "passed" if c.passed else "failed",
                          "output": "" if c.passed else clean(c.message, 1000),
                          "visibility": "visible" if c.visibility == "public" else hidden})
    doc = {"score": result.total, "tests": tests}
    if late_text(result):
        doc["output"] = late_text(result)
    return doc


CURVES_PNG = "curves.png"
_MAX_POINTS = 2000


def _series(value) -> dict:
    """The numeric series of a training observation (untrusted: lists of finite numbers only)."""
    if not isinstance(value, dict):
        return {}
    out = {}
    for k, v in value.items():
        if (isinstance(v, list) and 1 < len(v) <= _MAX_POINTS
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)):
            out[str(k)[:40]] = [float(x) for x in v]
    return out


def training_curves(assignment: Assignment, observations: dict, expected: dict) -> dict:
    """probe key -> the student's and the reference's curves, for every `training` check's probe."""
    curves = {}
    for c in assignment.checks:
        key = c.probe
        if c.kind != "training" or key in curves:
            continue
        obs = observations.get(key)
        series = _series(obs.value) if obs is not None and obs.ok else {}
        if not series:
            continue
        want = expected.get(key)
        args = c.observe.args
        title = str(args.get("target") or (want or {}).get("model") or key)
        curves[key] = {"title": title, "series": series, "reference": _series(want)}
    return curves


def draw_curves(curves: dict, path: Path) -> None:
    """One row per training run, one panel per series; the reference's dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    runs = [v for k, v in curves.items() if isinstance(v, dict) and v.get("series")]
    ncols = max(len(r["series"]) for r in runs)
    fig = Figure(figsize=(4 * ncols, 3 * len(runs)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(runs), ncols, squeeze=False)
    for row, run in zip(axes, runs):
        for ax, (name, ys) in zip(row, run["series"].items()):
            ax.plot(range(len(ys)), ys, marker="o", label="yours")
            ref = run["reference"].get(name)
            if ref:
                ax.plot(range(len(ref)), ref, linestyle="--", color="grey", label="reference")
            ax.set_title(f"{run['title']}: {name}", fontsize=9)
            ax.set_xlabel("epoch" if len(ys) < 200 else "step")
            ax.legend(fontsize=7)
        for ax in row[len(run["series"]):]:
            ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


KEY_FILE = ".grader-key"


def _key(out: Path) -> bytes:
    """The batch folder's signing key (made once, readable by the grader only). Jobs that
    finish together race to make it: each writes a whole key to a file of its own and links it
    into place, so the key appears complete or not at all, and the first link wins."""
    path = out / KEY_FILE
    if not path.is_file():
        fd, tmp = tempfile.mkstemp(dir=out, prefix=".grader-key-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(32))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    return path.read_bytes()


def signature(doc: dict, out: Path) -> str:
    body = json.dumps({k: v for k, v in doc.items() if k != "signature"}, sort_keys=True).encode()
    return hmac.new(_key(out), body, hashlib.sha256).hexdigest()


def read_signed(path: Path, out: Path) -> dict | None:
    """A result.json this grader wrote (its signature checks out), or None."""
    try:
        if path.is_symlink():
            return None
        doc = json.loads(path.read_text())
        sig = doc.get("signature", "")
        return doc if isinstance(sig, str) and hmac.compare_digest(sig, signature(doc, out)) else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None


SUBMITTED = "submitted.ipynb"     # the notebook as handed in, its stored outputs kept: the marker's view


def write(result: Result, assignment: Assignment, folder: Path, notebook=None, submitted=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if result.curves:
        try:
            draw_curves(result.curves, folder / CURVES_PNG)
        except Exception:  # noqa: BLE001 - a figure must not lose a grade; no figure, no link
            result.curves = {}
    doc = result.to_dict()
    doc["signature"] = signature(doc, folder.parent)
    (folder / "result.json").write_text(json.dumps(doc, indent=1))
    (folder / "feedback.md").write_text(feedback(result, assignment))
    (folder / "results.json").write_text(json.dumps(gradescope(result), indent=1))
    if notebook is not None:
        nbformat.write(notebook, folder / "executed.ipynb")
    if submitted is not None:
        nbformat.write(submitted, folder / SUBMITTED)


def review_text(r: Result) -> str:
    """The review column: what a marker should look at, in a few words each."""
    return "; ".join(f"{x.item + ': ' if x.item else ''}{x.reason}" for x in r.review)


def gradebook(results: list[Result], assignment: Assignment) -> pd.DataFrame:
    rows = []
    for r in results:
        row = {"submission": r.submission}
        for it in assignment.items:
            found = next((i for i in r.items if i.id == it.id), None)
            row[it.id] = None if found is None or (it.manual and not found.marked) else found.points
        row.update({k: getattr(r, k) for k in TOTAL_COLUMNS})
        row["status"] = str(r.status)
        row["review"] = review_text(r)
        rows.append(row)
    return pd.DataFrame(rows, columns=["submission", *[i.id for i in assignment.items], *TOTAL_COLUMNS,
                                       "status", "review"])


# how the total is formed (grader.totals), beside it in grades.csv
TOTAL_COLUMNS = ("manual_points", "bonus_points", "late_days_earned", "minutes_late", "late_penalty", "total")


def write_gradebook(results: list[Result], assignment: Assignment, out: Path) -> Path:
    path = out / "grades.csv"
    gradebook(results, assignment).to_csv(path, index=False)
    return path
