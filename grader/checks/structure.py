"""`structure`: the computation a model performs, traced from one forward pass and compared
with the reference's up to renaming, `Sequential` grouping, module reuse, functional versus
module activations and creation order (grader/graph.py): the ops, their hyper-parameters and
the data flow, including which tensors feed each concatenation (in either order unless
`cat_order = "fixed"`).

- `attrs`: sub-modules compared one by one, for names the contract fixes ("" = the whole
  model); an op belongs to a sub-module when it ran inside its forward/call.
- `types`: only these ops (grader.graph vocabulary: "conv2d", "conv_transpose2d", "linear",
  "batch_norm", "relu", "max_pool2d", "upsample", "cat", ...) are compared; the others are
  contracted (a convolution fed through a BatchNorm and a ReLU is fed by the previous
  convolution).
- `fields`: the hyper-parameters compared (default: all), e.g. "out", "kernel", "stride", "padding".
- `aspect`: "graph" (ops and data flow), "shapes" (each op's output shape, and the model's),
  or "params" (trainable parameters in all and of each parameterised op), op by op in a
  canonical order, so that a check need not name the student's sub-modules.
- `penalty`: the share of an attribute's credit each difference costs (1: any difference
  loses it all).

Without `inputs` the check lists the leaf layers of each attribute in creation order with
their configuration (the form before traces, for a single layer whose construction-time
settings, such as an initializer, a trace cannot see)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .. import graph
from ..config import JudgeBase, ObserveBase
from . import Malformed, Verdict, example_inputs

KIND = "structure"
MAX_SAID = 4          # differences spelled out per attribute


class Observe(ObserveBase):
    target: str
    init: dict[str, Any] = {}
    inputs: list[Any] = []       # the traced forward pass's inputs (without: leaf layers by creation order)
    attrs: list[str] = [""]      # sub-modules compared one by one ("" = the whole model): names the contract fixes


class Judge(JudgeBase):
    aspect: Literal["graph", "shapes", "params"] = "graph"
    types: list[str] = []        # only ops (traced) / layers (listed) of these types are compared
    fields: list[str] = []       # the hyper-parameters compared (default: all)
    cat_order: Literal["free", "fixed"] = "free"   # the operand order of a concatenation
    penalty: float = Field(1.0, gt=0, le=1)        # share of an attribute's credit lost per difference


def validate(o: Observe, j: Judge) -> None:
    """Authoring errors, at load time."""
    if not o.inputs:
        if j.aspect != "graph":
            raise ValueError(f"aspect {j.aspect!r} needs `inputs` (a traced forward pass)")
        return
    unknown = [t for t in j.types if t not in graph.OPS]
    if unknown:
        raise ValueError(f"types: unknown op {unknown[0]!r} (the grader.graph vocabulary: "
                         f"{', '.join(sorted(graph.OPS - {'input', 'output'}))})")
    unknown = [f for f in j.fields if f not in graph.FIELDS]
    if unknown:
        raise ValueError(f"fields: unknown hyper-parameter {unknown[0]!r} (known: {', '.join(sorted(graph.FIELDS))})")


def observe(ctx, o: Observe):
    model = ctx.build(o.target, o.init)
    if not o.inputs:
        return {a: ctx.fw.layers(ctx.fw.submodule(model, a) if a else model) for a in o.attrs}
    return {"nodes": ctx.fw.trace(model, example_inputs(ctx, o.inputs))}


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    if not o.inputs:
        return _judge_layers(o, j, got, want)
    if not isinstance(got, dict):
        raise Malformed("no trace")
    try:
        got_nodes = graph.parse(got.get("nodes"))
    except graph.InvalidGraph as e:
        raise Malformed(f"the trace is malformed: {e}") from None
    want_nodes = graph.parse(want["nodes"])
    opts = graph.Options(fields=tuple(j.fields), free_cat=j.cat_order == "free")
    compare = {"graph": graph.compare, "shapes": graph.compare_shapes, "params": graph.compare_params}[j.aspect]
    total, said = 0.0, []
    for a in o.attrs:
        w = graph.canonical(want_nodes, scope=a or None, types=j.types or None)
        if w is None:
            raise ValueError(f"nothing ran inside the reference's `{a}` (an authoring error)")
        g = graph.canonical(got_nodes, scope=a or None, types=j.types or None)
        where = f"{a}: " if a else ""
        if g is None:
            said.append(f"{where}nothing ran inside `{a}`")
            continue
        c = compare(w, g, opts)
        total += c.fraction(j.penalty)
        if not c.equal:
            shown = c.differences[:MAX_SAID]
            more = len(c.differences) - len(shown)
            said.append(where + "; ".join(shown) + (f"; and {more} more difference(s)" if more > 0 else ""))
    return Verdict(total / len(o.attrs), "; ".join(said))


# ---- leaf layers by creation order (checks without inputs) -------------------------------------

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


def _judge_layers(o: Observe, j: Judge, got, want) -> Verdict:
    got = got if isinstance(got, dict) else {}
    wrong = []
    for a in o.attrs:
        g, w = _view(got.get(a), j), _view(want[a], j)
        if g != w:
            wrong.append(f"{a or 'model'}: expected {_fmt(w)}, found {_fmt(g)}")
    return Verdict((len(o.attrs) - len(wrong)) / len(o.attrs), "; ".join(wrong))
