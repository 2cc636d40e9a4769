"""`params`: trainable parameters that take part in one traced forward pass, in all, per
named sub-module or per op kind, counted by the judge from the trace (grader/graph.py): a
parameter registered but never used, or held by a class merely named like a layer, does not
count. Hidden by default: a count is often an answer the handout asks for (Q2, Q4)."""
from __future__ import annotations

from typing import Any

from .. import graph
from ..config import JudgeBase, ObserveBase
from . import Malformed, Verdict, example_inputs

KIND = "params"
VISIBILITY = "hidden"


class Observe(ObserveBase):
    target: str
    init: dict[str, Any] = {}
    inputs: list[Any]            # the traced forward pass's inputs
    modules: list[str] = []      # sub-modules counted on their own (names the contract fixes)
    types: list[str] = []        # the total counts only ops of these kinds (grader.graph names: "conv2d", ...)


class Judge(JudgeBase):
    pass


def validate(o: Observe, j: Judge) -> None:
    unknown = [t for t in o.types if t not in graph.OPS]
    if unknown:
        raise ValueError(f"types: unknown op {unknown[0]!r} (the grader.graph vocabulary: "
                         f"{', '.join(sorted(graph.OPS - {'input', 'output'}))})")


def observe(ctx, o: Observe):
    model = ctx.build(o.target, o.init)
    return {"nodes": ctx.fw.trace(model, example_inputs(ctx, o.inputs))}


def counts(o: Observe, nodes) -> dict[str, int]:
    try:
        parsed = graph.parse(nodes)
    except graph.InvalidGraph as e:
        raise Malformed(f"the trace is malformed: {e}") from None
    out = {"total": graph.param_count(parsed, types=o.types or None)}
    for name in o.modules:
        out[name] = graph.param_count(parsed, scope=name)
    return out


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    if not isinstance(got, dict):
        raise Malformed("no trace")
    g, w = counts(o, got.get("nodes")), counts(o, want["nodes"])
    # counts are integers: compared exactly
    wrong = [f"{k}: expected {w[k]:,}, got {g[k]:,}" for k in w if g[k] != w[k]]
    return Verdict(0.0 if wrong else 1.0, "; ".join(wrong))
