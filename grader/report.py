"""Report stage: Result -> result.json, feedback.md, executed.ipynb, grades.csv and
Gradescope's results.json."""
from __future__ import annotations

import json
import math
from pathlib import Path

import nbformat
import pandas as pd

from .config import Assignment
from .result import Result, Status


def feedback(result: Result, assignment: Assignment) -> str:
    lines = [f"# {assignment.title}", "",
             f"Submission `{result.submission}`: **{result.auto_points:g} / {result.auto_max:g}** automatic points"
             + (f", plus up to {result.manual_max:g} marked by hand." if result.manual_max else "."), ""]
    if result.status not in {Status.GRADED, Status.REVIEW}:
        lines += [f"**Not graded: {result.reason}**", ""]
    elif result.reason:
        lines += [f"Note: {result.reason}", ""]
    lines += ["| item | points | notes |", "|---|---|---|"]
    for it in result.items:
        if it.kind != "auto":
            note = ("bonus, " if it.kind == "bonus" else "") + "marked by hand" + ("" if it.answer else " (no answer text found)")
            lines.append(f"| {it.id} | – / {it.max_points:g} | {note} |")
            continue
        notes = "; ".join(f"{c.name}: {c.message}" for c in it.checks if not c.passed)
        if it.status == Status.REVIEW:
            notes = "your instructor will review this item" + ("; " + notes if notes else "")
        lines.append(f"| {it.id} | {it.points:g} / {it.max_points:g} | {notes.replace('|', '/') or 'all checks passed'} |")
    errors = [c for c in result.cells if c.status in {"error", "timeout", "crashed"}]
    if errors:
        lines += ["", "## Cells that failed while your notebook ran", ""]
        lines += [f"- cell {c.index}: {c.status} – {c.ename}: {c.evalue[:200]}" for c in errors]
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


def gradescope(result: Result) -> dict:
    tests = []
    for it in result.items:
        if it.kind != "auto":
            continue
        out = "\n".join(f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.message}".rstrip(": ") for c in it.checks)
        tests.append({"name": it.id, "score": it.points, "max_score": it.max_points, "output": out})
    return {"score": result.auto_points, "tests": tests}


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


def write(result: Result, assignment: Assignment, folder: Path, notebook=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if result.curves:
        try:
            draw_curves(result.curves, folder / CURVES_PNG)
        except Exception:  # noqa: BLE001 - a figure must not lose a grade; no figure, no link
            result.curves = {}
    (folder / "result.json").write_text(json.dumps(result.to_dict(), indent=1))
    (folder / "feedback.md").write_text(feedback(result, assignment))
    (folder / "results.json").write_text(json.dumps(gradescope(result), indent=1))
    if notebook is not None:
        nbformat.write(notebook, folder / "executed.ipynb")


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
        row["total"] = r.total
        row["status"] = str(r.status)
        row["review"] = review_text(r)
        rows.append(row)
    return pd.DataFrame(rows, columns=["submission", *[i.id for i in assignment.items], "total", "status", "review"])


def write_gradebook(results: list[Result], assignment: Assignment, out: Path) -> Path:
    path = out / "grades.csv"
    gradebook(results, assignment).to_csv(path, index=False)
    return path
