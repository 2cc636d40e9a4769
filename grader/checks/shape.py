"""`shape`: output shapes of a definition, and of named sub-layers via hooks."""
from __future__ import annotations

from typing import Any

from ..config import JudgeBase, ObserveBase
from . import Malformed, Verdict, example_inputs, fmt_shape

KIND = "shape"


class Observe(ObserveBase):
    target: str
    init: dict[str, Any] = {}
    inputs: list[Any]
    layers: list[str] = []       # sub-modules whose output shapes are also compared (names the contract fixes)


class Judge(JudgeBase):
    output: bool = True          # compare the model's own output shape too


def observe(ctx, o: Observe):
    model = ctx.build(o.target, o.init)
    inputs = example_inputs(ctx, o.inputs)
    out, layers = ctx.fw.forward_with_hooks(model, inputs, o.layers)
    return {"output": ctx.fw.shape_of(out), "layers": {k: ctx.fw.shape_of(v) for k, v in layers.items()}}


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    if not isinstance(got, dict) or not isinstance(got.get("layers", {}), dict):
        raise Malformed("no shapes")
    wrong, total = [], 0
    pairs = [("output", got.get("output"), want["output"])] if j.output else []
    pairs += [(name, got.get("layers", {}).get(name), want["layers"][name]) for name in o.layers]
    for name, g, w in pairs:
        total += 1
        if g != w:
            wrong.append(f"{name}: expected {fmt_shape(w)}, got {fmt_shape(g)}")
    return Verdict((total - len(wrong)) / total if total else 0.0, "; ".join(wrong))
