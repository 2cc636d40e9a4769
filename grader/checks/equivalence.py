"""`equivalence`: outputs under identical weights. The reference's model is built (seeded,
normalisation layers given non-trivial statistics), its weights are transferred into the
student's model (by name, else in creation order with matching shapes, see the adapter's
`transfer_weights`) and both are run on the same fixed inputs in eval mode.

Behaviour the shapes cannot see (a skip connection from the wrong layer, a missing
activation, a different wiring) shows up as different outputs.

Parameters: `target`, `init`, `inputs` (input specs, as `shape`), optional `permutations`:
[{"weight": "<reference name>", "splits": [c1, c2]}] for layers whose input is a
concatenation whose order is free: every block order of each is tried, and the student's
output has to match the reference's under one of them. Judge: `rtol`, `atol`
(atol relative to the largest reference output, default 1e-4)."""
from __future__ import annotations

import itertools

import numpy as np

from . import Verdict, example_inputs, fmt_shape


def observe(ctx, p):
    init = p.get("init", {})
    ctx.fw.seed(ctx.seed)
    ref = ctx.fw.build(ctx.get(p["target"], reference=True), init)
    ctx.fw.randomize_state(ref, ctx.seed)
    ctx.fw.seed(ctx.seed)
    model = ctx.fw.build(ctx.definition(p["target"]), init)
    inputs = example_inputs(ctx, p["inputs"])
    if hasattr(ctx.fw, "prepare"):  # keras: layers get their weights on the first call
        ctx.fw.prepare(ref, inputs), ctx.fw.prepare(model, inputs)
    perms = p.get("permutations", [])
    choices = [list(itertools.permutations(range(len(q["splits"])))) for q in perms]
    outputs, variants = [], []
    for variant in itertools.product(*choices):
        mapping = ctx.fw.transfer_weights(ref, model)
        for q, order in zip(perms, variant):
            if q["weight"] not in mapping:
                raise KeyError(f"the reference has no weight {q['weight']!r}")
            ctx.fw.permute_input_channels(model, mapping[q["weight"]], q["splits"], list(order))
        out, _ = ctx.fw.forward_with_hooks(model, inputs)
        outputs.append(ctx.fw.to_numpy(out).astype(np.float32))
        variants.append([list(o) for o in variant])
    return {"outputs": outputs, "variants": variants}


def judge(p, got, want) -> Verdict:
    ref = np.asarray(want["outputs"][0])
    outs = got.get("outputs") if isinstance(got, dict) else None
    if not isinstance(outs, list) or not outs:
        return Verdict(0.0, "no output")
    atol = p.get("atol", 1e-4) * max(1.0, float(np.abs(ref).max()))
    rtol = p.get("rtol", 1e-4)
    best = None
    for o in outs:
        if not isinstance(o, np.ndarray) or o.dtype.kind != "f":
            return Verdict(0.0, "the output is not a float tensor")
        if o.shape != ref.shape:
            return Verdict(0.0, f"output of shape {fmt_shape(list(o.shape))}, expected {fmt_shape(list(ref.shape))}")
        if not np.isfinite(o).all():
            continue
        if np.allclose(o, ref, rtol=rtol, atol=atol):
            return Verdict(1.0)
        diff = float(np.abs(o - ref).max())
        best = diff if best is None else min(best, diff)
    detail = f"largest difference {best:.3g}" if best is not None else "non-finite outputs"
    return Verdict(0.0, f"with the reference's weights your model computes something else ({detail}); "
                        "check the order of the layers and which tensors feed each layer")
