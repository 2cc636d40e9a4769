"""`distribution`: a function of a trained model that returns a probability distribution
(or samples), called by the grader with a model and inputs from the assignment's helpers.

observe: `model = helpers.<model>(ctx)`; for each argument tuple from
`helpers.<inputs>(ctx, **inputs_args)` (default: one call with no arguments), seeded
(`ctx.seed + k`): `out = <target>(model, *args, **kwargs)`; with `score`, also
`helpers.<score>(ctx, model, out, *args)` (a number the judge compares, e.g. the model's
bits/dim of the sampled region). The given inputs are recorded as well (the judge takes the
reference's copy).

judge (`mode`):
- `exact`: every result has shape `shape` (default (256,)), is finite, non-negative and sums
  to 1 (within `sum_tol`, 1e-3), and its total-variation distance to the reference's
  result on the same input is at most `tol` (default 1e-3);
- `approx`: the same validity, and TV distance at most `tol` (a stated statistical
  tolerance: the spread of the reference's own estimates over seeds is far below it);
- `samples`: shape `shape`, integer values in [0, 256), the rows `keep_rows` [r0, r1) equal
  the given image's, the other rows not all identical across the n samples, and, with
  `score`, the mean score within `margin` (absolute) of the reference's.
"""
from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from ..config import JudgeBase, ObserveBase
from . import Malformed, Verdict, fmt_shape

KIND = "distribution"
USES_REFERENCE = True   # the function receives the reference's trained model


class Observe(ObserveBase):
    target: str
    model: str = "reference_model"        # probes.py helper giving the model the function receives
    inputs: str | None = None             # probes.py helper giving the argument tuples
    inputs_args: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    score: str | None = None              # probes.py helper scoring samples (e.g. bits/pixel)


class Judge(JudgeBase):
    mode: Literal["exact", "approx", "samples"] = "exact"
    shape: list[int] | None = None        # default: (256,) for distributions, the reference's for samples
    sum_tol: float = 1e-3
    tol: float = 1e-3                     # total-variation distance allowed
    keep_rows: list[int] = []             # samples: rows [r0, r1) that must equal the given image's
    margin: float = 0.5                   # samples: |score - reference's score| allowed
    score_name: str = "score"


def observe(ctx, o: Observe):
    model = ctx.helper(o.model)(ctx)
    inputs = ctx.helper(o.inputs)(ctx, **o.inputs_args) if o.inputs else [()]
    fn = ctx.get(o.target)
    results, given = [], []
    for k, args in enumerate(inputs):
        ctx.fw.seed(ctx.seed + k)
        out = fn(model, *args, **o.kwargs)
        entry = {"value": np.asarray(ctx.fw.to_numpy(out), dtype=np.float64)}
        if o.score:
            entry["score"] = float(ctx.helper(o.score)(ctx, model, out, *args))
        results.append(entry)
        given.append(np.asarray(ctx.fw.to_numpy(args[0])) if args else None)
    return {"results": results, "given": given}


def _valid_distribution(v, shape, sum_tol):
    if list(v.shape) != list(shape):
        return f"expected shape {fmt_shape(list(shape))}, got {fmt_shape(list(v.shape))}"
    if not np.isfinite(v).all():
        return "contains NaN or infinite values"
    if v.min() < -1e-6:
        return f"has negative entries (min {v.min():.3g}): is it a probability distribution (softmax)?"
    if abs(v.sum() - 1.0) > sum_tol:
        return f"sums to {v.sum():.4g}, not 1"
    return ""


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    mode = j.mode
    gres, wres = got.get("results") if isinstance(got, dict) else None, want["results"]
    if not isinstance(gres, list) or len(gres) != len(wres):
        raise Malformed("no result")
    problems = []
    for k, (g, w) in enumerate(zip(gres, wres)):
        tag = f"input {k + 1}: " if len(wres) > 1 else ""
        v = np.asarray(g.get("value") if isinstance(g, dict) else None)
        if v.dtype == object or v.size == 0:
            problems.append(tag + "returned nothing usable")
            continue
        v = v.astype(np.float64)
        wv = np.asarray(w["value"], dtype=np.float64)
        if mode in {"exact", "approx"}:
            err = _valid_distribution(v, j.shape or [256], j.sum_tol)
            if err:
                problems.append(tag + err)
                continue
            tv = 0.5 * float(np.abs(v / v.sum() - wv / wv.sum()).sum())
            tol = j.tol
            if tv > tol:
                problems.append(tag + f"total-variation distance {tv:.3g} from the reference's distribution "
                                      f"(allowed {tol:g})")
        elif mode == "samples":
            shape = list(j.shape or wv.shape)
            if list(v.shape) != shape:
                problems.append(tag + f"expected shape {fmt_shape(shape)}, got {fmt_shape(list(v.shape))}")
                continue
            if not np.isfinite(v).all() or (v != np.round(v)).any() or v.min() < 0 or v.max() > 255:
                problems.append(tag + "values are not integers in 0..255 (are all pixels sampled?)")
                continue
            given = np.asarray(want["given"][k], dtype=np.float64)
            r0, r1 = j.keep_rows
            kept = v[..., r0:r1, :]
            if not (kept == given[..., r0:r1, :]).all():
                problems.append(tag + f"rows {r0}..{r1 - 1} must equal the given image's")
                continue
            rows = np.ones(v.shape[-2], dtype=bool)
            rows[r0:r1] = False
            free = v[..., rows, :].reshape(v.shape[0], -1)
            if len(free) > 1 and (free == free[:1]).all():
                problems.append(tag + "all samples are identical: the other rows are not sampled")
                continue
            if "score" in w:
                s = g.get("score")
                if not isinstance(s, (int, float)) or not math.isfinite(s):
                    problems.append(tag + "the samples could not be scored")
                    continue
                margin = j.margin
                if abs(s - w["score"]) > margin:
                    problems.append(tag + f"{j.score_name} {s:.3f} is more than {margin:g} from "
                                          f"the reference's {w['score']:.3f}")
    if problems:
        return Verdict(0.0, "; ".join(problems))
    return Verdict(1.0)
