"""`equivalence`: outputs under identical weights. The student's model is built (seeded) and
given the weights the reference's model had in the reference's own run of this probe
(`ctx.reference_weights`): the kernel sends its trace and weight names, the grader pairs
them with the reference's (recorded with the expectations) and sends the arrays back under
the student's names. Both run on the same fixed inputs in inference mode; the judge compares
the student's outputs with the reference's run. Behaviour the shapes cannot see (a skip
connection from the wrong layer, a missing activation, a different wiring) shows up as
different outputs. The reference's model is never built in the student's kernel.

The weights are paired op by op (`transfer = "trace"`, grader.graph.pair_weights): both
models' parameterised ops in the order they ran, by kind and weight shapes, so names,
`Sequential` grouping, module reuse and creation order do not matter. `transfer = "name"`
pairs by name, else creation order. In the reference's run normalisation layers get seeded,
non-trivial statistics first (`randomize_state`), so that outputs depend on every tensor.
`permutations` name the reference's weights whose input is a concatenation of free operand
order; every order is tried.

Parts graded by other items are stood in (`stand_in`): the student's model built from the
reference's parts is compared with the reference's model, so a part that computes something
else costs points only in its own item."""
from __future__ import annotations

import itertools
from typing import Any, Literal

import numpy as np

from ..config import JudgeBase, ObserveBase, Strict
from . import Malformed, Verdict, example_inputs, fmt_shape

KIND = "equivalence"
VISIBILITY = "hidden"


class Permutation(Strict):
    weight: str                  # the reference's name of a weight whose input is a concatenation
    splits: list[int]            # its input blocks, in the reference's order


class Observe(ObserveBase):
    target: str
    init: dict[str, Any] = {}
    inputs: list[Any]
    permutations: list[Permutation] = []   # concatenations whose operand order is free: every order is tried
    transfer: Literal["trace", "name"] = "trace"   # weights paired op by op (traced), or by name


class Judge(JudgeBase):
    rtol: float = 1e-4
    atol: float = 1e-4           # relative to the largest reference output


def observe(ctx, o: Observe):
    ctx.fw.seed(ctx.seed)
    model = ctx.build(o.target, o.init)
    inputs = example_inputs(ctx, o.inputs)
    ctx.fw.prepare(model, inputs)
    ctx.fw.randomize_state(model, ctx.seed)
    ctx.fw.prepare(model, inputs)
    mapping = ctx.reference_weights(model, inputs, o.transfer)
    given = ctx.fw.weight_arrays(model)
    choices = [list(itertools.permutations(range(len(q.splits)))) for q in o.permutations]
    outputs, variants = [], []
    for variant in itertools.product(*choices):
        ctx.fw.set_weights(model, given)
        for q, order in zip(o.permutations, variant):
            if q.weight not in mapping:
                raise KeyError(f"the reference has no weight {q.weight!r}")
            ctx.fw.permute_input_channels(model, mapping[q.weight], q.splits, list(order))
        out, _ = ctx.fw.forward_with_hooks(model, inputs)
        outputs.append(ctx.fw.to_numpy(out).astype(np.float32))
        variants.append([list(v) for v in variant])
    return {"outputs": outputs, "variants": variants}


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    ref = np.asarray(want["outputs"][0])
    outs = got.get("outputs") if isinstance(got, dict) else None
    if not isinstance(outs, list) or not outs:
        raise Malformed("no output")
    atol = j.atol * max(1.0, float(np.abs(ref).max()))
    best = None
    for out in outs:
        if not isinstance(out, np.ndarray) or out.dtype.kind != "f":
            return Verdict(0.0, "the output is not a float tensor")
        if out.shape != ref.shape:
            return Verdict(0.0, f"output of shape {fmt_shape(list(out.shape))}, expected {fmt_shape(list(ref.shape))}")
        if not np.isfinite(out).all():
            continue
        if np.allclose(out, ref, rtol=j.rtol, atol=atol):
            return Verdict(1.0)
        diff = float(np.abs(out - ref).max())
        best = diff if best is None else min(best, diff)
    detail = f"largest difference {best:.3g}" if best is not None else "non-finite outputs"
    return Verdict(0.0, f"with the reference's weights your model computes something else ({detail}); "
                        "check the order of the layers and which tensors feed each layer")
