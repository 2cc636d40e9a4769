"""Judge stage, in the grader's own process: observations against expectations -> points.

Nothing from the sandbox is trusted beyond its type and size. A judge that finds an
observation malformed scores the check zero; a judge that fails any other way is the
grader's or the author's fault: the check scores zero, the item goes to review, and the
student is told to ask their instructor rather than shown an error."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import answers, checks
from .config import Assignment, Check
from .probe import Observation
from .result import CheckResult, ItemResult, Review, Status


@dataclass
class Judged:
    items: list[ItemResult]
    review: list[Review] = field(default_factory=list)


def judge_check(check: Check, obs: Observation | None, want) -> tuple[float, str, str]:
    """(fraction, message for the student, problem for the instructor)."""
    if obs is None:
        return 0.0, "not checked", ""
    if obs.integrity:
        # something was blocked or changed while this was measured: the measurement is void
        return 0.0, "your instructor will review this item", "integrity: " + "; ".join(obs.integrity)[:1000]
    if not obs.ok:
        return 0.0, obs.error, ""
    try:
        verdict = check.module.judge(check.observe, check.judge, obs.value, want)
    except checks.Malformed as e:
        return 0.0, f"the probe's result was not usable ({e})", ""
    except Exception as e:  # noqa: BLE001 - a judge's own failure must not lose the grade
        return 0.0, "could not be judged; your instructor will look at it", \
            f"the judge of {check.id} failed: {type(e).__name__}: {str(e)[:200]}"
    message = verdict.message
    if obs.stood_in:
        message = (message + "; " if message else "") + \
            f"the reference's {', '.join(obs.stood_in)} stood in for yours, which failed to run"
    return max(0.0, min(1.0, float(verdict.fraction))), message, ""


def judge(assignment: Assignment, observed: dict[str, Observation], expected: dict, notebook=None,
          reason: str = "", visibility: tuple[str, ...] = ("public", "hidden")) -> Judged:
    out = Judged([])
    for item in assignment.items:
        if item.manual:
            text = answers.extract(notebook, item) if notebook is not None else ""
            out.items.append(ItemResult(id=item.id, kind="bonus" if item.bonus else "manual", points=0.0,
                                        max_points=item.points, title=item.title, answer=text))
            continue
        total_w = sum(c.weight for c in item.checks) + item.hidden_weight
        results, status = [], Status.GRADED
        for c in item.checks:
            share = item.points * c.weight / total_w
            if c.visibility not in visibility:
                frac, msg, problem = 0.0, "checked when your instructor grades", ""
            elif reason:
                frac, msg, problem = 0.0, reason, ""
            elif c.probe not in expected:
                frac, msg, problem = 0.0, "not run", ""
            else:
                frac, msg, problem = judge_check(c, observed.get(c.probe), expected[c.probe])
            if problem:
                status = Status.REVIEW
                why = "integrity violation while probing" if problem.startswith("integrity") else \
                    "a check could not be judged"
                out.review.append(Review(reason=why, item=item.id, evidence=problem))
            if frac < 1.0 and c.message:
                msg = f"{c.message}: {msg}" if msg else c.message
            results.append(CheckResult(name=c.name, kind=c.kind, passed=frac >= 1.0 - 1e-9,
                                       points=round(share * frac, 4), max_points=round(share, 4), message=msg,
                                       visibility=c.visibility))
            ob = observed.get(c.probe)
            if ob is not None and ob.stood_in:
                out.review.append(Review(reason="the reference's definitions stood in for the student's",
                                         item=item.id, evidence=", ".join(ob.stood_in)))
            for note in (ob.notes if ob is not None else []):
                out.review.append(Review(reason=note, item=item.id))
        out.items.append(ItemResult(id=item.id, kind="auto", points=round(sum(r.points for r in results), 4),
                                    max_points=item.points, title=item.title, status=status, checks=results))
    return out
