"""The distribution judge on hand-built results (no kernel)."""
import numpy as np
import pytest

from grader.checks import Malformed
from grader.checks import distribution as d


def res(*values, score=None):
    return {"results": [{"value": np.asarray(v, np.float64), **({"score": score} if score is not None else {})}
                        for v in values], "given": [None] * len(values)}


P = np.full(256, 1 / 256)
Q = np.r_[np.full(128, 1.5 / 256), np.full(128, 0.5 / 256)]
O = d.Observe(target="f", files=["w"])


def test_exact_needs_a_valid_distribution_close_to_the_reference():
    assert d.judge(O, d.Judge(mode="exact"), res(P), res(P)).fraction == 1
    assert d.judge(O, d.Judge(mode="exact"), res(Q), res(P)).fraction == 0          # TV 0.25
    assert d.judge(O, d.Judge(mode="approx", tol=0.3), res(Q), res(P)).fraction == 1
    v = d.judge(O, d.Judge(mode="exact"), res(np.log(P)), res(np.log(P)))
    assert v.fraction == 0 and "negative" in v.message                              # logits, not probabilities
    assert "sums to" in d.judge(O, d.Judge(mode="exact"), res(P * 2), res(P)).message
    assert d.judge(O, d.Judge(mode="exact"), res(np.full(256, np.nan)), res(P)).fraction == 0
    assert d.judge(O, d.Judge(mode="exact"), res(P[:10]), res(P)).fraction == 0


def test_samples_keep_the_given_rows_and_vary():
    given = np.arange(28 * 28).reshape(1, 1, 28, 28) % 256
    rng = np.random.default_rng(0)
    good = np.repeat(given, 4, axis=0).astype(np.float64)
    good[:, :, 14:] = rng.integers(0, 256, (4, 1, 14, 28))
    want = {"results": [{"value": good, "score": 1.2}], "given": [given]}
    j = d.Judge(mode="samples", shape=[4, 1, 28, 28], keep_rows=[0, 14], margin=0.5)
    assert d.judge(O, j, {"results": [{"value": good, "score": 1.4}]}, want).fraction == 1
    assert d.judge(O, j, {"results": [{"value": good, "score": 2.0}]}, want).fraction == 0
    top_changed = good.copy()
    top_changed[:, :, 0] += 1
    assert "rows 0..13" in d.judge(O, j, {"results": [{"value": top_changed, "score": 1.2}]}, want).message
    same = np.repeat(good[:1], 4, axis=0)
    assert "identical" in d.judge(O, j, {"results": [{"value": same, "score": 1.2}]}, want).message


def test_malformed_results():
    with pytest.raises(Malformed):
        d.judge(O, d.Judge(), {"results": "x"}, res(P))
    with pytest.raises(Malformed):
        d.judge(O, d.Judge(), {"results": [1, 2]}, res(P))


def test_w1_compare_invariant_and_depends():
    dark, ink = np.eye(256)[0], np.eye(256)[250]
    near_dark = np.r_[0.9, 0.1, np.zeros(254)]
    # W1 (intensity / 255) barely moves for mass one level away; TV would count all of it
    assert d.judge(O, d.Judge(mode="approx", metric="w1", tol=0.01), res(near_dark), res(dark)).fraction == 1
    assert d.judge(O, d.Judge(mode="approx", tol=0.05), res(near_dark), res(dark)).fraction == 0
    j = d.Judge(mode="approx", metric="w1", compare=[], invariant=[[0, 1]], invariant_tol=0.02,
                depends=[[0, 2]], min_shift=0.15, what_differs="the pixels after", what_ignored="pixels not given")
    want = res(dark, dark, ink)
    assert d.judge(O, j, res(dark, dark, ink), want).fraction == 1
    v = d.judge(O, j, res(dark, ink, ink), want)                    # follows what it is not given
    assert v.fraction == 0 and "not given" in v.message
    v = d.judge(O, j, res(dark, dark, dark), want)                  # a constant ignores what it is given
    assert v.fraction == 0 and "the pixels after" in v.message
    # compare = [] skips the reference; by default every input is compared with it
    assert d.judge(O, d.Judge(mode="approx", metric="w1", tol=0.1), res(dark, dark, dark), want).fraction == 0


def test_samples_score_target_own_rows_constant_and_distinct():
    given = np.arange(28 * 28).reshape(1, 1, 28, 28) % 256
    rng = np.random.default_rng(1)
    good = np.repeat(given, 2, axis=0).astype(np.float64)
    good[:, :, 14:] = rng.integers(0, 256, (2, 1, 14, 28))
    want = {"results": [{"value": good, "score": 0.4}], "given": [given]}
    j = d.Judge(mode="samples", shape=[2, 1, 28, 28], keep_rows=[0, 14], margin=0.25, score_target=0.0)
    assert d.judge(O, j, {"results": [{"value": good, "score": 0.1}]}, want).fraction == 1     # 0.1 from 0
    assert d.judge(O, j, {"results": [{"value": good, "score": 0.4}]}, want).fraction == 0     # not the reference's
    copied = np.repeat(given, 2, axis=0).astype(np.float64)
    assert "own" in d.judge(O, j, {"results": [{"value": copied, "score": 0.0}]}, want).message
    zeros = good.copy()
    zeros[:, :, 14:] = 0
    assert "value 0" in d.judge(O, j, {"results": [{"value": zeros, "score": 0.0}]}, want).message
    twice = np.repeat(good[:1], 2, axis=0)
    assert d.judge(O, j, {"results": [{"value": twice, "score": 0.0}]}, want).fraction == 0
    loose = d.Judge(mode="samples", shape=[2, 1, 28, 28], keep_rows=[0, 14], margin=0.25, score_target=0.0,
                    distinct=False)                                  # resampling may repeat a sample
    assert d.judge(O, loose, {"results": [{"value": twice, "score": 0.0}]}, want).fraction == 1


def test_relations_are_checked_at_load_time():
    with pytest.raises(ValueError):
        d.validate(O, d.Judge(mode="approx", invariant=[[0]]))
    with pytest.raises(ValueError):
        d.validate(O, d.Judge(mode="samples", depends=[[0, 1]]))
