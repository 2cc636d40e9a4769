"""`matches`: named values computed in the student's kernel by an assignment helper
(`fn` in probes.py, called as fn(ctx, **args) and returning a dict), each compared with the
reference's value under the same helper.

Parameters: `fn`, `args`, `keys` (the values judged, default every key of the reference's
result; each is an equal share of the check), and per key in `compare` (default
"close"):
  "close"      numbers / arrays: same shape and within `rtol`/`atol` (params, or per key
               in `tolerance = { key = { rtol = .., atol = .. } }`); other values: equal;
  "equal"      exactly equal (arrays: same shape and values);
  "rows_near"  arrays (N, ...): the same number of rows, and a share `min_share` (default
               0.95) of the student's rows lie within mean absolute difference `row_tol`
               (default 0.1) of some reference row (order free);
  "falls"      a sequence of numbers whose last value is below its first by at least
               `min_drop` (a share of the first; default 0): the reference's is not used;
  "one_of"     every element of the student's value (a value or a list, flattened) is one of
               `accepted[key]` (a list in the toml), else one of the reference's elements
               (e.g. pixel values within {0, 1}, dtype names among the float types);
  "contains"   the student's value (a list) holds every element of the reference's (e.g. the
               base classes of a class: the student's may have more).
`explain = { key = "..." }` replaces the default message of a key that does not match.
`against = { key = "other" }` compares the student's `key` with the student's own `other`
(a value the grader measured in the same probe, e.g. the grader's bits/dim beside what the
student's method returned) instead of with the reference's `key`."""
from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..config import JudgeBase, ObserveBase, Strict
from . import Malformed, Verdict, close, number

KIND = "matches"


class Observe(ObserveBase):
    fn: str                                          # probes.py helper: fn(ctx, **args) -> {name: value}
    args: dict[str, Any] = {}


class Tolerance(Strict):
    rtol: float | None = None
    atol: float | None = None


class Judge(JudgeBase):
    keys: list[str] = []                             # the values judged (default: every key of the reference's)
    compare: dict[str, Literal["close", "equal", "rows_near", "falls", "one_of", "contains"]] = {}
    accepted: dict[str, list[Any]] = {}              # one_of: the values accepted (default: the reference's)
    tolerance: dict[str, Tolerance] = {}
    explain: dict[str, str] = {}
    against: dict[str, str] = {}                     # key -> another key of the student's own observation
    rtol: float = 1e-5
    atol: float = 1e-6
    row_tol: float = 0.1
    min_share: float = 0.95
    min_drop: float = 0.0


def observe(ctx, o: Observe):
    out = ctx.helper(o.fn)(ctx, **o.args)
    if not isinstance(out, dict):
        raise TypeError(f"{o.fn} returned {type(out).__name__}, not a dict")
    return out


def _short(v) -> str:
    if isinstance(v, np.ndarray):
        return f"an array of shape {tuple(v.shape)}"
    if isinstance(v, float):
        return f"{v:.6g}"
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _array(v):
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, list):
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        return a
    return None


def _close(g, w, rtol, atol) -> tuple[bool, str]:
    if isinstance(w, (np.ndarray, list)) and _array(w) is not None and not (isinstance(w, list) and (
            not w or not all(isinstance(x, (int, float, list)) for x in w))):
        wa, ga = _array(w), _array(g)
        if ga is None:
            return False, f"expected an array of shape {tuple(wa.shape)}, got {_short(g)}"
        if ga.shape != wa.shape:
            return False, f"shape {tuple(ga.shape)}, expected {tuple(wa.shape)}"
        if ga.dtype.kind not in "biuf" or not np.isfinite(ga.astype(np.float64)).all():
            return False, "non-numeric or non-finite values"
        ga64, wa64 = ga.astype(np.float64), wa.astype(np.float64)
        if np.allclose(ga64, wa64, rtol=rtol, atol=atol):
            return True, ""
        n = int((~np.isclose(ga64, wa64, rtol=rtol, atol=atol)).sum())
        return False, f"{n} of {wa.size} values differ (largest difference {float(np.abs(ga64 - wa64).max()):.3g})"
    if isinstance(w, (int, float)) and not isinstance(w, bool):
        if not number(g):
            return False, f"expected a number, got {_short(g)}"
        # integers (counts) exactly; floats within the tolerance
        ok = g == w if isinstance(g, int) and isinstance(w, int) else abs(g - w) <= atol + rtol * abs(w)
        return ok, "" if ok else f"expected {_short(w)}, got {_short(g)}"
    ok = close(g, w, rtol, atol)
    return ok, "" if ok else f"expected {_short(w)}, got {_short(g)}"


def _rows_near(g, w, j: Judge) -> tuple[bool, str]:
    wa, ga = _array(w), _array(g)
    if ga is None or ga.ndim < 1 or ga.shape[1:] != wa.shape[1:]:
        return False, f"expected rows of shape {tuple(wa.shape[1:])}, got {_short(g)}"
    if len(ga) != len(wa):
        return False, f"{len(ga)} items, expected {len(wa)}"
    gf = ga.reshape(len(ga), -1).astype(np.float32)
    wf = wa.reshape(len(wa), -1).astype(np.float32)
    tol = j.row_tol
    near = 0
    for row in gf:
        if float(np.abs(wf - row).mean(axis=1).min()) <= tol:
            near += 1
    share = near / max(1, len(gf))
    ok = share >= j.min_share
    return ok, "" if ok else f"only {near} of {len(gf)} items resemble one of the reference's"


def _falls(g, j: Judge) -> tuple[bool, str]:
    if not isinstance(g, list) or len(g) < 2 or not all(number(x) for x in g):
        return False, f"expected a sequence of at least two finite numbers, got {_short(g)}"
    drop = j.min_drop
    ok = g[-1] < g[0] * (1 - drop)
    return ok, "" if ok else f"it did not fall: {g[0]:.4f} first, {g[-1]:.4f} last"


def _elements(v) -> list | None:
    """A value or a (nested) list of plain values, flattened; None for anything else."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        out = []
        for x in v:
            sub = _elements(x)
            if sub is None:
                return None
            out += sub
        return out
    if v is None or isinstance(v, (bool, int, float, str)):
        return [v]
    return None


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return close(a, b, 0.0, 0.0)


def _one_of(g, w, accepted) -> tuple[bool, str]:
    allowed = _elements(accepted if accepted is not None else w) or []
    values = _elements(g)
    if values is None:
        return False, f"expected plain values, got {_short(g)}"
    if not values:
        return False, "nothing was measured"
    bad = [v for v in values if not any(_same(v, a) for a in allowed)]
    if bad:
        shown = ", ".join(_short(v) for v in bad[:4])
        return False, f"{len(bad)} of {len(values)} values are not among {_short(allowed)}: {shown}"
    return True, ""


def _contains(g, w) -> tuple[bool, str]:
    need, have = _elements(w) or [], _elements(g)
    if have is None:
        return False, f"expected a list, got {_short(g)}"
    missing = [v for v in need if not any(_same(v, h) for h in have)]
    if missing:
        return False, f"lacks {', '.join(_short(v) for v in missing[:4])}"
    return True, ""


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    if not isinstance(got, dict):
        raise Malformed("no result")
    keys = j.keys or list(want)
    modes, tols, explain = j.compare, j.tolerance, j.explain
    wrong = []
    for k in keys:
        if k not in got:
            wrong.append(f"{k}: missing")
            continue
        mode = modes.get(k, "close")
        g, w = got[k], want.get(k)
        if k in j.against:
            if j.against[k] not in got:
                wrong.append(f"{j.against[k]}: missing")
                continue
            w = got[j.against[k]]
        if mode == "falls":
            ok, why = _falls(g, j)
        elif mode == "rows_near":
            ok, why = _rows_near(g, w, j)
        elif mode == "equal":
            ok, why = _close(g, w, 0.0, 0.0)
        elif mode == "one_of":
            ok, why = _one_of(g, w, j.accepted.get(k))
        elif mode == "contains":
            ok, why = _contains(g, w)
        else:
            t = tols.get(k, Tolerance())
            ok, why = _close(g, w, j.rtol if t.rtol is None else t.rtol, j.atol if t.atol is None else t.atol)
        if not ok:
            wrong.append(explain.get(k, f"{k}: {why}"))
    return Verdict((len(keys) - len(wrong)) / len(keys) if keys else 0.0, "; ".join(wrong))
