"""`structure`: layer types, their order and their hyper-parameters, per attribute."""
from __future__ import annotations

from . import Verdict


def observe(ctx, p):
    model = ctx.fw.build(ctx.definition(p["target"]), p.get("init", {}))
    attrs = p.get("attrs", [""])
    return {a: ctx.fw.layers(ctx.fw.submodule(model, a) if a else model) for a in attrs}


def _view(layers, p):
    types = p.get("types")
    fields = p.get("fields", [])
    if not isinstance(layers, list):
        return None
    return [(l.get("type"), {f: l.get("config", {}).get(f) for f in fields})
            for l in layers if isinstance(l, dict) and (not types or l.get("type") in types)]


def _fmt(view) -> str:
    if not view:
        return "nothing"
    shown = [(t, {k: v for k, v in c.items() if v is not None}) for t, c in view]  # fields a layer has
    return " -> ".join(t + ("(" + ", ".join(f"{k}={v}" for k, v in c.items()) + ")" if c else "") for t, c in shown)


def judge(p, got, want) -> Verdict:
    attrs = p.get("attrs", [""])
    wrong = []
    for a in attrs:
        g, w = _view(got.get(a), p), _view(want[a], p)
        if g != w:
            wrong.append(f"{a or 'model'}: expected {_fmt(w)}, found {_fmt(g)}")
    return Verdict((len(attrs) - len(wrong)) / len(attrs), "; ".join(wrong))
