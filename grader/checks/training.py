"""`training`: a short seeded training run on fixture data, judged by its loss curve."""
from __future__ import annotations

import math

from . import Verdict


def observe(ctx, p):
    run = getattr(ctx.helpers, p["fn"])
    return run(ctx, **p.get("args", {}))


def _window(losses, frac=0.2):
    n = max(1, int(len(losses) * frac))
    return sum(losses[:n]) / n, sum(losses[-n:]) / n


def judge(p, got, want) -> Verdict:
    losses = got.get("losses") if isinstance(got, dict) else None
    if not isinstance(losses, list) or not losses or not all(isinstance(x, (int, float)) for x in losses):
        return Verdict(0.0, "the training run produced no loss values")
    if not all(math.isfinite(x) for x in losses):
        return Verdict(0.0, "the loss became NaN or infinite")
    note = ""
    if got.get("swapped"):
        note = f" (the reference's {', '.join(got['swapped'])} stood in for yours, which failed to run)"
    criterion = p.get("criterion", "runs")
    first, last = _window(losses)
    if criterion == "runs":
        return Verdict(1.0, note.strip())
    if criterion == "falls":
        drop = p.get("min_drop", 0.1)
        if last <= first * (1 - drop):
            return Verdict(1.0, note.strip())
        return Verdict(0.0, f"the loss did not fall by {drop:.0%}: {first:.4f} at the start, {last:.4f} at the end" + note)
    if criterion == "matches":
        _, ref_last = _window(want["losses"])
        margin = p.get("margin", 0.2)
        if last <= ref_last * (1 + margin):
            return Verdict(1.0, note.strip())
        return Verdict(0.0, f"the final loss {last:.4f} is more than {margin:.0%} above the reference's "
                            f"{ref_last:.4f} under the same budget" + note)
    raise ValueError(f"unknown training criterion {criterion!r}")
