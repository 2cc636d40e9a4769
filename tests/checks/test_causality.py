"""The causality judge on hand-built dependence measurements (no kernel)."""
import numpy as np
import pytest

from grader.checks import Malformed, causality

H = W = 4


def case(dep, positions=None, pixels=None, grad=True):
    """A measured case where output p depends on input k iff dep(k_raster, p_raster)."""
    positions = positions or [(h, w) for h in range(H) for w in range(W)]
    pixels = pixels or [(h, w) for h in range(H) for w in range(W)]
    rin = [h * W + w for h, w in pixels]
    rout = [h * W + w for h, w in positions]
    pert = np.array([[dep(i, o) for o in rout] for i in rin], dtype=bool)
    g = np.zeros((len(positions), H, W), dtype=bool)
    for p, o in enumerate(rout):
        for r in range(H * W):
            g[p, r // W, r % W] = dep(r, o)
    return {"shape": [H, W], "positions": [list(q) for q in positions], "pixels": [list(q) for q in pixels],
            "grad": g if grad else None, "pert": pert}


CAUSAL = case(lambda i, o: i < o)
LEAKY = case(lambda i, o: i <= o)
BLIND = case(lambda i, o: i < o and (i // W == o // W or i % W <= o % W))   # misses up-and-right


def judge(mode, got, want=CAUSAL, **kw):
    o = causality.Observe(target="M", cases=[{"shape": [1, 1, H, W]}])
    return causality.judge(o, causality.Judge(mode=mode, **kw), {"cases": [got]}, {"cases": [want]})


def test_strict_accepts_raster_causal_and_names_a_leak():
    assert judge("strict", CAUSAL).fraction == 1
    v = judge("strict", LEAKY)
    assert v.fraction == 0 and "not earlier in raster order" in v.message


def test_strict_rejects_a_model_that_ignores_its_input():
    v = judge("strict", case(lambda i, o: False))
    assert v.fraction == 0 and "depends on no input pixel" in v.message


def test_a_leak_seen_only_by_perturbation_still_counts():
    hidden = case(lambda i, o: i <= o)
    hidden["grad"] = CAUSAL["grad"]          # gradients faked causal: the perturbation shows the leak
    assert judge("strict", hidden).fraction == 0


def test_no_blind_spot_and_must_leak():
    assert judge("no-blind-spot", CAUSAL, window=3).fraction == 1
    v = judge("no-blind-spot", BLIND, window=3)
    assert v.fraction == 0 and "blind spot" in v.message
    assert judge("must-leak", LEAKY, want=LEAKY).fraction == 1
    assert judge("must-leak", CAUSAL, want=LEAKY).fraction == 0


def test_same_compares_the_pattern():
    assert judge("same", BLIND, want=BLIND).fraction == 1
    assert judge("same", CAUSAL, want=BLIND).fraction == 0


def test_forged_or_truncated_measurements_are_malformed():
    bad = dict(CAUSAL, pert=np.zeros((2, 2), dtype=bool))
    with pytest.raises(Malformed):
        judge("strict", bad)
    with pytest.raises(Malformed):
        judge("strict", {"shape": "x"})
    moved = case(lambda i, o: i < o, positions=[(0, 1)])
    assert judge("strict", moved).fraction == 0     # positions other than the plan's
