"""`statistic`: a randomised behaviour judged by hypothesis tests at a fixed significance.

observe: an assignment helper (`fn` in the assignment's probes.py, called with `args`)
runs the student's randomised code many times under the probe's seed and returns draws or
summary counts (plain lists / arrays), never a verdict.

judge: each entry of `tests` is a test of a null hypothesis that the handout defines (the
distribution parameters are the probe's own inputs, e.g. the p_new or noise amplitude it
passed); it passes when its p-value is at least `alpha` (default 1e-4). The check earns the
share of its tests that pass. numpy and math only (no scipy).

Test kinds (`test = ...`), with the observation key(s) they read:
- `normal`: `key` -> 1-D float array; H0: iid N(`mean`, `sd`^2). Three sub-tests: the mean
  (z), the variance ((n-1)s^2/sd^2 ~ chi^2(n-1), two-sided), the shape (Kolmogorov-Smirnov).
- `binomial`: `key` -> successes per trial (list of ints), `n` trials each (a number or an
  observation key), probability `p`; H0: the total is Binomial(N, p) (exact two-sided).
- `dispersion`: same inputs; H0: the per-trial counts are independent Binomial(n, p):
  sum (k - np)^2 / (np(1-p)) ~ chi^2(K), two-sided (too regular and too clumped both fail).
- `uniform`: `key` -> counts per category; H0: uniform (chi^2 goodness of fit, upper tail).
- `equals`: `key` must equal `value` (a deterministic side condition of the draws).
"""
from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from ..config import JudgeBase, ObserveBase, Strict
from . import Malformed, Verdict

KIND = "statistic"


class Observe(ObserveBase):
    fn: str                                  # probes.py helper: fn(ctx, **args) -> draws and counts
    args: dict[str, Any] = {}


class Test(Strict):
    test: Literal["normal", "binomial", "dispersion", "uniform", "equals"]
    name: str = ""
    key: str                                 # the observation's draws (or counts)
    mean: float = 0.0                        # normal
    sd: float | str | None = None            # normal: a number, or "args.<name>" (the probe's own argument)
    n: int | str | None = None               # binomial/dispersion: draws per trial, or "args.<name>"
    p: float | str | None = None             # binomial/dispersion: probability, or "args.<name>"
    value: Any = None                        # equals


class Judge(JudgeBase):
    tests: list[Test]
    alpha: float = 1e-4


def observe(ctx, o: Observe):
    return ctx.helper(o.fn)(ctx, **o.args)


def validate(o: Observe, j: Judge) -> None:
    """At load time: every "args.<name>" a test refers to is one of the probe's arguments."""
    for t in j.tests:
        for what in ("sd", "n", "p"):
            spec = getattr(t, what)
            if isinstance(spec, str):
                _param(spec, o.args, f"tests[{t.name or t.test}].{what}")


# ---- distributions (numpy/math only) -------------------------------------------------------

def norm_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def two_sided_normal_p(z: float) -> float:
    return min(1.0, 2.0 * norm_sf(abs(z)))


def chi2_sf(x: float, k: float) -> float:
    """Upper tail of chi^2(k) via the Wilson-Hilferty cube-root normal approximation
    (accurate to a few per cent in relative terms far into the tails for k >= 3)."""
    if x <= 0:
        return 1.0
    z = ((x / k) ** (1.0 / 3.0) - (1.0 - 2.0 / (9.0 * k))) / math.sqrt(2.0 / (9.0 * k))
    return norm_sf(z)


def chi2_two_sided_p(x: float, k: float) -> float:
    up = chi2_sf(x, k)
    return min(1.0, 2.0 * min(up, 1.0 - up))


def ks_normal_p(values: np.ndarray, mean: float, sd: float) -> tuple[float, float]:
    """Kolmogorov-Smirnov statistic against N(mean, sd^2) and its asymptotic p-value."""
    x = np.sort((np.asarray(values, np.float64) - mean) / sd)
    n = len(x)
    cdf = 0.5 * np.array([math.erfc(-v / math.sqrt(2.0)) for v in x]) if n < 2000 else \
        0.5 * (1.0 + _erf_vec(x / math.sqrt(2.0)))
    i = np.arange(1, n + 1)
    d = float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))
    t = d * (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n))
    p = 2.0 * sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * t * t) for k in range(1, 101))
    return d, float(min(1.0, max(0.0, p)))


def _erf_vec(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def binom_two_sided_p(k: int, n: int, p: float) -> float:
    """Exact two-sided binomial p-value: the total probability of outcomes no more likely
    than the one observed."""
    if not 0 < p < 1:
        return 1.0 if (p == 0 and k == 0) or (p == 1 and k == n) else 0.0
    j = np.arange(n + 1)
    logpmf = (np.array([math.lgamma(n + 1) - math.lgamma(v + 1) - math.lgamma(n - v + 1) for v in j])
              + j * math.log(p) + (n - j) * math.log1p(-p))
    obs = logpmf[k]
    pmf = np.exp(logpmf)
    return float(min(1.0, pmf[logpmf <= obs + 1e-7 * abs(obs)].sum()))


# ---- the tests ----------------------------------------------------------------------------

def _array(got, key) -> np.ndarray:
    v = got[key]
    a = np.asarray(v, dtype=np.float64)
    if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all():
        raise ValueError(f"`{key}` is not a non-empty 1-D array of finite numbers")
    return a


def _counts(got, key) -> list[int]:
    v = got[key]
    if not isinstance(v, (list, np.ndarray)) or len(v) == 0:
        raise ValueError(f"`{key}` is not a list of counts")
    out = [int(c) for c in np.asarray(v).tolist()]
    if any(c < 0 for c in out):
        raise ValueError(f"`{key}` has negative counts")
    return out


def _param(spec, args: dict, what: str) -> float:
    """A test parameter: a number, or "args.<name>": the probe's own argument (from the toml,
    never from the observation), so that a value is written once."""
    if isinstance(spec, str):
        if not spec.startswith("args.") or spec[5:] not in args:
            raise KeyError(f"{what} = {spec!r}: the probe has no such argument")
        return float(args[spec[5:]])
    if spec is None:
        raise KeyError(f"{what} is not set")
    return float(spec)


def run_test(t: Test, got: dict, args: dict) -> list[tuple[str, float, str]]:
    """[(sub-test name, p-value, detail)] for one entry of `tests`."""
    kind = t.test
    if kind == "normal":
        x = _array(got, t.key)
        mean, sd, n = t.mean, _param(t.sd, args, "sd"), len(x)
        m, s2 = float(x.mean()), float(x.var(ddof=1)) if n > 1 else 0.0
        if len(np.unique(x[: 10_000])) < min(n, 10):
            # constant (or nearly): no noise at all earns none of the three tests
            why = f"the draws are degenerate ({len(np.unique(x))} distinct values)"
            return [("mean", 0.0, why), ("spread", 0.0, why), ("shape", 0.0, why)]
        z = (m - mean) / (sd / math.sqrt(n))
        chi = (n - 1) * s2 / sd ** 2
        d, p_ks = ks_normal_p(x, mean, sd)
        return [("mean", two_sided_normal_p(z), f"mean {m:.4g}, expected {mean:g}"),
                ("spread", chi2_two_sided_p(chi, n - 1), f"standard deviation {math.sqrt(s2):.4g}, expected {sd:g}"),
                ("shape", p_ks, f"Kolmogorov-Smirnov distance {d:.3g} from N({mean:g}, {sd:g}^2)")]
    if kind in {"binomial", "dispersion"}:
        k = _counts(got, t.key)
        n = int(_param(t.n, args, "n"))
        p = _param(t.p, args, "p")
        if n <= 0 or any(c > n for c in k):
            raise ValueError("counts larger than the number of draws")
        if kind == "binomial":
            tot, big_n = sum(k), n * len(k)
            return [("rate", binom_two_sided_p(tot, big_n, p), f"{tot} of {big_n} ({tot / big_n:.3f}), expected rate {p:g}")]
        var = n * p * (1 - p)
        chi = sum((c - n * p) ** 2 for c in k) / var
        return [("independence", chi2_two_sided_p(chi, len(k)),
                 f"per-call counts vary with variance {np.var(k):.3g}, expected {var:.3g} for independent draws")]
    if kind == "uniform":
        c = np.asarray(_counts(got, t.key), np.float64)
        if c.sum() == 0:
            return [("uniform", 0.0, "no draws")]
        e = c.sum() / len(c)
        chi = float(((c - e) ** 2 / e).sum())
        return [("uniform", chi2_sf(chi, len(c) - 1), f"counts {c.astype(int).tolist()}")]
    ok = got.get(t.key) == t.value
    return [("equals", 1.0 if ok else 0.0, f"`{t.key}` is {str(got.get(t.key))[:40]}, expected {t.value!r}")]


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    if not isinstance(got, dict):
        raise Malformed("no draws were collected")
    alpha = j.alpha
    total, failed = 0, []
    for t in j.tests:
        label = t.name or t.test
        try:
            results = run_test(t, got, o.args)
        except (KeyError, ValueError, TypeError) as e:
            total += 1
            failed.append(f"{label}: no usable draws ({e})")
            continue
        for sub, pval, detail in results:
            total += 1
            if not pval >= alpha:
                failed.append(f"{label} ({sub}): {detail}; p = {pval:.2g} < {alpha:g}")
    return Verdict((total - len(failed)) / total if total else 0.0, "; ".join(failed))
