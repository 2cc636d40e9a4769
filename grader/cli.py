"""The `grader` command: list, grade, check, validate, demo (the instructor's commands: grader/instructor/)."""
from __future__ import annotations

import dataclasses
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
from rich.text import Text

from . import assignment as assignments
from . import batch, detect, expectations, pipeline
from .config import ConfigError
from .result import Result, Status
from .student import bundle, feedback

app = typer.Typer(add_completion=False, no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 160)

DeviceOpt = typer.Option("auto", "--device", help="auto takes a GPU when torch sees one")
ModeOpt = typer.Option("definitions", "--mode", help="definitions: skip training/plotting cells; full: run all")
AliasOpt = typer.Option(None, "--alias", help="Theirs=Ours: grade the student's `Theirs` as the contract's `Ours`")


def _opts(device: str, mode: str, seed: int = 0, aliases: list[str] | None = None) -> pipeline.Options:
    if device not in {"auto", "cpu", "cuda"}:
        raise typer.BadParameter("--device must be auto, cpu or cuda")
    if mode not in {"definitions", "full"}:
        raise typer.BadParameter("--mode must be definitions or full")
    mapped: dict[str, list[str]] = {}
    for a in aliases or []:
        theirs, sep, ours = a.partition("=")
        if not sep or not theirs.strip().isidentifier() or not ours.strip().isidentifier():
            raise typer.BadParameter(f"--alias {a!r}: expected Theirs=Ours")
        mapped.setdefault(ours.strip(), []).append(theirs.strip())
    dev = pipeline.resolve_device(device)
    return pipeline.Options(mode=mode, device=dev, gpus="0" if dev == "cuda" else "", seed=seed, aliases=mapped)


@app.callback()
def _root(assignments_dir: Optional[Path] = typer.Option(
        None, "--assignments", help="a folder of <slug>/assignment.toml (default: the repository's, or "
                                    "$GRADER_ASSIGNMENTS)")) -> None:
    """Grade deep-learning notebook assignments: shapes, causality, parameters, training."""
    if assignments_dir is not None:
        import os
        os.environ["GRADER_ASSIGNMENTS"] = str(assignments_dir.resolve())


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
               expand_dirs: bool = True, times=None) -> list[Result]:
    expanded = batch.expand(paths) if expand_dirs else paths
    if len(expanded) > 1:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as bar:
            task = bar.add_task(f"grading {a.slug}", total=len(expanded))
            return batch.run(paths, a, out, opts, jobs, backend, resume, on_done=lambda r: bar.advance(task),
                             expand_dirs=expand_dirs, times=times)
    return batch.run(paths, a, out, opts, jobs, backend, resume, expand_dirs=expand_dirs, times=times)


def _gradebook_table(results: list[Result], a) -> Table:
    """A summary that fits a terminal: submission, auto, manual, total, status and the items
    that lost points (the full table, a column per item, is grades.csv)."""
    t = Table(title=f"{a.slug}: {len(results)} submission(s)", caption="full table: grades.csv")
    longest = max((len(r.submission) for r in results), default=10)
    t.add_column("submission", min_width=min(longest, 40), overflow="fold")     # folded, never cut to "s…"
    for c in ("auto", "manual", "total"):
        t.add_column(c, justify="right", no_wrap=True)
    t.add_column("status", no_wrap=True)
    t.add_column("lost points", min_width=24, ratio=1, overflow="fold")
    for r in results:
        hand = [i for i in r.items if i.kind == "manual"]
        unmarked = sum(not i.marked for i in hand)
        manual = (f"{r.manual_points:g}/{r.manual_max:g}" if not unmarked else
                  "unmarked" if unmarked == len(hand) else f"{r.manual_points:g} ({unmarked} unmarked)") if hand else ""
        lost = [f"{i.id} -{round(i.max_points - i.points, 2):g}" for i in r.items
                if i.kind != "bonus" and (i.kind == "auto" or i.marked) and i.points < i.max_points - 1e-9]
        total = f"{r.total:g}" + (f" (-{r.late_penalty:g} late)" if r.late_penalty else "")
        t.add_row(r.submission, f"{r.auto_points:g}/{r.auto_max:g}", manual, total, str(r.status),
                  ", ".join(lost) or "-")
    return t


@app.command()
def grade(slug: str, paths: List[Path] = typer.Argument(..., help="submissions: .ipynb, .py, .zip or folders"),
          out: Path = typer.Option(Path("out"), "--out", help="where grades.csv and per-submission folders go"),
          device: str = DeviceOpt, mode: str = ModeOpt,
          jobs: int = typer.Option(1, "--jobs", "-j", help="submissions graded at once"),
          backend: str = typer.Option("local", "--backend", help="local or ray"),
          resume: bool = typer.Option(True, "--resume/--no-resume", help="skip submissions already graded"),
          alias: Optional[List[str]] = AliasOpt,
          times_csv: Optional[Path] = typer.Option(None, "--times", help="CSV submission,submitted_at (ISO-8601 "
                                                   "with timezone): late penalties by the assignment's late policy"),
          deadline: Optional[str] = typer.Option(None, "--deadline", help="replaces the late policy's deadline, e.g. "
                                                 "2023-04-14T23:59:00+08:00; without --times, files' mtimes"),
          similarity: bool = typer.Option(False, "--similarity", help="then compare every pair: "
                                          "OUT/similarity.csv and OUT/similarity.html")) -> None:
    """Grade submissions: DIR/grades.csv, and DIR/<name>/{result.json,feedback.md,executed.ipynb}."""
    from .instructor import times as submission_times
    a = _assignment(slug)
    try:
        when = submission_times.for_batch(a, times_csv, deadline)
    except submission_times.TimesError as e:
        console.print(str(e), style="red", markup=False)
        raise typer.Exit(2)
    try:
        results = _run_batch(a, paths, out, _opts(device, mode, aliases=alias), jobs, backend, resume, times=when)
    except expectations.ReferenceFailed as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(2)
    console.print(_gradebook_table(results, a))
    _sandbox_line()
    if when is not None and when.missing:
        console.print(f"[yellow]no time in {times_csv} for: {', '.join(when.missing)}[/yellow]")
    if when is not None and a.late is None:
        console.print(f"[yellow]{a.slug} has no late policy: minutes_late recorded, no penalty[/yellow]")
    console.print(f"wrote {out / 'grades.csv'}")
    if similarity:
        instructor.report_similarity(a, batch.expand(paths), out)


def _sandbox_line() -> None:
    """What the sandbox enforced on this machine (also in every result.json), in red where
    the kernels ran without namespaces."""
    from .run import sandbox
    d = sandbox.describe()
    if d["mode"] == "rlimits-only":
        console.print(f"[red]sandbox: NO namespaces here ({d['problem'] or 'bwrap unavailable'}): kernels ran with "
                      "rlimits, a new session and the watchdogs only; network, filesystem view and uid were not "
                      "confined[/red]")
    else:
        console.print(f"sandbox: bubblewrap ({d['mode']}): namespaces {', '.join(d['namespaces'])}; "
                      "allow-list view, read-only system, private /tmp, unprivileged uid, no capabilities, "
                      "rlimits on processes, file size and memory")


@app.command()
def check(path: Path, slug: Optional[str] = typer.Option(None, "--assignment", "-a"),
          device: str = DeviceOpt, mode: str = ModeOpt, alias: Optional[List[str]] = AliasOpt) -> None:
    """A student's self-check: the public checks, with their points and what to fix (run it in a
    release bundle: `grader --assignments BUNDLE check my.ipynb`)."""
    from .run import sandbox
    if slug is None:
        slug = detect.detect(path)
        if slug is None:
            console.print("[red]Could not tell which assignment this is; pass --assignment.[/red]")
            raise typer.Exit(2)
        console.print(f"assignment: [bold]{slug}[/bold] (detected)")
    a = _assignment(slug)
    differs = bundle.mismatch(assignments.assignments_root(), a.framework)   # '' outside a bundle
    if differs:
        console.print(differs, style="yellow", markup=False)
    if sandbox.describe()["mode"] == "rlimits-only":
        console.print("[yellow]no sandbox here (bwrap or user namespaces are missing): your notebook runs as your "
                      "own user, with time and memory limits only. That is fine for your own code.[/yellow]")
    opts = dataclasses.replace(_opts(device, mode, aliases=alias), visibility=("public",))
    import shutil
    import tempfile
    with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp:
        modules = detect.beside(path)
        if modules:          # the notebook imports the modules beside it (models.py): checked together
            mine = Path(tmp) / "submission" / Path(path).stem
            mine.mkdir(parents=True)
            for p in [Path(path), *modules]:
                shutil.copy2(p, mine / p.name)
            path = mine
        try:
            (Path(tmp) / "out").mkdir()
            r = batch.run([path], a, Path(tmp) / "out", opts, resume=False, expand_dirs=False)[0]
        except expectations.ReferenceFailed as e:
            console.print(f"[red]{e}[/red]")
            raise typer.Exit(2)
    fb = feedback.summarize(r.items, a)
    t = Table("item", "points", "message")
    style = {"pass": "green", "partial": "yellow", "fail": "red", "later": ""}
    for row in fb.rows:
        t.add_row(row.item, Text(row.score, style=style[row.state]), Text(row.message))
    console.print(t)
    if r.status not in {Status.GRADED, Status.REVIEW}:
        console.print(f"[red]{r.status}: {r.reason}[/red]")
    console.print(fb.total, style="bold", markup=False)


@app.command()
def release(slugs: List[str] = typer.Argument(None), out: Path = typer.Option(..., "--out", help="the bundle's folder"),
            device: str = DeviceOpt) -> None:
    """Write the student bundle: skeleton, public data and checks, and the reference's
    observations for the public checks only (no reference, no hidden check or expectation)."""
    from .instructor import release as rel
    opts = _opts(device, "definitions")
    out.mkdir(parents=True, exist_ok=True)
    for slug in slugs or list(assignments.all_assignments()):
        try:
            folder = rel.release(_assignment(slug), out, opts)
        except (rel.ReleaseError, expectations.ReferenceFailed) as e:
            console.print(f"[red]{e}[/red]")
            raise typer.Exit(2)
        console.print(f"wrote {folder}")


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
         jobs: int = typer.Option(2, "--jobs", "-j", help="submissions graded at once"),
         slugs: List[str] = typer.Argument(None)) -> None:
    """Grade the bundled example submissions of every assignment and print the gradebooks."""
    opts = _opts(device, "definitions")
    chosen = [a for a in assignments.all_assignments().values() if not slugs or a.slug in slugs]
    examples = {a.slug: demo_examples(a) for a in chosen}
    tables = []
    with Progress(TextColumn("{task.description:60}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        tasks = {a.slug: bar.add_task(f"{a.slug}: waiting", total=len(examples[a.slug]) + 1, start=False)
                 for a in chosen}
        for a in chosen:
            t = tasks[a.slug]
            bar.start_task(t)
            bar.update(t, description=f"{a.slug}: expectations (the reference through the probes)")
            try:
                expectations.get(a, opts)
            except expectations.ReferenceFailed as e:
                console.print(f"[red]{e}[/red]")
                raise typer.Exit(2)
            bar.advance(t)
            bar.update(t, description=f"{a.slug}: grading {len(examples[a.slug])} examples")
            results = batch.run(examples[a.slug], a, out / a.slug, opts, jobs, "local", True,
                                on_done=lambda r, t=t: bar.advance(t), expand_dirs=False)
            bar.update(t, description=f"{a.slug}: done")
            tables.append(_gradebook_table(results, a))
    for table in tables:
        console.print(table)
    _sandbox_line()
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


# the instructor's commands after grading: marksheet, merge, export gradescope|canvas
from .instructor import commands as instructor  # noqa: E402

instructor.register(app)
