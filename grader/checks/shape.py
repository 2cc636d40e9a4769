"""`shape`: output shapes of a definition, and of named sub-layers via hooks. The kernel ships
the outputs themselves (raw arrays of plain tensors); the judge reads their shapes."""
from __future__ import annotations

from typing import Any

import numpy as np

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


def _raw(fw, x):
    """An output as arrays (nested like the output's tuples); None for None."""
    if x is None:
        return None
    if isinstance(x, (tuple, list)):
        return [_raw(fw, v) for v in x]
    return fw.to_numpy(x)


def observe(ctx, o: Observe):
    model = ctx.build(o.target, o.init)
    inputs = example_inputs(ctx, o.inputs)
    out, layers = ctx.fw.forward_with_hooks(model, inputs, o.layers)
    return {"output": _raw(ctx.fw, out), "layers": {k: _raw(ctx.fw, v) for k, v in layers.items()}}


def shape(v):
    """The shape of an array (nested lists of shapes for tuples of outputs); None for none."""
    if v is None:
        return None
    if isinstance(v, np.ndarray):
        return [int(d) for d in v.shape]
    if isinstance(v, list):
        return [shape(x) for x in v]
    raise Malformed(f"an output that is not an array ({type(v).__name__})")


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    if not isinstance(got, dict) or not isinstance(got.get("layers", {}), dict):
        raise Malformed("no outputs")
    wrong, total = [], 0
    pairs = [("output", got.get("output"), want["output"])] if j.output else []
    pairs += [(name, got.get("layers", {}).get(name), want["layers"][name]) for name in o.layers]
    for name, g, w in pairs:
        total += 1
        g, w = shape(g), shape(w)
        if g != w:
            wrong.append(f"{name}: expected {fmt_shape(w)}, got {fmt_shape(g)}")
    return Verdict((total - len(wrong)) / total if total else 0.0, "; ".join(wrong))
