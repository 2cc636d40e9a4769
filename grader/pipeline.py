"""One submission, one pipeline: load -> execute -> probe -> judge -> (report)."""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, execute, judge, probe, report, sandbox, submission
from .config import Assignment
from .result import Result, Status


@dataclass
class Options:
    mode: str = "definitions"  # or "full"
    device: str = "cpu"  # resolved: cpu or cuda
    gpus: str = ""
    hide: list[str] = field(default_factory=list)
    seed: int = 0
    threads: int = 0


@dataclass
class Observed:
    submission: submission.Submission
    execution: execute.Execution | None
    observations: dict
    status: Status
    reason: str
    timings: dict


def resolve_device(device: str) -> str:
    if device == "auto":
        try:
            import torch
            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            return "cpu"
    return device


def observe(path: Path, assignment: Assignment, opts: Options, name: str | None = None) -> Observed:
    """Load, execute and probe; never raises for anything the submission does."""
    t0 = time.monotonic()
    sub = submission.load(path, assignment.entry, name)
    if not sub.ok:
        return Observed(sub, None, {}, Status.UNREADABLE, sub.reason, {"execute_s": 0.0, "probe_s": 0.0})
    b = assignment.budget
    session = execute.Session(sub, b.cell_timeout_s, b.total_s, b.memory_mb, opts.device, opts.gpus,
                              hide=opts.hide, threads=opts.threads)
    try:
        ex = execute.execute(sub, session, opts.mode)
        t1 = time.monotonic()
        status, reason = Status.GRADED, ""
        if ex.status == "error":
            status, reason, observed = Status.ERROR, ex.reason, {}
        elif not session.ensure_alive():
            status, reason = Status.CRASHED, ex.reason or "the kernel could not be started"
            observed = {}
        else:
            session.probe_budget(b.probe_timeout_s * max(1, len(probe.probes(assignment))))
            observed = probe.collect(session, assignment, opts.seed)
        t2 = time.monotonic()
    finally:
        session.close()
    return Observed(sub, ex, observed, status, reason,
                    {"execute_s": round(t1 - t0, 3), "probe_s": round(t2 - t1, 3)})


def grade(path: Path, assignment: Assignment, expected: dict, opts: Options, name: str | None = None,
          fingerprint: str = ""):
    """Returns (Result, executed notebook or None)."""
    obs = observe(path, assignment, opts, name)
    sub = obs.submission
    t = time.monotonic()
    judged = judge.judge(assignment, obs.observations, expected, sub.notebook,
                         reason=obs.reason if obs.status != Status.GRADED else "")
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
    if result.status == Status.GRADED and any(i.status == Status.REVIEW for i in result.items):
        result.status = Status.REVIEW
    if obs.execution and not result.reason:
        bad = [f"cell {c.index} {c.status} ({c.ename}: {c.evalue[:80]})".replace(": )", ")")
               for c in obs.execution.cells if c.status in {"timeout", "crashed"}]
        result.reason = "; ".join(filter(None, [obs.execution.reason if obs.execution.status != "ok" else "", *bad]))
    if sub.root:
        shutil.rmtree(sub.root, ignore_errors=True)
    return result, (obs.execution.notebook if obs.execution else None)
