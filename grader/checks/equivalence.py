"""`equivalence`: outputs under identical weights. The reference's model is built (seeded,
normalisation layers given non-trivial statistics), its weights are transferred into the
student's model and both are run on the same fixed inputs in inference mode. Behaviour the
shapes cannot see (a skip connection from the wrong layer, a missing activation, a different
wiring) shows up as different outputs.

The weights are transferred op by op (`transfer = "trace"`, the adapter's `transfer_traced`):
both models are traced on the inputs and their parameterised ops paired in the order they
ran, by kind and weight shapes, so names, `Sequential` grouping, module reuse and creation
order do not matter. `transfer = "name"` is the adapter's `transfer_weights` (by name, else by
creation order). `permutations` name the reference's weights whose input is a concatenation of
free operand order; every order is tried.

`own` names parts graded by other items: the reference's model is then built from the
student's own definitions of them (`ctx.reference_using`; the reference's where a fallback
stood in) and its outputs are measured in the kernel beside the student's; the judge compares
with those, so that a part that runs but computes something else is the same in both models
and costs points only in its own item.

Hidden: the reference's model is built in the kernel."""
from __future__ import annotations

import itertools
from typing import Any, Literal

import numpy as np

from ..config import JudgeBase, ObserveBase, Strict
from . import Malformed, Verdict, example_inputs, fmt_shape

KIND = "equivalence"
USES_REFERENCE = True


class Permutation(Strict):
    weight: str                  # the reference's name of a weight whose input is a concatenation
    splits: list[int]            # its input blocks, in the reference's order


class Observe(ObserveBase):
    target: str
    init: dict[str, Any] = {}
    inputs: list[Any]
    permutations: list[Permutation] = []   # concatenations whose operand order is free: every order is tried
    transfer: Literal["trace", "name"] = "trace"   # weights paired op by op (traced), or by name
    own: list[str] = []          # parts the reference's model is built from the student's definitions of


class Judge(JudgeBase):
    rtol: float = 1e-4
    atol: float = 1e-4           # relative to the largest reference output


def observe(ctx, o: Observe):
    ctx.fw.seed(ctx.seed)
    with ctx.reference_using(o.own):
        ref = ctx.fw.build(ctx.ref(o.target), o.init)
    ctx.fw.randomize_state(ref, ctx.seed)
    ctx.fw.seed(ctx.seed)
    model = ctx.build(o.target, o.init)
    inputs = example_inputs(ctx, o.inputs)
    ctx.fw.prepare(ref, inputs)
    ctx.fw.prepare(model, inputs)
    choices = [list(itertools.permutations(range(len(q.splits)))) for q in o.permutations]
    outputs, variants = [], []
    for variant in itertools.product(*choices):
        mapping = ctx.fw.transfer_traced(ref, model, inputs) if o.transfer == "trace" else \
            ctx.fw.transfer_weights(ref, model)
        for q, order in zip(o.permutations, variant):
            if q.weight not in mapping:
                raise KeyError(f"the reference has no weight {q.weight!r}")
            ctx.fw.permute_input_channels(model, mapping[q.weight], q.splits, list(order))
        out, _ = ctx.fw.forward_with_hooks(model, inputs)
        outputs.append(ctx.fw.to_numpy(out).astype(np.float32))
        variants.append([list(v) for v in variant])
    if o.own:
        out, _ = ctx.fw.forward_with_hooks(ref, inputs)
        return {"outputs": outputs, "variants": variants, "reference": ctx.fw.to_numpy(out).astype(np.float32)}
    return {"outputs": outputs, "variants": variants}


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    ref = np.asarray(want["outputs"][0])
    if o.own:
        # the reference's model built from the student's parts, measured in the same kernel
        ref = got.get("reference") if isinstance(got, dict) else None
        if not isinstance(ref, np.ndarray) or ref.dtype.kind != "f" or not np.isfinite(ref).all():
            raise Malformed("no output of the reference's model built from your parts")
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
