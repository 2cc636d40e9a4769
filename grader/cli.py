"""The `grader` command: list, grade, check, validate, demo."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from . import assignment as assignments
from . import batch, detect, expectations, pipeline, report
from .config import ConfigError
from .result import Result, Status

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Grade deep-learning notebook assignments: shapes, causality, parameters, training.")
console = Console(width=None if sys.stdout.isatty() else 160)

DeviceOpt = typer.Option("auto", "--device", help="auto takes a GPU when torch sees one")
ModeOpt = typer.Option("definitions", "--mode", help="definitions: skip training/plotting cells; full: run all")


def _opts(device: str, mode: str, seed: int = 0) -> pipeline.Options:
    if device not in {"auto", "cpu", "cuda"}:
        raise typer.BadParameter("--device must be auto, cpu or cuda")
    if mode not in {"definitions", "full"}:
        raise typer.BadParameter("--mode must be definitions or full")
    dev = pipeline.resolve_device(device)
    return pipeline.Options(mode=mode, device=dev, gpus="0" if dev == "cuda" else "", seed=seed)


def _assignment(slug: str):
    try:
        return assignments.get(slug)
    except KeyError as e:
        console.print(f"[red]{e.args[0]}[/red]")
        raise typer.Exit(2)
    except ConfigError as e:
        console.print(f"[red]assignment configuration error: {e}[/red]")
        raise typer.Exit(2)


@app.command("list")
def list_() -> None:
    """Assignments with their point totals."""
    t = Table("slug", "framework", "items", "auto", "manual", "title")
    for a in assignments.all_assignments().values():
        t.add_row(a.slug, a.framework, str(len(a.items)), f"{a.auto_max:g}", f"{a.manual_max:g}", a.title)
    console.print(t)


def _run_batch(a, paths: list[Path], out: Path, opts, jobs: int, backend: str, resume: bool,
               expand_dirs: bool = True) -> list[Result]:
    expanded = batch.expand(paths) if expand_dirs else paths
    if len(expanded) > 1:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as bar:
            task = bar.add_task(f"grading {a.slug}", total=len(expanded))
            return batch.run(paths, a, out, opts, jobs, backend, resume, on_done=lambda r: bar.advance(task),
                             expand_dirs=expand_dirs)
    return batch.run(paths, a, out, opts, jobs, backend, resume, expand_dirs=expand_dirs)


def _gradebook_table(results: list[Result], a) -> Table:
    df = report.gradebook(results, a)
    t = Table(title=f"{a.slug}  (auto max {a.auto_max:g})")
    for c in df.columns:
        t.add_column(str(c), justify="left" if c in {"submission", "status"} else "right")
    for _, row in df.iterrows():
        t.add_row(*["" if v is None or v != v else (f"{v:g}" if isinstance(v, float) else str(v)) for v in row])
    return t


@app.command()
def grade(slug: str, paths: List[Path] = typer.Argument(..., help="submissions: .ipynb, .py, .zip or folders"),
          out: Path = typer.Option(Path("out"), "--out", help="where grades.csv and per-submission folders go"),
          device: str = DeviceOpt, mode: str = ModeOpt,
          jobs: int = typer.Option(1, "--jobs", "-j", help="submissions graded at once"),
          backend: str = typer.Option("local", "--backend", help="local or ray"),
          resume: bool = typer.Option(True, "--resume/--no-resume", help="skip submissions already graded")) -> None:
    """Grade submissions: DIR/grades.csv, and DIR/<name>/{result.json,feedback.md,executed.ipynb}."""
    a = _assignment(slug)
    try:
        results = _run_batch(a, paths, out, _opts(device, mode), jobs, backend, resume)
    except expectations.ReferenceFailed as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(2)
    console.print(_gradebook_table(results, a))
    console.print(f"wrote {out / 'grades.csv'}")


@app.command()
def check(path: Path, slug: Optional[str] = typer.Option(None, "--assignment", "-a"),
          device: str = DeviceOpt, mode: str = ModeOpt) -> None:
    """A student's self-check: every item with its points and what to fix."""
    if slug is None:
        slug = detect.detect(path)
        if slug is None:
            console.print("[red]Could not tell which assignment this is; pass --assignment.[/red]")
            raise typer.Exit(2)
        console.print(f"assignment: [bold]{slug}[/bold] (detected)")
    a = _assignment(slug)
    import tempfile
    with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp:
        r = batch.run([path], a, Path(tmp), _opts(device, mode), resume=False, expand_dirs=False)[0]
    t = Table("item", "points", "message")
    for it in r.items:
        if it.kind != "auto":
            t.add_row(it.id, f"– / {it.max_points:g}", "marked by hand" + ("" if it.answer else "; no answer text found"))
        else:
            msg = "; ".join(f"{c.name}: {c.message}" for c in it.checks if not c.passed) or "ok"
            style = "green" if it.points >= it.max_points else ("yellow" if it.points > 0 else "red")
            t.add_row(it.id, f"[{style}]{it.points:g} / {it.max_points:g}[/{style}]", msg)
    console.print(t)
    if r.status not in {Status.GRADED, Status.REVIEW}:
        console.print(f"[red]{r.status}: {r.reason}[/red]")
    console.print(f"automatic points: [bold]{r.auto_points:g} / {r.auto_max:g}[/bold]")


@app.command()
def validate(slugs: List[str] = typer.Argument(None), device: str = DeviceOpt) -> None:
    """The reference earns every automatic point and the skeleton none; exit 1 otherwise."""
    chosen = slugs or list(assignments.all_assignments())
    opts = _opts(device, "definitions")
    ok = True
    t = Table("assignment", "submission", "auto points", "expected", "verdict")
    import tempfile
    for slug in chosen:
        a = _assignment(slug)
        with tempfile.TemporaryDirectory(prefix="grader-validate-") as tmp:
            try:
                ref, skel = batch.run([a.reference_path, a.skeleton_path], a, Path(tmp), opts, resume=False,
                                      expand_dirs=False)
            except expectations.ReferenceFailed as e:
                console.print(f"[red]{e}[/red]")
                ok = False
                continue
        for r, want in ((ref, a.auto_max), (skel, 0.0)):
            good = abs(r.auto_points - want) < 1e-6
            ok &= good
            t.add_row(slug, r.submission, f"{r.auto_points:g}", f"{want:g}", "[green]ok[/green]" if good else "[red]FAIL[/red]")
            if not good:
                for it in r.items:
                    for c in it.checks:
                        if (want and not c.passed) or (not want and c.points > 0):
                            console.print(f"  {slug} {r.submission} {it.id}/{c.name}: {c.message or 'passed'}")
    console.print(t)
    raise typer.Exit(0 if ok else 1)


@app.command()
def demo(out: Path = typer.Option(Path("demo-out"), "--out"), device: str = DeviceOpt,
         slugs: List[str] = typer.Argument(None)) -> None:
    """Grade the bundled example submissions of every assignment and print the gradebooks."""
    opts = _opts(device, "definitions")
    for a in assignments.all_assignments().values():
        if slugs and a.slug not in slugs:
            continue
        examples = demo_examples(a)
        console.rule(f"{a.slug}: {len(examples)} example submissions")
        results = _run_batch(a, examples, out / a.slug, opts, 1, "local", True, expand_dirs=False)
        console.print(_gradebook_table(results, a))
    console.print(f"per-submission results and feedback under {out}/")


@app.command("skeleton")
def skeleton_(slugs: List[str] = typer.Argument(None)) -> None:
    """Regenerate the student skeletons from the references' solution markers."""
    from . import skeleton
    for slug in slugs or list(assignments.all_assignments()):
        for p in skeleton.write(_assignment(slug)):
            console.print(f"wrote {p}")


def demo_examples(a) -> list[Path]:
    paths = []
    for e in a.examples:
        if e == "reference":
            if a.reference_path is not None:
                paths.append(a.reference_path)
        elif e == "skeleton":
            paths.append(a.skeleton_path)
        else:
            paths += sorted(a.directory.glob(e))
    return paths


def main() -> None:  # pragma: no cover
    app(sys.argv[1:])
