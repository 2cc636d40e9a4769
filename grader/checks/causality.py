"""`causality`: which input positions each output position of an image model depends on.

observe (in the kernel, through the adapter): for each case (an input shape) the model is
built, and for a set of output positions (every position on a small input, a seeded sample
on a large one) the dependence on the input is measured twice:
- by input gradients (`fw.input_gradients`): every input position, exact zeros for masked
  paths;
- by perturbing single input pixels (`fw.perturbation_dependence`): black-box, so a model
  that tampers with autograd cannot hide (or invent) a dependence. On a large input only the
  pixels in a window around each sampled output are perturbed.

judge (params `mode`):
- `strict`: no output depends on the same or a later input pixel in raster order (gradient
  or perturbation, either one counts), and the outputs do depend on earlier pixels;
- `no-blind-spot`: within `window` rows above / columns either side of each output, the
  output depends (by perturbation) on every earlier input pixel the reference's does;
- `must-leak`: the prediction of pixel i depends (by perturbation) on input pixel i wherever
  the reference's does;
- `same`: the dependence pattern equals the reference's (building blocks, e.g. one masked
  convolution on a float input).

Parts graded by other items are stood in (`stand_in`): the student's model built from the
reference's parts is compared with the reference's own run.

Both adapters implement the two measurements, so the kind serves PyTorch and Keras alike.
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..config import JudgeBase, ObserveBase, Strict
from . import Malformed, Verdict

KIND = "causality"


class Case(Strict):
    shape: list[int]                      # the input, (1, C, H, W) (or the framework's layout)
    dtype: Literal["float", "long"] = "float"
    high: int = 256                       # long inputs: values in [0, high)
    positions: Any = "all"                # "all", "center", {sample = n, margin = m} or a list of (h, w)
    perturb: Any = "all"                  # "all" or {window = w}


class Observe(ObserveBase):
    target: str
    init: dict[str, Any] = {}
    cases: list[Case]


class Judge(JudgeBase):
    mode: Literal["strict", "no-blind-spot", "must-leak", "same"] = "strict"
    window: int = 3


def _positions(spec, H, W, rng):
    if spec == "all":
        return [(h, w) for h in range(H) for w in range(W)]
    if spec == "center":
        return [(H // 2, W // 2)]
    if isinstance(spec, dict) and "sample" in spec:
        n = min(int(spec["sample"]), H * W)
        # away from the borders when possible, so that the window is whole
        m = int(spec.get("margin", 0))
        cand = [(h, w) for h in range(m, H) for w in range(m, W - m)] or [(h, w) for h in range(H) for w in range(W)]
        idx = rng.choice(len(cand), size=min(n, len(cand)), replace=False)
        return sorted(cand[i] for i in idx)
    if isinstance(spec, list):
        return [tuple(int(v) for v in p) for p in spec]
    raise ValueError(f"unknown positions spec {spec!r}")


def _pixels(spec, positions, H, W):
    if spec == "all":
        return [(h, w) for h in range(H) for w in range(W)]
    w_ = int(spec["window"])
    seen = set()
    for (i, j) in positions:
        for h in range(max(0, i - w_), min(H, i + w_ + 1)):
            for w in range(max(0, j - w_), min(W, j + w_ + 1)):
                seen.add((h, w))
    return sorted(seen)


def _measure(fw, model, x, positions, pixels, H, W) -> dict:
    grad = fw.input_gradients(model, x, positions)
    pert = fw.perturbation_dependence(model, x, pixels, positions)
    return {"shape": [H, W], "positions": [list(q) for q in positions], "pixels": [list(q) for q in pixels],
            "grad": None if grad is None else np.asarray(grad, dtype=bool), "pert": np.asarray(pert, dtype=bool)}


def observe(ctx, o: Observe):
    fw = ctx.fw
    cases = []
    for n, case in enumerate(o.cases):
        fw.seed(ctx.seed + n)
        model = ctx.build(o.target, o.init)
        shape = list(case.shape)
        H, W = fw.image_size(shape)
        spec = {"shape": shape, "dtype": case.dtype}
        if case.dtype == "long":
            spec.update(low=0, high=case.high)
        x = fw.example_input(spec, ctx.seed + 100 + n)
        rng = np.random.default_rng(ctx.seed + n)
        positions = _positions(case.positions, H, W, rng)
        pixels = _pixels(case.perturb, positions, H, W)
        cases.append(_measure(fw, model, x, positions, pixels, H, W))
    return {"cases": cases}


def _case(c):
    """Validated arrays of one (untrusted) case: positions (P,2), pixels (K,2), grad (P,H,W) or
    None, pert (K,P)."""
    try:
        return _arrays(c)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise Malformed(f"malformed dependence measurements ({type(e).__name__})") from None


def _arrays(c):
    H, W = (int(v) for v in c["shape"])
    pos = np.asarray(c["positions"], dtype=int).reshape(-1, 2)
    pix = np.asarray(c["pixels"], dtype=int).reshape(-1, 2)
    pert = np.asarray(c["pert"]).astype(bool)
    if pert.shape != (len(pix), len(pos)):
        raise Malformed("malformed perturbation matrix")
    grad = c.get("grad")
    if grad is not None:
        grad = np.asarray(grad).astype(bool)
        if grad.shape != (len(pos), H, W):
            raise Malformed("malformed gradient masks")
    return H, W, pos, pix, grad, pert


def _fmt(q):
    return f"({int(q[0])}, {int(q[1])})"


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    mode = j.mode
    gcases, wcases = got.get("cases") if isinstance(got, dict) else None, want["cases"]
    if not isinstance(gcases, list) or len(gcases) != len(wcases):
        raise Malformed("no dependence measurements")
    problems, notes = [], []
    for gc, wc in zip(gcases, wcases):
        H, W, pos, pix, grad, pert = _case(gc)
        _, _, wpos, wpix, wgrad, wpert = _case(wc)
        if not (np.array_equal(pos, wpos) and np.array_equal(pix, wpix)):
            return Verdict(0.0, "the measured positions differ from the plan")
        size = f"{H}x{W}"
        raster_in = pix[:, 0] * W + pix[:, 1]                       # (K,)
        raster_out = pos[:, 0] * W + pos[:, 1]                      # (P,)
        if mode == "strict":
            bad = []
            if grad is not None:
                rin = np.arange(H * W).reshape(H, W)
                for k, q in enumerate(pos):
                    later = grad[k] & (rin >= raster_out[k])
                    if later.any():
                        h, w = np.argwhere(later)[0]
                        bad.append((q, (h, w)))
            else:
                notes.append(f"{size}: no input gradient (judged by perturbation only)")
            later = pert & (raster_in[:, None] >= raster_out[None, :])
            for kin, kout in np.argwhere(later):
                bad.append((pos[kout], pix[kin]))
            if bad:
                q, src = bad[0]
                problems.append(f"{size} input: the output at {_fmt(q)} depends on input pixel {_fmt(src)}, "
                                f"which is not earlier in raster order ({len(bad)} such dependencies)")
            # a model that ignores its input is causal but predicts nothing
            uses = pert.any(axis=0) | (grad.reshape(len(pos), -1).any(axis=1) if grad is not None else False)
            wuses = wpert.any(axis=0)
            if (wuses & ~uses).any():
                q = pos[np.argwhere(wuses & ~uses)[0][0]]
                problems.append(f"{size} input: the output at {_fmt(q)} depends on no input pixel at all")
        elif mode in {"no-blind-spot", "must-leak"}:
            if mode == "must-leak":
                rel = raster_in[:, None] == raster_out[None, :]
            else:
                w_ = j.window
                rel = ((raster_in[:, None] < raster_out[None, :])
                       & (pix[:, :1] >= pos[:, 0][None, :] - w_)
                       & (np.abs(pix[:, 1:] - pos[:, 1][None, :]) <= w_))
            missing = rel & wpert & ~pert
            if missing.any():
                kin, kout = np.argwhere(missing)[0]
                what = ("does not depend on input pixel " + _fmt(pix[kin]) + " (the pixel itself)"
                        if mode == "must-leak" else
                        f"does not see the earlier input pixel {_fmt(pix[kin])} (a blind spot)")
                problems.append(f"{size} input: the output at {_fmt(pos[kout])} {what}; "
                                f"{int(missing.sum())} of {int((rel & wpert).sum())} required dependencies missing")
        elif mode == "same":
            gmask = pert if grad is None else (pert | grad.reshape(len(pos), -1)[:, raster_in].T)
            wmask = wpert if wgrad is None else (wpert | wgrad.reshape(len(wpos), -1)[:, raster_in].T)
            if not np.array_equal(gmask, wmask):
                extra = np.argwhere(gmask & ~wmask)
                lack = np.argwhere(wmask & ~gmask)
                bits = []
                if len(extra):
                    bits.append("sees input " + ", ".join(_fmt(pix[k]) for k, _ in extra[:4]) + " (should be masked)")
                if len(lack):
                    bits.append("misses input " + ", ".join(_fmt(pix[k]) for k, _ in lack[:4]))
                problems.append(f"{size} input, output {_fmt(pos[0])}: " + "; ".join(bits))
    if problems:
        return Verdict(0.0, "; ".join(problems))
    return Verdict(1.0, "; ".join(notes))
