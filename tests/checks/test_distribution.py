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
