"""`formula`: what the student's code returned or did, against the contract's formula,
recomputed by the judge from what the grader measured.

A probe that runs a student's function on the student's own model cannot take its expected
value from the reference's run of the same probe (the models differ). So the helper records,
next to what the student's code returned, what the grader measured around it with its own
code: the inputs the model actually received, the logits and gradients the grader computed
itself at the weights before the call, the parameters' change, the random draws. The judge
then evaluates the contract's formula on those measurements. The reference's observation is
used only where an expression names it: `ref.<key>` is the reference's value of `<key>` in its own
run of the same probe (the expectations: computed in a kernel of the reference's own, never in
the student's), e.g. the reference's outputs under the same seeded weights and inputs. A probe
that fails on the reference is an authoring error.

observe: an assignment helper (`fn` in probes.py, called as fn(ctx, **args)) -> a dict of
numbers, lists and arrays: measurements, never a verdict.

judge: `define` names intermediate expressions (evaluated in order); each entry of `terms` is
an equal share of the check:
- `test = "close"` (default): `value` (what the student's code returned or did) against
  `expect` (the formula): |value - expect| <= atol + rtol * max|expect| at every element (the
  tolerance is relative to the largest expected magnitude, so elements near zero are not held to
  a relative precision float32 cannot give); an `expect` of one number applies to every element;
  otherwise both must have the same number of elements. NaN and infinities never match.
- `test = "normal" | "binomial" | "dispersion" | "uniform"`: the statistic kind's test of that
  name on the draws `value`, with its parameters (`mean`, `sd`, `n`, `p`) given as expressions;
  the term passes when every one of its sub-tests does (a normal test is mean, spread and shape:
  draws with the right mean but no spread earn nothing).
`where` (an expression) restricts both to the elements where it holds.

Expressions: numbers, observation keys, `args.<name>` (the probe's own arguments from the toml,
so each value is written once), `ref.<key>` (the reference's run), names from `define`, + - * / ** % and unary -, comparisons,
& | ~ on masks, [a, b, ...] (the values flattened and joined), and the functions in FUNCTIONS. At most 400 characters and 96 nodes each;
evaluated with numpy in the grader's process on the (size-capped) observation.
"""
from __future__ import annotations

import ast
from typing import Any, Literal

import numpy as np

from ..config import JudgeBase, ObserveBase, Strict
from . import Malformed, Verdict

KIND = "formula"
MAX_LENGTH = 400
MAX_NODES = 96


class Observe(ObserveBase):
    fn: str                                  # probes.py helper: fn(ctx, **args) -> measurements
    args: dict[str, Any] = {}


class Term(Strict):
    name: str = ""
    value: str                               # expression: what the student's code returned or did
    expect: str | None = None                # expression: the contract's formula (test "close")
    test: Literal["close", "normal", "binomial", "dispersion", "uniform"] = "close"
    where: str | None = None                 # expression: the elements judged
    rtol: float | None = None                # close: relative to the largest |expect|
    atol: float | None = None
    mean: str | float = 0.0                  # normal
    sd: str | float | None = None            # normal
    n: str | int | None = None               # binomial / dispersion: draws per trial
    p: str | float | None = None             # binomial / dispersion
    explain: str = ""                        # replaces the default message when the term fails


class Judge(JudgeBase):
    define: dict[str, str] = {}
    terms: list[Term]
    rtol: float = 1e-5
    atol: float = 1e-6
    alpha: float = 1e-4


def observe(ctx, o: Observe):
    out = ctx.helper(o.fn)(ctx, **o.args)
    if not isinstance(out, dict):
        raise TypeError(f"{o.fn} returned {type(out).__name__}, not a dict")
    return out


# ---- expressions ----------------------------------------------------------------------------

def _last(a):
    a = np.asarray(a, np.float64)
    return a if a.ndim else a.reshape(1)


def _logsumexp(a, axis=-1):
    a = np.asarray(a, np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def _pick(a, idx):
    """a[i, idx[i]] along the last axis (a logit per label)."""
    a = np.asarray(a, np.float64)
    idx = np.asarray(idx, np.float64).reshape(-1)
    if a.ndim != 2 or len(idx) != a.shape[0] or not np.all(idx == np.round(idx)) \
            or np.any(idx < 0) or np.any(idx >= a.shape[1]):
        raise ValueError("pick(a, labels) needs (N, C) values and N integer labels in 0..C-1")
    return a[np.arange(a.shape[0]), idx.astype(np.int64)]


def _onehot(idx, n):
    idx = np.asarray(idx, np.float64).reshape(-1).astype(np.int64)
    return np.eye(int(n))[idx]


def _argmax(a, axis=-1):
    return np.argmax(np.asarray(a, np.float64), axis=axis).astype(np.float64)


def _bce(p, y, eps=1e-7):
    """Mean binary cross-entropy of probabilities p against targets y, p clipped to
    [eps, 1 - eps] as Keras clips."""
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    if p.size != y.size or not p.size:
        raise ValueError(f"binary_cross_entropy needs as many probabilities as targets ({p.size}, {y.size})")
    p = np.clip(p.reshape(-1), eps, 1 - eps)
    y = y.reshape(-1)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _nearest(a, target):
    """The element of a closest to target (one number): of several numbers a piece of code
    computed, the one meant as its answer."""
    a = _last(a).reshape(-1)
    a = a[np.isfinite(a)]
    t = np.asarray(target, np.float64).reshape(-1)
    if not a.size or t.size != 1:
        raise ValueError("nearest(values, target) needs values and one target")
    return float(a[np.argmin(np.abs(a - t[0]))])


FUNCTIONS = {
    "mean": lambda a, axis=None: np.mean(_last(a), axis=axis),
    "sum": lambda a, axis=None: np.sum(_last(a), axis=axis),
    "max": lambda a, axis=None: np.max(_last(a), axis=axis),
    "min": lambda a, axis=None: np.min(_last(a), axis=axis),
    "std": lambda a, axis=None: np.std(_last(a), axis=axis),
    "abs": np.abs, "sqrt": np.sqrt, "exp": np.exp, "log": np.log,
    "clip": lambda a, lo, hi: np.clip(a, lo, hi),
    "where": lambda c, a, b: np.where(np.asarray(c, bool), a, b),
    "logsumexp": _logsumexp, "pick": _pick, "onehot": _onehot, "argmax": _argmax,
    "norm": lambda a: float(np.sqrt(np.sum(np.square(np.asarray(a, np.float64))))),
    "size": lambda a: float(np.asarray(a).size),
    "all": lambda a: float(np.all(np.asarray(a, bool))),
    "any": lambda a: float(np.any(np.asarray(a, bool))),
    "unique": lambda a: np.unique(np.asarray(a, np.float64)),
    "binary_cross_entropy": _bce, "nearest": _nearest,
}
_BIN = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide, ast.Pow: np.power,
        ast.Mod: np.mod, ast.BitAnd: np.logical_and, ast.BitOr: np.logical_or}
_CMP = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal,
        ast.Eq: np.equal, ast.NotEq: np.not_equal}
_UNARY = {ast.USub: np.negative, ast.UAdd: np.positive, ast.Invert: np.logical_not, ast.Not: np.logical_not}


class ExpressionError(ValueError):
    """The expression cannot be evaluated on this observation (a missing or non-numeric value,
    shapes that do not fit): the term fails, with this message."""


def parse(expr: str) -> ast.Expression:
    """An expression of the vocabulary above, or ValueError (an authoring error, at load time)."""
    if not isinstance(expr, str) or not expr.strip() or len(expr) > MAX_LENGTH:
        raise ValueError(f"not an expression of at most {MAX_LENGTH} characters: {expr!r}")
    from ..cells import parse as locked_parse  # one parser at a time: batches judge in threads
    tree = locked_parse(expr.strip(), mode="eval")
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ValueError(f"expression too long: {expr!r}")
    for n in nodes:
        if isinstance(n, ast.Call):
            if not isinstance(n.func, ast.Name) or n.func.id not in FUNCTIONS:
                raise ValueError(f"unknown function in {expr!r} (known: {', '.join(sorted(FUNCTIONS))})")
            if any(k.arg != "axis" for k in n.keywords):
                raise ValueError(f"only `axis=` may be given by keyword: {expr!r}")
        elif isinstance(n, ast.Attribute):
            if not (isinstance(n.value, ast.Name) and n.value.id in ("args", "ref")):
                raise ValueError(f"only args.<name> and ref.<key> may use a dot: {expr!r}")
        elif isinstance(n, ast.Constant):
            if isinstance(n.value, bool) or not isinstance(n.value, (int, float)):
                raise ValueError(f"only numbers may be written in an expression: {expr!r}")
        elif not isinstance(n, (ast.Expression, ast.Name, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Load,
                                ast.List, ast.Tuple, ast.keyword, *(_BIN), *(_CMP), *(_UNARY))):
            raise ValueError(f"not allowed in a formula: {type(n).__name__} in {expr!r}")
    return tree


def names(expr: str) -> tuple[set[str], set[str]]:
    """(observation or defined names, args names) the expression reads."""
    tree = parse(expr)
    args = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.value.id == "args"}
    funcs = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)}
    plain = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - {"args", "ref"} - funcs
    return plain, args


def _numeric(name: str, v) -> np.ndarray | float:
    if v is None:
        raise ExpressionError(f"`{name}` was not measured")
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    try:
        a = np.asarray(v)
    except (TypeError, ValueError):
        raise ExpressionError(f"`{name}` is not numeric") from None
    if a.dtype == object or a.dtype.kind not in "biuf":
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise ExpressionError(f"`{name}` is not numeric") from None
    return a.astype(np.float64)


def evaluate(expr: str, env: dict, args: dict, ref: dict | None = None):
    """The expression's value (a float or a float64 array) on the observation `env`; `ref`:
    the reference's observation of the same probe (for `ref.<key>`)."""
    tree = parse(expr)

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant):
            return float(n.value)
        if isinstance(n, ast.Attribute):
            if n.value.id == "ref":
                if not isinstance(ref, dict) or n.attr not in ref:
                    raise ExpressionError(f"the reference's run has no `{n.attr}`")
                return _numeric(f"ref.{n.attr}", ref[n.attr])
            if n.attr not in args:
                raise ExpressionError(f"the probe has no argument `{n.attr}`")
            return _numeric(f"args.{n.attr}", args[n.attr])
        if isinstance(n, ast.Name):
            if n.id not in env:
                raise ExpressionError(f"`{n.id}` was not measured")
            return _numeric(n.id, env[n.id])
        if isinstance(n, ast.BinOp):
            return _BIN[type(n.op)](ev(n.left), ev(n.right))
        if isinstance(n, ast.UnaryOp):
            return _UNARY[type(n.op)](ev(n.operand))
        if isinstance(n, ast.Compare):
            left, out = ev(n.left), None
            for op, right in zip(n.ops, n.comparators):
                r = ev(right)
                c = _CMP[type(op)](left, r)
                out = c if out is None else np.logical_and(out, c)
                left = r
            return out
        if isinstance(n, (ast.List, ast.Tuple)):
            parts = [np.atleast_1d(np.asarray(ev(e), np.float64)).reshape(-1) for e in n.elts]
            return np.concatenate(parts) if parts else np.zeros(0)
        if isinstance(n, ast.Call):
            kw = {k.arg: int(ev(k.value)) for k in n.keywords}
            return FUNCTIONS[n.func.id](*[ev(a) for a in n.args], **kw)
        raise ExpressionError(f"cannot evaluate {type(n).__name__}")

    with np.errstate(all="ignore"):
        try:
            out = ev(tree)
        except ExpressionError:
            raise
        except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError) as e:
            raise ExpressionError(f"{expr}: {str(e).splitlines()[0][:120] if str(e) else type(e).__name__}") from None
    return np.asarray(out, np.float64) if isinstance(out, np.ndarray) else float(out)


def validate(o: Observe, j: Judge) -> None:
    """At load time: every expression parses, and every args.<name> is one of the probe's."""
    for name, expr in j.define.items():
        _check(expr, o.args, f"define.{name}")
    for t in j.terms:
        label = f"terms[{t.name or t.value}]"
        _check(t.value, o.args, f"{label}.value")
        if t.test == "close" and t.expect is None:
            raise ValueError(f"{label}: a `close` term needs `expect`")
        for what in ("expect", "where", "mean", "sd", "n", "p"):
            spec = getattr(t, what)
            if isinstance(spec, str):
                _check(spec, o.args, f"{label}.{what}")
        if t.test == "normal" and t.sd is None:
            raise ValueError(f"{label}: a `normal` term needs `sd`")
        if t.test in {"binomial", "dispersion"} and (t.n is None or t.p is None):
            raise ValueError(f"{label}: a `{t.test}` term needs `n` and `p`")


def _check(expr: str, args: dict, where: str) -> None:
    try:
        _, used = names(expr)
    except (ValueError, SyntaxError) as e:
        raise ValueError(f"{where}: {e}") from None
    missing = used - set(args)
    if missing:
        raise ValueError(f"{where}: args.{min(missing)} is not one of the probe's arguments")


# ---- judging ----------------------------------------------------------------------------------

def _short(a) -> str:
    a = np.asarray(a)
    if a.size == 1:
        return f"{float(a.reshape(-1)[0]):.6g}"
    return f"an array of {a.size} values"


def _param(spec, env, args, ref=None) -> float:
    v = evaluate(spec, env, args, ref) if isinstance(spec, str) else spec
    a = np.asarray(v, np.float64)
    if a.size != 1 or not np.isfinite(a).all():
        raise ExpressionError(f"a test parameter is not one finite number ({spec!r})")
    return float(a.reshape(-1)[0])


def _close(t: Term, j: Judge, env, args, ref=None) -> tuple[bool, str]:
    v = np.asarray(evaluate(t.value, env, args, ref), np.float64)
    e = np.asarray(evaluate(t.expect, env, args, ref), np.float64)
    if e.size == 1:
        e = np.full(v.shape, float(e.reshape(-1)[0])) if v.size else e
    elif v.size != e.size:
        return False, f"{v.size} values, expected {e.size}"
    v, e = v.reshape(-1), e.reshape(-1)
    if t.where is not None:
        mask = np.broadcast_to(np.asarray(evaluate(t.where, env, args, ref), bool).reshape(-1), e.shape)
        v, e = v[mask], e[mask]
    if v.size == 0:
        return False, "nothing to compare"
    if not np.isfinite(v).all() or not np.isfinite(e).all():
        return False, "non-finite values"
    rtol = j.rtol if t.rtol is None else t.rtol
    atol = j.atol if t.atol is None else t.atol
    tol = atol + rtol * float(np.max(np.abs(e)))
    diff = np.abs(v - e)
    bad = int(np.sum(diff > tol))
    if not bad:
        return True, ""
    if e.size == 1:
        return False, f"expected {_short(e)}, got {_short(v)}"
    return False, f"{bad} of {e.size} values differ (largest difference {float(diff.max()):.3g})"


def _test(t: Term, j: Judge, env, args, ref=None) -> list[tuple[str, float, str]]:
    from . import statistic
    draws = np.asarray(evaluate(t.value, env, args, ref), np.float64).reshape(-1)
    if t.where is not None:
        draws = draws[np.broadcast_to(np.asarray(evaluate(t.where, env, args, ref), bool).reshape(-1), draws.shape)]
    spec = {"test": t.test, "key": "draws", "name": t.name}
    if t.test == "normal":
        spec.update(mean=_param(t.mean, env, args, ref), sd=_param(t.sd, env, args, ref))
    elif t.test in {"binomial", "dispersion"}:
        spec.update(n=round(_param(t.n, env, args, ref)), p=_param(t.p, env, args, ref))
    if t.test != "normal" and (not np.isfinite(draws).all() or np.any(draws != np.round(draws))):
        raise ExpressionError("the counts are not whole numbers")
    values = draws if t.test == "normal" else [round(x) for x in draws.tolist()]
    return statistic.run_test(statistic.Test(**spec), {"draws": values}, {})


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    if not isinstance(got, dict):
        raise Malformed("no measurements")
    env = dict(got)
    ref = want if isinstance(want, dict) else None
    for name, expr in j.define.items():
        try:
            env[name] = evaluate(expr, env, o.args, ref)
        except ExpressionError:
            env[name] = None               # a term that reads it fails with "`name` was not measured"
    failed = []
    for t in j.terms:
        label = t.name or t.value
        try:
            if t.test == "close":
                ok, why = _close(t, j, env, o.args, ref)
                if not ok:
                    failed.append(t.explain or f"{label}: {why}")
                continue
            results = _test(t, j, env, o.args, ref)
        except ExpressionError as e:
            failed.append(t.explain or f"{label}: {e}")
            continue
        except (KeyError, ValueError, TypeError) as e:
            failed.append(t.explain or f"{label}: no usable draws ({e})")
            continue
        bad = [f"{label} ({sub}): {detail}; p = {pval:.2g} < {j.alpha:g}" for sub, pval, detail in results
               if not pval >= j.alpha]
        if bad:
            failed.append("; ".join(dict.fromkeys(bad)))
    total = len(j.terms)
    return Verdict((total - len(failed)) / total if total else 0.0, "; ".join(dict.fromkeys(failed)))
