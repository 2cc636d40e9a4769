"""The statistic judge on hand-built draws (no kernel)."""
import numpy as np
import pytest

from grader.checks import Malformed
from grader.checks import statistic as s
from grader.config import ConfigError, parse

NOISE_O = s.Observe(fn="sampling_noise", args={"noise_amp": 0.05})
NOISE_J = s.Judge(tests=[{"name": "residual", "test": "normal", "key": "residual", "sd": "args.noise_amp"}])
PNEW_O = s.Observe(fn="buffer_pnew", args={"n": 20, "p_new": 0.3})
PNEW_J = s.Judge(tests=[{"test": "binomial", "key": "k", "n": "args.n", "p": "args.p_new"},
                        {"test": "dispersion", "key": "k", "n": "args.n", "p": "args.p_new"}])


def test_normal_accepts_normal_rejects_others():
    rng = np.random.default_rng(1)
    ok = s.judge(NOISE_O, NOISE_J, {"residual": rng.normal(0, 0.05, 20000)}, None)
    assert ok.fraction == 1.0, ok.message
    for bad in (rng.normal(0, 0.01, 20000), rng.normal(0.01, 0.05, 20000),
                rng.uniform(-0.05 * 3 ** 0.5, 0.05 * 3 ** 0.5, 20000), np.zeros(20000)):
        v = s.judge(NOISE_O, NOISE_J, {"residual": bad}, None)
        assert v.fraction < 1.0 and "p = " in v.message
    assert s.judge(NOISE_O, NOISE_J, {"residual": np.zeros(0)}, None).fraction == 0.0
    # an unimplemented sampling step (no noise at all) earns none of the sub-tests
    v = s.judge(NOISE_O, NOISE_J, {"residual": np.zeros(5000)}, None)
    assert v.fraction == 0.0 and "degenerate" in v.message
    assert s.judge(NOISE_O, NOISE_J, {"residual": "junk"}, None).fraction == 0.0


def test_binomial_and_dispersion_take_n_and_p_from_the_probe_not_the_observation():
    rng = np.random.default_rng(2)
    indep = rng.binomial(20, 0.3, 60).tolist()
    assert s.judge(PNEW_O, PNEW_J, {"k": indep, "n": 999}, None).fraction == 1.0
    whole = (20 * (rng.uniform(size=60) < 0.3)).tolist()      # the whole batch new or none
    assert s.judge(PNEW_O, PNEW_J, {"k": whole}, None).fraction < 1.0
    v = s.judge(PNEW_O, PNEW_J, {"k": [6] * 60}, None)        # always exactly n * p_new
    assert v.fraction == 0.5 and "independence" in v.message
    assert s.judge(PNEW_O, PNEW_J, {"k": [25] * 60}, None).fraction == 0.0
    with pytest.raises(Malformed):
        s.judge(PNEW_O, PNEW_J, "junk", None)


def test_distribution_helpers():
    assert s.norm_sf(0.0) == pytest.approx(0.5)
    assert s.two_sided_normal_p(1.959964) == pytest.approx(0.05, rel=1e-4)
    assert s.chi2_sf(18.307, 10) == pytest.approx(0.05, rel=0.05)
    assert s.binom_two_sided_p(5, 10, 0.5) == pytest.approx(1.0)
    assert s.binom_two_sided_p(0, 10, 0.5) == pytest.approx(2 * 0.5 ** 10)


def test_an_unknown_probe_argument_is_refused_when_the_toml_loads():
    raw = {"slug": "x", "framework": "torch", "reference": "r.py", "skeleton": "s.ipynb",
           "items": [{"id": "1", "points": 1, "checks": [
               {"kind": "statistic", "fn": "f", "args": {"n": 3}, "tests": [
                   {"test": "binomial", "key": "k", "n": "args.n", "p": "args.p_new"}]}]}]}
    with pytest.raises(ConfigError, match=r"items\[0\].checks\[0\]: .*p_new"):
        parse(raw, "x.toml")
