"""Report stage: Result -> result.json, feedback.md, executed.ipynb, grades.csv and
Gradescope's results.json."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd

from .assignment import Assignment
from .result import Result


def feedback(result: Result, assignment: Assignment) -> str:
    lines = [f"# {assignment.title}", "",
             f"Submission `{result.submission}`: **{result.auto_points:g} / {result.auto_max:g}** automatic points"
             + (f", plus up to {result.manual_max:g} marked by hand." if result.manual_max else "."), ""]
    if result.status != "graded":
        lines += [f"**Not graded: {result.reason}**", ""]
    elif result.reason:
        lines += [f"Note: {result.reason}", ""]
    lines += ["| item | points | notes |", "|---|---|---|"]
    for it in result.items:
        if it.kind == "manual":
            note = "marked by hand" + ("" if it.answer else " (no answer text found)")
            lines.append(f"| {it.id} | – / {it.max_points:g} | {note} |")
            continue
        notes = "; ".join(f"{c.name}: {c.message}" for c in it.checks if not c.passed)
        lines.append(f"| {it.id} | {it.points:g} / {it.max_points:g} | {notes.replace('|', '/') or 'all checks passed'} |")
    errors = [c for c in result.cells if c.status in {"error", "timeout", "crashed"}]
    if errors:
        lines += ["", "## Cells that failed while your notebook ran", ""]
        lines += [f"- cell {c.index}: {c.status} – {c.ename}: {c.evalue[:200]}" for c in errors]
    skipped = [c for c in result.cells if c.status == "skipped"]
    if skipped:
        lines += ["", f"{len(skipped)} cell(s) were not run for grading (training, plotting or reporting)."]
    return "\n".join(lines) + "\n"


def gradescope(result: Result) -> dict:
    tests = []
    for it in result.items:
        if it.kind == "manual":
            continue
        out = "\n".join(f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.message}".rstrip(": ") for c in it.checks)
        tests.append({"name": it.id, "score": it.points, "max_score": it.max_points, "output": out})
    return {"score": result.auto_points, "tests": tests}


def write(result: Result, assignment: Assignment, folder: Path, notebook=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(result.to_dict(), indent=1))
    (folder / "feedback.md").write_text(feedback(result, assignment))
    (folder / "results.json").write_text(json.dumps(gradescope(result), indent=1))
    if notebook is not None:
        nbformat.write(notebook, folder / "executed.ipynb")


def gradebook(results: list[Result], assignment: Assignment) -> pd.DataFrame:
    rows = []
    for r in results:
        row = {"submission": r.submission}
        for it in assignment.items:
            found = next((i for i in r.items if i.id == it.id), None)
            row[it.id] = None if (it.manual or found is None) else found.points
        row["total"] = r.total
        row["status"] = r.status
        rows.append(row)
    return pd.DataFrame(rows, columns=["submission", *[i.id for i in assignment.items], "total", "status"])


def write_gradebook(results: list[Result], assignment: Assignment, out: Path) -> Path:
    path = out / "grades.csv"
    gradebook(results, assignment).drop(columns=["status"]).to_csv(path, index=False)
    return path
