"""`training`: a short seeded training run of the student's model, driven by the grader (a
helper in the assignment's probes.py), judged by the loss curve the grader measured."""
from __future__ import annotations

from typing import Any, Literal

from ..config import JudgeBase, ObserveBase
from . import Malformed, Verdict, number

KIND = "training"


class Observe(ObserveBase):
    fn: str                                  # probes.py helper: fn(ctx, **args) -> {"losses": [...], ...}
    args: dict[str, Any] = {}


class Judge(JudgeBase):
    criterion: Literal["runs", "falls", "matches"] = "runs"
    min_drop: float = 0.1                    # falls: the share of the first loss the last must be below it by
    margin: float = 0.2                      # matches: how far above the reference's final loss may end


def observe(ctx, o: Observe):
    return ctx.helper(o.fn)(ctx, **o.args)


def _window(losses, frac=0.2):
    n = max(1, int(len(losses) * frac))
    return sum(losses[:n]) / n, sum(losses[-n:]) / n


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    losses = got.get("losses") if isinstance(got, dict) else None
    if not isinstance(losses, list) or not losses or not all(isinstance(x, (int, float)) for x in losses):
        raise Malformed("the training run produced no loss values")
    if not all(number(x) for x in losses):
        return Verdict(0.0, "the loss became NaN or infinite")
    first, last = _window(losses)
    if j.criterion == "runs":
        return Verdict(1.0)
    if j.criterion == "falls":
        if last <= first * (1 - j.min_drop):
            return Verdict(1.0)
        return Verdict(0.0, f"the loss did not fall by {j.min_drop:.0%}: {first:.4f} at the start, {last:.4f} at the end")
    _, ref_last = _window(want["losses"])
    if last <= ref_last * (1 + j.margin):
        return Verdict(1.0)
    return Verdict(0.0, f"the final loss {last:.4f} is more than {j.margin:.0%} above the reference's "
                        f"{ref_last:.4f} under the same budget")
