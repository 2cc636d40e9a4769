"""The matches judge on hand-built values (no kernel)."""
import numpy as np
import pytest

from grader.checks import Malformed
from grader.checks import matches as m

O = m.Observe(fn="helper")


def test_close_equal_rows_near_and_falls():
    want = {"a": np.ones((3, 2)), "n": 7, "f": [1.0, 0.5], "rows": np.eye(4), "s": "Adam"}
    j = m.Judge(compare={"n": "equal", "f": "falls", "rows": "rows_near", "s": "equal"}, row_tol=0.01)
    got = {"a": np.ones((3, 2)) + 1e-7, "n": 7, "f": [2.0, 1.0], "rows": np.eye(4)[::-1], "s": "Adam"}
    assert m.judge(O, j, got, want).fraction == 1
    bad = {"a": np.ones((3, 2)) * 2, "n": 8, "f": [1.0, 1.5], "rows": np.zeros((4, 4)), "s": "SGD"}
    v = m.judge(O, j, bad, want)
    assert v.fraction == 0 and "6 of 6 values differ" in v.message


def test_integers_are_exact_and_nan_never_matches():
    j = m.Judge(keys=["n", "x"], rtol=1e-3)
    assert m.judge(O, j, {"n": 1000, "x": 0.5}, {"n": 1000, "x": 0.5}).fraction == 1
    assert m.judge(O, j, {"n": 1001, "x": 0.5}, {"n": 1000, "x": 0.5}).fraction == 0.5
    assert m.judge(O, j, {"n": 1000, "x": float("nan")}, {"n": 1000, "x": 0.5}).fraction == 0.5
    assert m.judge(O, j, {"n": 1000, "x": np.array([np.nan])}, {"n": 1000, "x": np.array([0.5])}).fraction == 0.5


def test_explain_and_missing_keys():
    j = m.Judge(keys=["a", "b"], explain={"b": "b must be there"})
    v = m.judge(O, j, {"a": 1.0}, {"a": 1.0, "b": 2.0})
    assert v.fraction == 0.5 and "b: missing" in v.message
    with pytest.raises(Malformed):
        m.judge(O, j, ["not", "a", "dict"], {"a": 1.0})


def test_against_compares_two_values_of_the_students_own_observation():
    j = m.Judge(keys=["calc"], against={"calc": "mine"}, rtol=1e-3, atol=0.0)
    assert m.judge(O, j, {"calc": [9.07, 8.6], "mine": [9.0701, 8.6001]}, {"calc": [1.0], "mine": [1.0]}).fraction == 1
    v = m.judge(O, j, {"calc": [6.29, 5.96], "mine": [9.07, 8.6]}, {"calc": [9.07, 8.6], "mine": [9.07, 8.6]})
    assert v.fraction == 0                                   # nats, although the reference's value is not used
    assert "mine: missing" in m.judge(O, j, {"calc": [1.0]}, {"calc": [1.0]}).message
