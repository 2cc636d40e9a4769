"""`params`: trainable parameter counts, total or per named sub-module."""
from __future__ import annotations

from . import Verdict, example_inputs


def observe(ctx, p):
    model = ctx.fw.build(ctx.definition(p["target"]), p.get("init", {}))
    if p.get("inputs"):  # keras layers get their weights on the first call
        ctx.fw.forward_with_hooks(model, example_inputs(ctx, p["inputs"]))
    counts = {"total": ctx.fw.param_count(model, types=p.get("types"))}
    for name in p.get("modules", []):
        counts[name] = ctx.fw.param_count(ctx.fw.submodule(model, name))
    return counts


def judge(p, got, want) -> Verdict:
    keys = ["total", *p.get("modules", [])]
    wrong = [f"{k}: expected {want[k]:,}, got {got.get(k)!r:}" for k in keys
             if not isinstance(got.get(k), int) or got.get(k) != want[k]]
    return Verdict(0.0 if wrong else 1.0, "; ".join(wrong))
