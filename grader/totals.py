"""The final total, late penalties and not-accepted work: one rule that grading (`batch`)
and merging markers' points (`marking.merge`) both call, so a total never depends on which
command wrote it last.

    total = max(0, min(cap, auto + manual + bonus) - penalty)

`bonus` counts only where the assignment's [total] rule says bonus items earn points; where
they earn a late day instead (`bonus = "late_day"`: HKUST 2023, "entitled for one day late in
the submission of problem set or project later"), any bonus point earns a late day for a
*later* submission, recorded as `late_days_earned`; it does not forgive this submission's
own lateness. Lateness is stored on the Result
(`minutes_late`, against the deadline used when grading), so a later merge recomputes the
penalty without knowing where the submission time came from."""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from .config import Assignment, LatePolicy
from .result import Result, Status

NOT_ACCEPTED_REASON = "handed in after the last time the late policy accepts: not accepted"
_BEFORE = re.compile(r"status when graded: (\w+)")


def minutes_between(deadline: dt.datetime, submitted: dt.datetime) -> float:
    """Minutes after the deadline (0 when on time), kept to the millisecond or so, so that
    'a fraction of a minute counts as a full minute' is decided on what was recorded."""
    if deadline.tzinfo is None or submitted.tzinfo is None:
        raise ValueError("deadline and submission time both need a timezone")
    return max(0.0, round((submitted - deadline).total_seconds() / 60, 4))


def units_late(policy: LatePolicy, minutes: float) -> int:
    """Started minutes or hours after the deadline (the handouts: a fraction counts in full)."""
    per = 1 if policy.per == "minute" else 60
    x = round(minutes / per, 6)          # float noise must not start a unit on its own
    return math.ceil(x) if x > 0 else 0


def late_penalty(policy: LatePolicy | None, minutes: float) -> float:
    if policy is None or minutes <= 0:
        return 0.0
    p = units_late(policy, minutes) * policy.points
    return float(min(p, policy.max_penalty) if policy.max_penalty is not None else p)


def accepted(policy: LatePolicy | None, minutes: float) -> bool:
    return policy is None or policy.max_late_hours is None or minutes <= policy.max_late_hours * 60 + 1e-9


@dataclass(frozen=True)
class Breakdown:
    auto: float
    manual: float
    bonus: float              # marked bonus points, whatever they earn
    counted_bonus: float      # what the bonus adds to the total (0 where it earns a late day)
    late_days_earned: int     # late days the bonus earns for a later submission
    minutes_late: float
    penalty: float
    accepted: bool
    total: float


def compute(result: Result, assignment: Assignment) -> Breakdown:
    auto = round(float(sum(i.points for i in result.items if i.kind == "auto")), 4)
    manual = round(float(sum(i.points for i in result.items if i.kind == "manual")), 4)
    bonus = round(float(sum(i.points for i in result.items if i.kind == "bonus")), 4)
    rule = assignment.total
    counted = bonus if rule.bonus == "points" else 0.0
    late_days = 1 if rule.bonus == "late_day" and bonus > 0 else 0
    minutes = max(0.0, round(result.minutes_late, 4))
    ok = accepted(assignment.late, minutes)
    earned = auto + manual + counted
    if rule.cap is not None:
        earned = min(rule.cap, earned)
    penalty = late_penalty(assignment.late, minutes) if ok else 0.0
    total = round(max(0.0, earned - penalty), 4) if ok else 0.0
    return Breakdown(auto, manual, bonus, counted, late_days, minutes, penalty, ok, total)


def apply(result: Result, assignment: Assignment, minutes_late: float | None = None) -> bool:
    """Set the Result's point sums, penalty and total by the assignment's rules (and its
    lateness, when given); True when anything changed. Work past the policy's limit scores
    0 with status not_accepted and a review entry; a later time that is accepted (an
    extension) restores the status it was graded with."""
    before = result.to_dict()
    if minutes_late is not None:
        result.minutes_late = max(0.0, round(float(minutes_late), 4))
    b = compute(result, assignment)
    result.auto_points, result.manual_points, result.bonus_points = b.auto, b.manual, b.bonus
    result.late_penalty, result.total = b.penalty, b.total
    result.late_days_earned = b.late_days_earned
    previous = [r for r in result.review if r.reason == NOT_ACCEPTED_REASON]
    graded_as = next((m.group(1) for r in previous if (m := _BEFORE.search(r.evidence))), None)
    result.review = [r for r in result.review if r.reason != NOT_ACCEPTED_REASON]
    if not b.accepted and result.status != Status.ERROR:   # the grader's own failure is graded again first
        graded_as = graded_as or str(result.status)
        result.status = Status.NOT_ACCEPTED
        result.flag(NOT_ACCEPTED_REASON,
                    evidence=f"{b.minutes_late:g} minutes late; the policy accepts up to "
                             f"{assignment.late.max_late_hours:g} hours; status when graded: {graded_as}")
    elif result.status == Status.NOT_ACCEPTED:
        result.status = Status(graded_as) if graded_as in {s.value for s in Status} - {"not_accepted"} \
            else Status.GRADED
    return result.to_dict() != before


def unmarked(result: Result) -> list[str]:
    """Manual (not bonus) items no marker has set yet: their 0 is not a mark."""
    return [i.id for i in result.items if i.kind == "manual" and not i.marked]
