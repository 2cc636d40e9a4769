"""jem-cifar10 in detail. Slow (the session's graded batch): what the feedback says, which
check a one-bug mutant loses, the fallback's note. Fast: hypothesis properties of the
replay-buffer probes against the reference's buffer; definitions mode keeps how students
compute ANSWERS["Q2"]."""
import numpy as np
import pytest
from conftest import ROOT, graded
from hypothesis import given, settings
from hypothesis import strategies as st

SLUG = "jem-cifar10"
REF = ROOT / "reference" / SLUG / "solution.py"


@pytest.mark.slow
def test_feedback_names_the_bug(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    c1 = " ".join(c.message for c in b["stride-on-first-conv"].item("C1").checks)
    assert "second 3x3 convolution" in c1
    c8 = " ".join(c.message for c in b["p_new-for-whole-batch"].item("C8").checks)
    assert "new per call" in c8 and "p = " in c8
    lifo = b["lifo-buffer"].item("C8")   # evicting the newest also breaks the cap rule; p_new is fine
    assert {c.name for c in lifo.checks if not c.passed} == {"FIFO eviction", "cap"}
    pnew = b["p_new-for-whole-batch"].item("C8")
    assert {c.name for c in pnew.checks if not c.passed} == {"p_new per sample"}
    assert b["sampling-adds-gradient"].item("C7").checks[1].passed   # the noise test is separate


def _failed(result, item):
    return {c.name for c in result.item(item).checks if not c.passed}


@pytest.mark.slow
def test_each_mutant_loses_the_check_of_its_bug(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    # a buffer drawing without replacement: only that test, not FIFO, cap or p_new
    assert _failed(b["buffer-without-replacement"], "C8") == {"buffered draws"}
    assert "with replacement" in b["buffer-without-replacement"].item("C8").checks[-1].message
    # noise on the reported loss, not on the input: the loss and the measured input noise
    assert _failed(b["part1-noise-on-returned-loss-only"], "C3") == {"loss", "input noise"}
    assert _failed(b["part1-made-up-loss"], "C3") == {"loss"}
    assert _failed(b["part1-no-update"], "C3") == {"update"}
    # a Dropout layer created but never called regularizes nothing, in the block and in WRNRE
    assert _failed(b["dropout-created-never-called"], "C5") == {"ResBlockRE regularizes", "WRNRE regularizes"}
    # a post-activation block is C1's bug only (C2 is Table 1 around the student's own block)
    assert _failed(b["post-activation-resblock"], "C1") == {"outputs under the reference's weights"}
    # C9's checks observe their own behaviour
    assert _failed(b["part2-nineteen-steps"], "C9") == {"sampling"}
    assert _failed(b["part2-restarts-each-step"], "C9") == {"sampling"}
    assert _failed(b["part2-no-input-noise"], "C9") == {"input noise"}
    assert _failed(b["part2-made-up-loss"], "C9") == {"loss formula"}


@pytest.mark.slow
def test_an_unimplemented_sampling_step_earns_nothing(tmp_path_factory):
    r = graded(SLUG, tmp_path_factory)["sampling-step-unimplemented"]
    assert r.item("C7").points == 0, [c.message for c in r.item("C7").checks]


@pytest.mark.slow
def test_the_reference_wrn_stands_in_only_when_the_students_fails_and_the_feedback_says_so(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    r = b["wrn-raises"]
    for item in ("C3", "C4", "C6", "C7", "C9"):
        assert r.item(item).points == r.item(item).max_points
    assert "the reference's WRN stood in for yours" in r.item("C3").checks[0].message
    assert any(v.item == "C3" and "stood in" in v.reason for v in r.review)
    # a student's own WRN runs: nothing stands in, no note
    ok = b["subclassed_wrn_own_attributes"]
    assert not any("stood in" in c.message for it in ok.items for c in it.checks)


def test_definitions_mode_keeps_what_computes_the_parameter_count():
    from grader import cells
    src = ("m = WRN(10)\nm.build((None, 32, 32, 3))\nANSWERS = {'Q2': count_trainable_params(m)}\n"
           "history = train_loop(m, opt, part1_train_step, data, 20)\nm.fit(x, y)")
    kept, note = cells.filter_source(src)
    assert "m.build" in kept and "count_trainable_params" in kept
    assert "train_loop" not in kept and "fit" not in kept and "2 top-level" in note


# ---- hypothesis: the buffer probes' deterministic properties, against the reference buffer ----

def _reference_buffer():
    import importlib.util
    spec = importlib.util.spec_from_file_location("jem_probes", ROOT / "assignments" / SLUG / "probes.py")
    probes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probes)
    src = REF.read_text()
    start = src.index("class SampleBuffer")
    ns = {"np": np}
    exec(src[start:src.index("# %%", start)], ns)
    return probes, ns["SampleBuffer"]


PROBES, SAMPLE_BUFFER = _reference_buffer()


@settings(max_examples=40, deadline=None)
@given(cap=st.integers(1, 12), adds=st.lists(st.integers(0, 15), min_size=1, max_size=6))
def test_fifo_keeps_the_newest_cap_samples(cap, adds):
    shape = (2, 2, 1)
    sb = SAMPLE_BUFFER(shape, 10, max_samples=cap)
    ids, nxt = [], 0
    for k in adds:
        batch = list(range(nxt, nxt + k))
        nxt += k
        if k:
            sb.add_to_buffer(*PROBES._tagged(batch, shape))
        ids += batch
    assert len(sb) == min(cap, len(ids))
    if ids:
        x, y = sb.sample_from_buffer(400, p_new=0.0)
        got, const = PROBES._ids_of(x)
        assert const.all() and set(got.tolist()) <= set(ids[-cap:])
        assert np.array_equal(np.asarray(y), got % 10)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), p_new=st.floats(0, 1), k=st.integers(1, 10))
def test_sample_shapes_and_ranges(n, p_new, k):
    shape = (2, 2, 3)
    sb = SAMPLE_BUFFER(shape, 10, max_samples=50)
    sb.add_to_buffer(*PROBES._tagged(range(k), shape))
    x, y = sb.sample_from_buffer(n, p_new=p_new)
    assert np.shape(x) == (n, *shape) and np.shape(y) == (n,)
    ids, const = PROBES._ids_of(x)
    assert np.all((ids[const] >= 0) & (ids[const] < k))          # buffered: one of the k added
    assert np.all((np.asarray(y) >= 0) & (np.asarray(y) < 10))
    empty = SAMPLE_BUFFER(shape, 10, max_samples=5)
    ex, ey = empty.sample_from_buffer(n, p_new=0.0)
    assert np.shape(ex) == (n, *shape) and np.all((ex >= 0) & (ex <= 1))


@settings(max_examples=25, deadline=None)
@given(ids=st.lists(st.integers(0, 62), min_size=1, max_size=20))
def test_tagged_images_decode_to_their_ids(ids):
    x, y = PROBES._tagged(ids, (3, 3, 3))
    got, const = PROBES._ids_of(x)
    assert const.all() and got.tolist() == ids and np.array_equal(y, np.asarray(ids) % 10)
