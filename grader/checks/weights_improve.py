"""`weights-improve`: a model factory of the student's (`build`, called without arguments,
seeded) is scored on fixture data before and after loading shipped weights; the loss must
fall, and the loss after loading must be close to the reference's."""
from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..config import JudgeBase, ObserveBase
from . import Malformed, Verdict, number

KIND = "weights-improve"


class Observe(ObserveBase):
    build: str = "build_model"
    weights: str                             # the shipped weights, relative to the assignment's data folder
    data: str                                # probes.py helper: fn(ctx, **data_args) -> (x, y) numpy arrays
    data_args: dict[str, Any] = {}
    loss: Literal["bce"] = "bce"


class Judge(JudgeBase):
    margin: float = 0.05                     # share of the reference's loss after loading the student's may exceed it by


def _bce(p, y, eps=1e-7):
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(y, dtype=np.float64)
    if p.shape != y.shape:
        raise ValueError(f"the model's output has shape {p.shape}, the targets {y.shape}")
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


LOSSES = {"bce": _bce}


def observe(ctx, o: Observe):
    x, y = ctx.helper(o.data)(ctx, **o.data_args)
    loss = LOSSES[o.loss]
    ctx.fw.seed(ctx.seed)
    model = ctx.build(o.build)
    before = loss(ctx.fw.predict(model, x), y)
    ctx.fw.load_weights(model, ctx.data_dir / o.weights)
    after = loss(ctx.fw.predict(model, x), y)
    return {"before": before, "after": after}


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    if not isinstance(got, dict):
        raise Malformed("no losses")
    b, a = got.get("before"), got.get("after")
    if not all(number(v) for v in (b, a)):
        return Verdict(0.0, "no finite loss before and after loading the weights")
    if not a < b:
        return Verdict(0.0, f"loading the weights did not lower the loss ({b:.4f} before, {a:.4f} after)")
    margin = j.margin
    if a > want["after"] * (1 + margin):
        return Verdict(0.0, f"after loading, the loss is {a:.4f}, the reference's model reaches {want['after']:.4f}: "
                            "the weights did not all land in the right layers")
    return Verdict(1.0)
