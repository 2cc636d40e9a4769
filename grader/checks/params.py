"""`params`: trainable parameter counts, total, per named sub-module or per layer type.
Hidden by default: a count is often an answer the handout asks for (Q2, Q4)."""
from __future__ import annotations

from typing import Any

from ..config import JudgeBase, ObserveBase
from . import Verdict, example_inputs

KIND = "params"
VISIBILITY = "hidden"


class Observe(ObserveBase):
    target: str
    init: dict[str, Any] = {}
    inputs: list[Any] = []       # keras layers get their weights on the first call
    modules: list[str] = []      # sub-modules counted on their own (names the contract fixes)
    types: list[str] = []        # count only layers of these types


class Judge(JudgeBase):
    pass


def observe(ctx, o: Observe):
    model = ctx.build(o.target, o.init)
    if o.inputs:
        ctx.fw.forward_with_hooks(model, example_inputs(ctx, o.inputs))
    counts = {"total": ctx.fw.param_count(model, types=o.types or None)}
    for name in o.modules:
        counts[name] = ctx.fw.param_count(ctx.fw.submodule(model, name))
    return counts


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    keys = ["total", *o.modules]
    got = got if isinstance(got, dict) else {}
    # counts are integers: compared exactly
    wrong = [f"{k}: expected {want[k]:,}, got {got.get(k)!r:}" for k in keys
             if not isinstance(got.get(k), int) or isinstance(got.get(k), bool) or got.get(k) != want[k]]
    return Verdict(0.0 if wrong else 1.0, "; ".join(wrong))
