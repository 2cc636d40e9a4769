"""Judge stage, in the grader's own process: observations against expectations -> points.

Nothing from the sandbox is trusted beyond its type and size: every check's judge() gets
plain data, and a judge that trips over a malformed observation scores zero, not a crash."""
from __future__ import annotations

from . import answers, checks
from .assignment import Assignment
from .probe import Observation, probe_key
from .result import CheckResult, ItemResult


def judge_check(check, obs: Observation | None, want) -> tuple[float, str]:
    if obs is None:
        return 0.0, "not checked"
    if not obs.ok:
        return 0.0, obs.error
    try:
        verdict = checks.get(check.kind).judge(check.params, obs.value, want)
    except (TypeError, KeyError, ValueError, AttributeError, IndexError) as e:
        return 0.0, f"unexpected result ({type(e).__name__})"
    return max(0.0, min(1.0, float(verdict.fraction))), verdict.message


def judge(assignment: Assignment, observed: dict[str, Observation], expected: dict, notebook=None,
          reason: str = "") -> list[ItemResult]:
    items = []
    for item in assignment.items:
        if item.manual:
            text = answers.extract(notebook, item.id) if notebook is not None else ""
            items.append(ItemResult(item.id, "manual", 0.0, item.points, item.title, [], text))
            continue
        total_w = sum(c.weight for c in item.checks)
        results = []
        for c in item.checks:
            share = item.points * c.weight / total_w
            if reason:
                frac, msg = 0.0, reason
            else:
                frac, msg = judge_check(c, observed.get(probe_key(c)), expected[probe_key(c)])
            if frac < 1.0 and c.message:
                msg = f"{c.message}: {msg}" if msg else c.message
            results.append(CheckResult(c.name, c.kind, frac >= 1.0 - 1e-9, round(share * frac, 4), round(share, 4), msg))
        items.append(ItemResult(item.id, "auto", round(sum(r.points for r in results), 4), item.points,
                                item.title, results))
    return items
