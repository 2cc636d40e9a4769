"""One submission, one pipeline: load -> execute -> probe -> judge -> (report)."""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, gaps, inline, judge, names, probe, report, scan, submission
from .config import Assignment
from .result import Result, Status
from .run import execute, sandbox, zygote

INSIDE_ASSIGNMENT = sandbox.INSIDE_ASSIGNMENT


@dataclass
class Options:
    mode: str = "definitions"  # or "full"
    device: str = "cpu"  # resolved: cpu or cuda
    gpus: str = ""
    seed: int = 0
    threads: int = 0
    slot: int | None = None    # the running job's sandbox slot (its uid); None: one is leased (run/slots.py)
    visibility: tuple[str, ...] = ("public", "hidden")   # which checks run (check: public only)
    aliases: dict = field(default_factory=dict)          # contract name -> the student's names (--alias)


@dataclass
class Observed:
    submission: submission.Submission
    execution: execute.Execution | None
    observations: dict
    status: Status
    reason: str
    timings: dict
    events: list = field(default_factory=list)      # what the armed library reported at top level
    problems: list = field(default_factory=list)    # tampered channels


def resolve_device(device: str) -> str:
    if device == "auto":
        try:
            import torch
            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            return "cpu"
    return device


def warm_pool(assignment: Assignment, opts: Options, root: Path) -> "zygote.Pool | None":
    """Zygotes for a batch's slots, where this machine allows them."""
    if not zygote.Pool.usable(opts.device):
        return None
    try:
        source = names.reference_code(assignment)
    except (OSError, ValueError):
        source = ""
    return zygote.Pool(assignment.framework, zygote.preload(assignment.framework, source), root, opts.threads,
                       assignment.budget.memory_mb, mounts(assignment))


def mounts(assignment: Assignment) -> list[tuple[str, str]]:
    """What of the assignment's folder a kernel sees, read-only: its data and its Python
    helpers; never its examples (mutants of the reference) or its skeleton."""
    d = assignment.directory
    out = [(str(d / "data"), f"{INSIDE_ASSIGNMENT}/data")] if (d / "data").is_dir() else []
    out += [(str(p), f"{INSIDE_ASSIGNMENT}/{p.name}") for p in sorted(d.glob("*.py"))]
    return out


@dataclass
class Prepared:
    """A loaded submission with its kernel already started (a batch prepares the next one
    while the current one is graded)."""
    sub: submission.Submission
    session: execute.Session | None = None


def prepare(path: Path, assignment: Assignment, opts: Options, name: str | None = None, pool=None) -> Prepared:
    """`pool`: a batch's warm zygotes (grader/zygote.py); without, the kernel starts cold."""
    sub = submission.load(path, assignment.entry, name)
    if not sub.ok:
        return Prepared(sub)
    b = assignment.budget
    session = execute.Session(sub, assignment.framework, b.cell_timeout_s, b.total_s, b.memory_mb, opts.device,
                              opts.gpus, threads=opts.threads, read_only=mounts(assignment), slot=opts.slot,
                              pool=pool)
    try:
        session.launch()
    except Exception as e:  # noqa: BLE001 - execute() reports a kernel that did not start
        session.start_error = f"the grading kernel did not start: {type(e).__name__}: {e}"[:500]
        session.close()
    return Prepared(sub, session)


def observe(path: Path, assignment: Assignment, opts: Options, name: str | None = None,
            prepared: Prepared | None = None, expected: dict | None = None) -> Observed:
    """Load, execute and probe; never raises for anything the submission does. `expected`:
    the reference's observations (what the grader answers a probe's questions from); None for
    the reference's own run."""
    t0 = time.monotonic()
    prepared = prepared or prepare(path, assignment, opts, name)
    sub, session = prepared.sub, prepared.session
    if not sub.ok:
        return Observed(sub, None, {}, Status.UNREADABLE, sub.reason, {"execute_s": 0.0, "probe_s": 0.0})
    b = assignment.budget
    t1 = t2 = t0
    try:
        lean = frozenset(c for e in inline.entries(assignment, sub.notebook).values() for c in e["cells"])
        ex = execute.execute(sub, session, opts.mode, lean)
        t1 = time.monotonic()
        status, reason, observed = Status.GRADED, "", {}
        if ex.status == "error":
            status, reason = Status.ERROR, ex.reason
        elif not session.ensure_alive():
            status, reason = Status.CRASHED, ex.reason or "the kernel could not be started"
        else:
            session.probe_budget(b.probe_timeout_s * max(1, len(assignment.plan(set(opts.visibility)))))
            observed = probe.collect(session, assignment, opts.seed, set(opts.visibility), opts.aliases, expected)
        t2 = time.monotonic()
    finally:
        session.close()
    timings = {"kernel_start_s": round(session.start_seconds, 3), "warm_starts": session.warm_starts,
               "execute_s": round(t1 - t0, 3),
               "probe_s": round(t2 - t1, 3),
               "probes": {k: round(o.seconds, 3) for k, o in observed.items()}}
    return Observed(sub, ex, observed, status, reason, timings, events=session.events, problems=session.problems)


def _sources(sub: submission.Submission) -> dict[str, str]:
    """The submission's Python files besides the notebook (a package, companion modules)."""
    if sub.files is None:
        return {}
    out = {}
    for p in sorted(sub.files.rglob("*.py"))[:200]:
        if p.is_file() and not p.is_symlink() and str(p.relative_to(sub.files)) != sub.entry:
            try:
                out[str(p.relative_to(sub.files))] = p.read_text(errors="replace")[:500_000]
            except OSError:
                pass
    return out


def grade(path: Path, assignment: Assignment, expected: dict, opts: Options, name: str | None = None,
          fingerprint: str = "", prepared: Prepared | None = None):
    """Returns (Result, executed notebook or None, the notebook as submitted or None: its stored
    outputs are what the marker sees)."""
    obs = observe(path, assignment, opts, name, prepared, expected)
    sub = obs.submission
    t = time.monotonic()
    judged = judge.judge(assignment, obs.observations, expected, sub.notebook,
                         reason=obs.reason if obs.status != Status.GRADED else "", visibility=opts.visibility)
    auto = round(sum(i.points for i in judged.items if i.kind == "auto"), 4)
    result = Result(
        assignment=assignment.slug, assignment_version=assignment.version, fingerprint=fingerprint,
        submission=Path(path).name, submission_sha256=sub.sha256, grader_version=__version__,
        device=opts.device, status=obs.status, reason=obs.reason, items=judged.items,
        auto_points=auto, auto_max=assignment.auto_max, manual_max=assignment.manual_max,
        bonus_max=assignment.bonus_max, total=auto,
        timings={**obs.timings, "judge_s": round(time.monotonic() - t, 3)},
        cells=obs.execution.cells if obs.execution else [], sandbox=sandbox.describe(),
        curves=report.training_curves(assignment, obs.observations, expected),
    )
    for r in judged.review:
        result.flag(r.reason, r.item, r.evidence)
    for note in sub.notes:
        result.flag(note)
    gaps.review(assignment, sub.notebook, result)
    _integrity(result, obs, sub, assignment)
    if obs.execution and not result.reason:
        bad = [f"cell {c.index} {c.status} ({c.ename}: {c.evalue[:80]})".replace(": )", ")")
               for c in obs.execution.cells if c.status in {"timeout", "crashed", "starved"}]
        result.reason = "; ".join(filter(None, [obs.execution.reason if obs.execution.status != "ok" else "", *bad]))
    if sub.root:
        shutil.rmtree(sub.root, ignore_errors=True)
    return result, (obs.execution.notebook if obs.execution else None), sub.notebook


def _integrity(result: Result, obs: Observed, sub: submission.Submission, assignment: Assignment) -> None:
    """Review entries for what the armed library saw at top level, for tampered channels and
    for what the static scan found; the evidence is for the instructor."""
    for e in obs.events:
        if e.get("type") == "event":
            result.flag(f"top-level {e.get('kind', 'event')} in the submission's code",
                        evidence=f"{e.get('detail', '')} at {e.get('where', '')}"[:300])
        elif e.get("changed"):
            result.flag("the submission replaced functions the grader relies on (restored while probing)",
                        evidence=", ".join(map(str, e["changed"][:20]))[:500])
        elif e.get("threads"):
            result.flag("the submission left threads running when probing began",
                        evidence=f"{e['threads']} extra Python thread(s)")
        elif e.get("names"):
            for n in e["names"][:20]:
                result.flag(f"name resolution: {str(n.get('note', ''))[:160]}", item="", evidence=str(n.get("name", "")))
    for p in obs.problems:
        result.flag("the grading channel was tampered with", evidence=p[:300])
    if sub.notebook is not None:
        sources = _sources(sub)
        for hit in scan.scan(sub.notebook, sources)[:30]:
            result.flag(f"the source uses {hit.construct}", evidence=hit.evidence())
        graded = list(names.contract_names(assignment))
        for name, cells in names.redefined(sub.notebook, graded).items():
            result.flag(f"`{name}` is defined {len(cells)} times; the last definition (cell {cells[-1]}) was graded",
                        evidence=f"cells {cells}")
        defined = set(names.definitions(sub.notebook))
        answered = [n for n, f in assignment.inline.functions.items()     # in the cells that mark an item
                    if inline.item_cells(assignment, sub.notebook, f.item)[0]]
        defined |= {r for n in answered for r in (n, *assignment.inline.functions[n].replaces)}
        defined |= {n for n in graded if set(assignment.aliases.get(n, ())) & defined}
        defined |= inline.derived(assignment, sub.notebook)
        missing = [n for n in graded if n not in defined and not any(f"{n}" in t for t in sources.values())]
        for name, close in names.related(sub.notebook, sources, missing).items():
            result.flag(f"`{name}` is not defined; related code: {', '.join(close)}", evidence=name)
    if result.status == Status.GRADED and (any(i.status == Status.REVIEW for i in result.items) or obs.problems):
        result.status = Status.REVIEW


def crashed(path: Path, assignment: Assignment, opts, err: BaseException) -> Result:
    """The grader's own failure on one submission is recorded (status error: not the
    student's fault, graded again on the next run), never lost, and the batch goes on."""
    reason = "the grader failed on this submission; your instructor has been told"
    judged = judge.judge(assignment, {}, {}, None, reason=reason)
    r = Result(assignment=assignment.slug, submission=path.name, submission_sha256="", grader_version=__version__,
               device=opts.device, status=Status.ERROR, reason=reason, items=judged.items,
               auto_max=assignment.auto_max, manual_max=assignment.manual_max, bonus_max=assignment.bonus_max,
               assignment_version=assignment.version)
    r.flag("the grader failed", evidence=f"{type(err).__name__}: {err}"[:500])
    return r
