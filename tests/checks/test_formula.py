"""The formula judge on hand-built measurements (no kernel)."""
import numpy as np
import pytest

from grader.checks import Malformed
from grader.checks import formula as f
from grader.config import ConfigError, parse

O = f.Observe(fn="helper", args={"sigma": 0.05, "lr": 0.1, "batch": 2, "shape": [4, 4, 3], "k": 6, "size": 8})


def _j(**kw):
    return f.Judge(**kw)


def test_close_recomputes_the_contract_formula_from_the_measurements():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(4, 10)), np.array([1, 0, 9, 3])
    ce = float(np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(4), labels]))
    j = _j(terms=[{"value": "loss", "expect": "mean(logsumexp(logits) - pick(logits, labels))"}], rtol=1e-6)
    assert f.judge(O, j, {"loss": ce, "logits": logits, "labels": labels}, None).fraction == 1.0
    # a reported loss that is not what the model computed (noise on the loss, a made-up number)
    v = f.judge(O, j, {"loss": ce + 0.03, "logits": logits, "labels": labels}, None)
    assert v.fraction == 0.0 and "expected" in v.message
    # the reference's observation is never used
    assert f.judge(O, j, {"loss": ce, "logits": logits, "labels": labels}, {"loss": 99.0}).fraction == 1.0


def test_tolerance_is_relative_to_the_largest_expected_value_and_nan_never_matches():
    j = _j(terms=[{"value": "a", "expect": "b"}], rtol=1e-3, atol=0.0)
    b = np.array([1.0, 1e-6, -2.0])
    assert f.judge(O, j, {"a": b + 1e-3, "b": b}, None).fraction == 1.0        # 1e-3 <= 1e-3 * 2
    assert f.judge(O, j, {"a": b + 3e-3, "b": b}, None).fraction == 0.0
    assert f.judge(O, j, {"a": np.array([np.nan, 0, 0]), "b": b}, None).fraction == 0.0
    assert f.judge(O, j, {"a": np.ones(4), "b": b}, None).fraction == 0.0      # sizes differ
    # a scalar expectation applies to every element; a (B, 1) answer is as good as (B,)
    j0 = _j(terms=[{"value": "steps", "expect": "args.lr * 10"}], rtol=0.0, atol=0.0)
    assert f.judge(O, j0, {"steps": [1.0, 1.0]}, None).fraction == 1.0
    assert f.judge(O, _j(terms=[{"value": "a", "expect": "b"}]), {"a": b.reshape(3, 1), "b": b}, None).fraction == 1.0


def test_missing_or_forged_measurements_fail_the_term_not_the_grader():
    j = _j(terms=[{"value": "loss", "expect": "mean(logits)"}, {"value": "n", "expect": "2"}])
    v = f.judge(O, j, {"loss": 1.0, "logits": None, "n": 2}, None)
    assert v.fraction == 0.5 and "not measured" in v.message
    assert f.judge(O, j, {"loss": "junk", "logits": [1.0], "n": 2}, None).fraction == 0.5
    assert f.judge(O, j, {"loss": 1.0, "logits": [[1.0, "x"]], "n": 2}, None).fraction == 0.5
    with pytest.raises(Malformed):
        f.judge(O, j, "not a dict", None)
    # an empty max() (no calls recorded) fails its term
    assert f.judge(O, _j(terms=[{"value": "max(gaps)", "expect": "0"}]), {"gaps": []}, None).fraction == 0.0


def test_statistical_terms_pass_only_with_every_sub_test():
    rng = np.random.default_rng(1)
    j = _j(terms=[{"name": "noise", "test": "normal", "value": "fed - x", "sd": "args.sigma"}])
    x = rng.uniform(0.25, 0.75, 6000)
    assert f.judge(O, j, {"fed": x + rng.normal(0, 0.05, 6000), "x": x}, None).fraction == 1.0
    # no noise at all, or the gradient's tiny values instead of noise: the right mean earns nothing
    for fed in (x, x + rng.normal(0, 1e-3, 6000), x + rng.normal(0, 0.02, 6000)):
        v = f.judge(O, j, {"fed": fed, "x": x}, None)
        assert v.fraction == 0.0 and "p = " in v.message
    # where: only the selected elements are drawn from
    jw = _j(define={"inside": "x < 0.5"},
            terms=[{"test": "normal", "value": "fed - x", "where": "inside", "sd": "args.sigma"}])
    fed = np.where(x < 0.5, x + rng.normal(0, 0.05, 6000), x)
    assert f.judge(O, jw, {"fed": fed, "x": x}, None).fraction == 1.0


def test_binomial_and_uniform_take_their_parameters_from_expressions():
    rng = np.random.default_rng(2)
    j = _j(terms=[{"name": "with replacement", "test": "binomial", "value": "repeats", "n": "args.k - 1",
                   "p": "1 / args.size"}, {"name": "uniform", "test": "uniform", "value": "counts"}])
    ok = {"repeats": rng.binomial(5, 1 / 8, 150), "counts": rng.multinomial(900, [1 / 8] * 8)}
    assert f.judge(O, j, ok, None).fraction == 1.0
    v = f.judge(O, j, {**ok, "repeats": np.zeros(150, int)}, None)            # without replacement
    assert v.fraction == 0.5 and "with replacement" in v.message
    v = f.judge(O, j, {**ok, "repeats": np.full(150, 0.5)}, None)             # not counts
    assert v.fraction == 0.5


def test_lists_and_shapes():
    j = _j(terms=[{"value": "shape", "expect": "[args.batch, args.shape]"}], rtol=0.0, atol=0.0)
    assert f.judge(O, j, {"shape": [2, 4, 4, 3]}, None).fraction == 1.0
    assert f.judge(O, j, {"shape": [2, 4, 4]}, None).fraction == 0.0


@pytest.mark.parametrize("expr", ["__import__('os')", "x.__class__", "open('f')", "lambda: 1", "x[0]",
                                  "'text'", "mean(x, keepdims=1)", "y.attr", "a if b else c", "x" * 500])
def test_expressions_outside_the_vocabulary_are_refused_at_load(expr):
    with pytest.raises((ValueError, SyntaxError)):
        f.parse(expr)


def test_load_time_validation_names_the_probe_argument():
    raw = {"slug": "s", "framework": "keras", "reference": "r.py", "skeleton": "k.ipynb",
           "items": [{"id": "1", "points": 1, "checks": [
               {"kind": "formula", "name": "c", "fn": "h", "args": {"sigma": 0.1},
                "terms": [{"test": "normal", "value": "d", "sd": "args.sd"}]}]}]}
    with pytest.raises(ConfigError, match="args.sd"):
        parse(raw)
    raw["items"][0]["checks"][0]["terms"] = [{"value": "d"}]
    with pytest.raises(ConfigError, match="expect"):
        parse(raw)
    raw["items"][0]["checks"][0]["terms"] = [{"value": "d", "expect": "os.system(1)"}]
    with pytest.raises(ConfigError):
        parse(raw)
    raw["items"][0]["checks"][0]["terms"] = [{"value": "d", "expect": "args.sigma * 2"}]
    assert parse(raw).checks[0].kind == "formula"
