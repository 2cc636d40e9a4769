"""`distribution`: a function of a trained model that returns a probability distribution
(or samples), called by the grader with a model and inputs from the assignment's helpers.

observe: `model = helpers.<model>(ctx)` (with `model = ""` the inputs helper's tuples carry the
model first, e.g. two trained models); for each argument tuple from
`helpers.<inputs>(ctx, **inputs_args)` (default: one call with no arguments), seeded
(`ctx.seed + k`): `out = <target>(model, *args, **kwargs)` (a keyword the student's signature
lacks is dropped and noted, unless the check `needs` it); with `score`, also
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
  the given image's, the other rows neither the given image's own nor one value throughout,
  not all identical across the n samples (unless `distinct = false`), and, with `score`, the
  mean score within `margin` (absolute) of the reference's (or of `score_target`).

For `exact`/`approx`, optional judge parameters compare the results with each other (what a
function must and must not depend on; metamorphic checks, e.g. a conditional must ignore
the pixels it is not given):
- `metric`: the distance used against the reference and between results: `tv` (total
  variation, default) or `w1` (Wasserstein-1 over the values 0..255, divided by 255: rough
  agreement of intensities, tolerant of where exactly within a few levels the mass sits);
- `compare`: the inputs (0-based) whose results are compared with the reference's (default
  all; `[]` none: a statistic too noisy at the sample counts passed);
- `invariant = [[i, j], ...]`: results i and j within `invariant_tol` of each other;
- `depends = [[i, j], ...]`: results i and j at least `min_shift` apart (a function that
  ignores what differs between the two inputs, or returns a constant, fails).
With observe's `same_seed = true` every input is run under the probe's seed itself (not seed
+ k), so that two results differ only through the inputs.
"""
from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from ..config import JudgeBase, ObserveBase
from . import Malformed, Verdict, fmt_shape

KIND = "distribution"
VISIBILITY = "hidden"   # the reference's distributions are the answers


class Observe(ObserveBase):
    target: str
    model: str = "reference_model"        # probes.py helper giving the model the function receives;
                                          # "" : the inputs helper's tuples carry the model first
    inputs: str | None = None             # probes.py helper giving the argument tuples
    inputs_args: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    score: str | None = None              # probes.py helper scoring samples (e.g. bits/pixel)
    same_seed: bool = False               # every input under the probe's seed (else seed + k)


class Judge(JudgeBase):
    mode: Literal["exact", "approx", "samples"] = "exact"
    shape: list[int] | None = None        # default: (256,) for distributions, the reference's for samples
    sum_tol: float = 1e-3
    tol: float = 1e-3                     # total-variation distance allowed
    keep_rows: list[int] = []             # samples: rows [r0, r1) that must equal the given image's
    margin: float = 0.5                   # samples: |score - reference's score| allowed
    score_target: float | None = None     # samples: compare the score with this value instead of the
                                          # reference's (a score whose expectation is known, e.g. 0)
    score_name: str = "score"
    distinct: bool = True                 # samples: the n samples may not all be identical (off for
                                          # resampling methods, which may legitimately repeat one)
    metric: Literal["tv", "w1"] = "tv"    # exact/approx: the distance (against the reference and between results)
    compare: list[int] | None = None      # exact/approx: inputs compared with the reference's (default all)
    invariant: list[list[int]] = []       # pairs of inputs whose results must agree (within invariant_tol)
    invariant_tol: float = 0.02
    depends: list[list[int]] = []         # pairs of inputs whose results must differ (by at least min_shift)
    min_shift: float = 0.1
    what_differs: str = "the inputs"      # depends: what differs between the two inputs (for the message)
    what_ignored: str = "what the function must not depend on"   # invariant: what differs (for the message)


def observe(ctx, o: Observe):
    model = ctx.helper(o.model)(ctx) if o.model else None
    inputs = ctx.helper(o.inputs)(ctx, **o.inputs_args) if o.inputs else [()]
    fn = ctx.get(o.target)
    # the grader's keyword arguments (sample counts) by name; one the student's signature lacks
    # is dropped (noted) unless the check `needs` it
    kwargs = ctx.arguments(o.target, fn, dict(o.kwargs))
    results, given = [], []
    for k, args in enumerate(inputs):
        ctx.fw.seed(ctx.seed if o.same_seed else ctx.seed + k)
        m, rest = (model, tuple(args)) if o.model else (args[0], tuple(args[1:]))
        out = ctx.fw.checked(fn(m, *rest, **kwargs), f"what {o.target} returned")
        entry = {"value": np.asarray(ctx.fw.to_numpy(out), dtype=np.float64)}
        if o.score:
            entry["score"] = float(ctx.helper(o.score)(ctx, m, out, *rest))
        results.append(entry)
        given.append(np.asarray(ctx.fw.to_numpy(rest[0])) if rest else None)
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


def _distance(a, b, metric: str) -> float:
    """Between two distributions over 0..255 (each normalised here)."""
    a, b = a / a.sum(), b / b.sum()
    if metric == "w1":
        return float(np.abs(np.cumsum(a) - np.cumsum(b)).sum() / (len(a) - 1))
    return 0.5 * float(np.abs(a - b).sum())


def _pairs(pairs, n: int) -> list[tuple[int, int]]:
    out = []
    for p in pairs:
        if len(p) != 2 or not all(0 <= int(i) < n for i in p):
            raise ValueError(f"the pair {p!r} does not name two of the {n} inputs")
        out.append((int(p[0]), int(p[1])))
    return out


def validate(o: Observe, j: Judge) -> None:
    """At load time: the pairs and `compare` name inputs by 0-based index (their count is the
    helper's, known only in the kernel: only the form is checked here)."""
    for name in ("invariant", "depends"):
        for p in getattr(j, name):
            if len(p) != 2 or min(p) < 0:
                raise ValueError(f"{name}: {p!r} is not a pair of 0-based input indices")
    if (j.invariant or j.depends or j.compare is not None) and j.mode == "samples":
        raise ValueError("invariant/depends/compare apply to the exact and approx modes")


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    mode = j.mode
    gres, wres = got.get("results") if isinstance(got, dict) else None, want["results"]
    if not isinstance(gres, list) or len(gres) != len(wres):
        raise Malformed("no result")
    problems = []
    valid: dict[int, np.ndarray] = {}
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
            valid[k] = v
            if j.compare is not None and k not in j.compare:
                continue
            dist = _distance(v, wv, j.metric)
            tol = j.tol
            if dist > tol:
                name = "total-variation" if j.metric == "tv" else "Wasserstein-1 (intensity / 255)"
                problems.append(tag + f"{name} distance {dist:.3g} from the reference's distribution "
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
            own = given[..., rows, :].reshape(-1)
            if (free == own[None, :]).all():
                problems.append(tag + "the other rows are the given image's own: nothing was sampled")
                continue
            if len(np.unique(free)) == 1:
                problems.append(tag + f"the other rows all hold the value {int(free.flat[0])}: nothing was sampled")
                continue
            if j.distinct and len(free) > 1 and (free == free[:1]).all():
                problems.append(tag + "all samples are identical: the other rows are not sampled")
                continue
            if "score" in w:
                s = g.get("score")
                if not isinstance(s, (int, float)) or not math.isfinite(s):
                    problems.append(tag + "the samples could not be scored")
                    continue
                margin = j.margin
                target = w["score"] if j.score_target is None else j.score_target
                if abs(s - target) > margin:
                    whose = f"the reference's {target:.3f}" if j.score_target is None else f"{target:g}"
                    problems.append(tag + f"{j.score_name} {s:.3f} is more than {margin:g} from {whose}")
    if mode in {"exact", "approx"} and not problems:
        problems += _relations(j, valid, len(wres))
    if problems:
        return Verdict(0.0, "; ".join(problems))
    return Verdict(1.0)


def _relations(j: Judge, valid: dict, n: int) -> list[str]:
    """The invariant / depends pairs, on the student's own (valid) results."""
    out = []
    for a, b in _pairs(j.invariant, n):
        d = _distance(valid[a], valid[b], j.metric)
        if d > j.invariant_tol:
            out.append(f"inputs {a + 1} and {b + 1} differ only in {j.what_ignored}, yet the results differ by "
                       f"{d:.3g} (allowed {j.invariant_tol:g}, same seed)")
    for a, b in _pairs(j.depends, n):
        d = _distance(valid[a], valid[b], j.metric)
        if d < j.min_shift:
            out.append(f"the result barely changes ({d:.3g}, at least {j.min_shift:g} expected) when "
                       f"{j.what_differs} change (inputs {a + 1} and {b + 1})")
    return out
