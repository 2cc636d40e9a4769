"""The instructor's commands after grading: mark, marksheet, merge, similarity, export gradescope|canvas.

Kept apart from cli.py (which registers them with `register(app)`) so that the commands
grading depends on and the ones that carry marks and grades elsewhere change separately."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import assignment as assignments
from .. import batch
from ..config import ConfigError
from . import canvas, gradescope, marking, similarity, times

console = Console()
export_app = typer.Typer(no_args_is_help=True, help="Autograders and gradebooks for other systems.")


def _fail(msg: str) -> None:
    console.print(msg, style="red", markup=False, highlight=False)
    raise typer.Exit(2)


def _get(slug: str):
    try:
        return assignments.get(slug)
    except (KeyError, ConfigError) as e:
        _fail(str(e.args[0] if e.args else e))


def marksheet(slug: str, out_dir: Path = typer.Argument(..., help="a `grader grade --out` folder"),
              sheet: Optional[Path] = typer.Option(None, "--sheet", help="where the CSV goes (default OUT_DIR/marks.csv)")) -> None:
    """A marking sheet (CSV: a row per submission and manual/bonus item) and an HTML page per submission."""
    _get(slug)
    try:
        path, pages = marking.marksheet(out_dir, slug, sheet)
    except marking.MarkError as e:
        _fail(str(e))
    console.print(f"wrote {path} and {len(pages)} page(s): start at {pages[0]}", highlight=False)


def merge(out_dir: Path = typer.Argument(..., help="the `grader grade --out` folder the marks are for"),
          sheet: Optional[Path] = typer.Argument(None, help="a filled marking sheet (default: the marks entered "
                                                           "in `grader mark`, OUT_DIR/marks.sqlite)")) -> None:
    """Fold the markers' points into each result.json (re-signed), grades.csv and feedback.md."""
    try:
        changed = marking.merge(out_dir, sheet)
    except marking.MarkError as e:
        _fail(str(e))
    console.print(f"merged: {len(changed)} result(s) rewritten; wrote {out_dir / 'grades.csv'}", highlight=False)


def mark(out_dir: Path = typer.Argument(..., help="a `grader grade --out` folder"),
         port: int = typer.Option(8000, "--port"),
         host: str = typer.Option("127.0.0.1", "--host", help="0.0.0.0 lets other machines in (no login: "
                                                               "only on a network you trust)"),
         names: bool = typer.Option(False, "--names/--hide-names", help="show the submissions' names "
                                                                         "(hidden by default)"),
         marker: Optional[str] = typer.Option(None, "--marker", help="who is marking (default: your user name)")) -> None:
    """Mark in the browser: each hand-marked item's answer beside its points, comment and rubric
    (OUT_DIR/marks.sqlite); then `grader merge OUT_DIR` or the page's Merge button."""
    from . import app
    try:
        marking.assignment_of(marking.load(out_dir))
    except marking.MarkError as e:
        _fail(str(e))
    console.print(f"marking {out_dir} at http://{'127.0.0.1' if host in {'0.0.0.0', '::'} else host}:{port}/ "
                  "(Ctrl+C stops; marks are saved as they are entered)", highlight=False)
    app.serve(out_dir, host, port, names, marker)


def similarity_(slug: str, paths: List[Path] = typer.Argument(..., help="submissions: .ipynb, .py, .zip or folders "
                                                                  "(a folder of submissions means each one in it)"),
                out: Path = typer.Option(..., "--out", help="where similarity.csv and similarity.html go"),
                max_share: Optional[int] = typer.Option(None, "--max-share", help="a passage in more submissions "
                                                        "than this is shared code (default 10, or half a batch "
                                                        "of fewer than 20)"),
                top: int = typer.Option(200, "--top", help="pairs shown in similarity.html")) -> None:
    """Which submissions share code beyond the skeleton: OUT/similarity.csv (every pair) and
    OUT/similarity.html (the pairs ranked, with their matched passages side by side)."""
    report_similarity(_get(slug), batch.expand(paths), out, max_share, top)


def report_similarity(a, paths: list[Path], out: Path, max_share: int | None = None,
                      top: int = 200) -> None:
    """Run it and say what it found (also after `grader grade --similarity`)."""
    sim = similarity.run(a, paths, out, max_share, top)
    for msg in sim.notes:
        console.print(f"shared code not read, so not discounted: {msg}", style="yellow", markup=False, highlight=False)
    for c in sim.codes:
        for msg in c.problems:
            console.print(f"{c.name}: {msg}", style="yellow", markup=False, highlight=False)
    table = Table("score", "a", "b", "passages", title=f"most similar of {len(sim.names)} submissions")
    for p in [p for p in sim.pairs if p.score][:10]:     # names as text: a file may be called "[red]"
        table.add_row(f"{p.score:.2f}", Text(sim.names[p.a]), Text(sim.names[p.b]), str(len(p.regions)))
    console.print(table)
    console.print(f"wrote {out / similarity.CSV} and {out / similarity.HTML}", highlight=False)


@export_app.command("gradescope")
def export_gradescope(slug: str, out: Path = typer.Option(Path("."), "--out", help="folder for autograder.zip"),
                      visibility: str = typer.Option("after_published", "--visibility",
                                                     help="of hidden checks' tests: after_published|after_due_date|hidden"),
                      deadline: Optional[str] = typer.Option(None, "--deadline",
                                                             help="replaces the toml's deadline (ISO with timezone), "
                                                                  "or 'gradescope' for Gradescope's due date")) -> None:
    """autograder.zip per Gradescope's autograder specification."""
    a = _get(slug)
    try:
        path = gradescope.build(a, out, visibility, deadline)
    except (ValueError, times.TimesError) as e:
        _fail(str(e))
    console.print(f"wrote {path}", highlight=False)


@export_app.command("canvas")
def export_canvas(slug: str, out_dir: Path = typer.Argument(..., help="a `grader grade --out` folder"),
                  roster: Path = typer.Option(..., "--roster", help="CSV: submission, Student, ID, SIS User ID, "
                                                                    "SIS Login ID, Section"),
                  column: Optional[str] = typer.Option(None, "--column", help="the Canvas assignment column "
                                                                               "(default: the slug)"),
                  to: Optional[Path] = typer.Option(None, "--out", help="default OUT_DIR/canvas.csv"),
                  points_possible: bool = typer.Option(False, "--points-possible",
                                                       help="add Canvas's 'Points Possible' row")) -> None:
    """A gradebook CSV in Canvas's import format (totals by the assignment's rules)."""
    a = _get(slug)
    try:
        graded = marking.load(out_dir)
        if {g.result.assignment for g in graded} != {slug}:
            _fail(f"{out_dir} holds results for {', '.join(sorted({g.result.assignment for g in graded}))}")
        possible = a.total.cap if a.total.cap is not None else a.auto_max + a.manual_max
        ex = canvas.gradebook(graded, canvas.read_roster(roster), column or slug,
                              possible if points_possible else None)
    except marking.MarkError as e:
        _fail(str(e))
    path = to or out_dir / "canvas.csv"
    ex.table.to_csv(path, index=False)
    console.print(f"wrote {path}: {len(ex.table)} row(s)", highlight=False)
    if ex.unmatched:
        console.print(f"[yellow]no roster row for: {', '.join(ex.unmatched)}[/yellow]", highlight=False)
    if ex.no_result:
        console.print(f"[yellow]no result for: {', '.join(ex.no_result)} (left empty)[/yellow]", highlight=False)
    if ex.unmarked:
        console.print(f"[yellow]{len(ex.unmarked)} submission(s) have manual items not yet marked (counted as 0): "
                      f"run `grader marksheet` / `grader merge`[/yellow]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("marksheet")(marksheet)
    app.command("merge")(merge)
    app.command("mark")(mark)
    app.command("similarity")(similarity_)
    app.add_typer(export_app, name="export")
