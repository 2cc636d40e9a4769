"""`weights-improve`: a model factory of the student's (`build`, called without arguments,
seeded) is scored on fixture data before and after loading shipped weights
(`weights`, relative to the assignment's data folder); the loss must fall, and the loss
after loading must be close to the reference's.

Parameters: `build` (default "build_model"), `weights`, `data` (a probes.py helper
fn(ctx, **data_args) -> (x, y) numpy arrays), `data_args`, `loss` ("bce"), judge:
`margin` (share of the reference's loss after loading that the student's may exceed it by,
default 0.05)."""
from __future__ import annotations

import math

import numpy as np

from . import Verdict


def _bce(p, y, eps=1e-7):
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(y, dtype=np.float64)
    if p.shape != y.shape:
        raise ValueError(f"the model's output has shape {p.shape}, the targets {y.shape}")
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


LOSSES = {"bce": _bce}


def observe(ctx, p):
    x, y = getattr(ctx.helpers, p["data"])(ctx, **p.get("data_args", {}))
    loss = LOSSES[p.get("loss", "bce")]
    ctx.fw.seed(ctx.seed)
    model = ctx.fw.build(ctx.definition(p.get("build", "build_model")))
    before = loss(ctx.fw.predict(model, x), y)
    ctx.fw.load_weights(model, ctx.data_dir / p["weights"])
    after = loss(ctx.fw.predict(model, x), y)
    return {"before": before, "after": after}


def judge(p, got, want) -> Verdict:
    b, a = got.get("before"), got.get("after")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (b, a)):
        return Verdict(0.0, "no finite loss before and after loading the weights")
    if not a < b:
        return Verdict(0.0, f"loading the weights did not lower the loss ({b:.4f} before, {a:.4f} after)")
    margin = p.get("margin", 0.05)
    if a > want["after"] * (1 + margin):
        return Verdict(0.0, f"after loading, the loss is {a:.4f}, the reference's model reaches {want['after']:.4f}: "
                            "the weights did not all land in the right layers")
    return Verdict(1.0)
