"""`structure`: layer types, their order and their hyper-parameters, per attribute."""
from __future__ import annotations

from typing import Any

from ..config import JudgeBase, ObserveBase
from . import Verdict

KIND = "structure"


class Observe(ObserveBase):
    target: str
    init: dict[str, Any] = {}
    attrs: list[str] = [""]      # sub-modules compared one by one ("" = the whole model)


class Judge(JudgeBase):
    types: list[str] = []        # only layers of these types are compared
    fields: list[str] = []       # the hyper-parameters compared


def observe(ctx, o: Observe):
    model = ctx.build(o.target, o.init)
    return {a: ctx.fw.layers(ctx.fw.submodule(model, a) if a else model) for a in o.attrs}


def _view(layers, j: Judge):
    if not isinstance(layers, list):
        return None
    return [(l.get("type"), {f: l.get("config", {}).get(f) for f in j.fields})
            for l in layers if isinstance(l, dict) and (not j.types or l.get("type") in j.types)]


def _fmt(view) -> str:
    if not view:
        return "nothing"
    shown = [(t, {k: v for k, v in c.items() if v is not None}) for t, c in view]  # fields a layer has
    return " -> ".join(t + ("(" + ", ".join(f"{k}={v}" for k, v in c.items()) + ")" if c else "") for t, c in shown)


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    got = got if isinstance(got, dict) else {}
    wrong = []
    for a in o.attrs:
        g, w = _view(got.get(a), j), _view(want[a], j)
        if g != w:
            wrong.append(f"{a or 'model'}: expected {_fmt(w)}, found {_fmt(g)}")
    return Verdict((len(o.attrs) - len(wrong)) / len(o.attrs), "; ".join(wrong))
