"""`shape`: output shapes of a definition, and of named sub-layers via hooks."""
from __future__ import annotations

from . import Verdict, example_inputs, fmt_shape


def observe(ctx, p):
    model = ctx.fw.build(ctx.definition(p["target"]), p.get("init", {}))
    inputs = example_inputs(ctx, p["inputs"])
    out, layers = ctx.fw.forward_with_hooks(model, inputs, p.get("layers", []))
    return {"output": ctx.fw.shape_of(out), "layers": {k: ctx.fw.shape_of(v) for k, v in layers.items()}}


def judge(p, got, want) -> Verdict:
    wrong, total = [], 0
    pairs = [("output", got.get("output"), want["output"])] if p.get("output", True) else []
    pairs += [(name, got.get("layers", {}).get(name), want["layers"][name]) for name in p.get("layers", [])]
    for name, g, w in pairs:
        total += 1
        if g != w:
            wrong.append(f"{name}: expected {fmt_shape(w)}, got {fmt_shape(g)}")
    return Verdict((total - len(wrong)) / total if total else 0.0, "; ".join(wrong))
