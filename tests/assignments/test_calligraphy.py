"""pixelcnn-calligraphy in detail.

Fast: the judges of the toml on hand-built measurements (C9's generation, C11's training run),
the probe model of C9 against its specification, the matches kinds the data-set checks use, and
stood-in parts (the student's model built from the reference's parts, compared with the
reference's run) in-process.
Slow (the session's graded batch): what the feedback and the review column say."""
import importlib.util

import numpy as np
import pytest
from conftest import ROOT, graded

from grader import assignment
from grader.checks import matches

SLUG = "pixelcnn-calligraphy"
SIZE = 32


def _checks(item: str) -> dict:
    a = assignment.get(SLUG)
    return {c.name: c for c in a.item(item).checks}


def _judge(check, got, want=None):
    return check.module.judge(check.observe, check.judge, got, want)


def _probes():
    spec = importlib.util.spec_from_file_location("calligraphy_probes", ROOT / "assignments" / SLUG / "probes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- C9: the generation model and the judge -----------------------------------------------------

def _probability(flat: np.ndarray, k: int) -> float:
    """The specification of probes._generation_model at raster position k, given the image so far."""
    prev = flat[k - 1] if k else 0.0
    if k < SIZE * SIZE // 2:
        return prev if (k % SIZE == 0 and k > 0) else 1.0 - prev
    return 0.25 + 0.5 * prev


def _generate(n, seed, order="raster", rule="noise", blank=False):
    """A generator as students write them (and get wrong), in numpy."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, SIZE * SIZE))
    ks = range(SIZE * SIZE) if order == "raster" else [i * SIZE + j for j in range(SIZE) for i in range(SIZE)]
    for k in ks:
        for b in range(n):
            p = _probability(np.zeros(SIZE * SIZE) if blank else x[b], k)
            u = rng.random()
            x[b, k] = float(u < p) if rule == "noise" else float(p > 0.5)
    return x.reshape(n, SIZE, SIZE, 1)


def _observation(images, again):
    probs = np.stack([[_probability(img.reshape(-1), k) for k in range(SIZE * SIZE)] for img in images])
    return {"shape": list(images.shape), "count": len(images), "images": images.astype(np.float32),
            "again": again.astype(np.float32), "probs": probs.reshape(images.shape).astype(np.float32)}


def _c9(got) -> dict:
    return {name: _judge(c, got).fraction for name, c in _checks("C9").items()}


def test_generation_judge_separates_the_rules():
    ok = _observation(_generate(4, 7), _generate(4, 7))
    assert _c9(ok) == {"raster order": 1.0, "noise and threshold": 1.0, "images and seed": 1.0}
    cols = _observation(_generate(4, 7, order="columns"), _generate(4, 7, order="columns"))
    assert _c9(cols)["raster order"] == 0
    blank = _observation(_generate(4, 7, blank=True), _generate(4, 7, blank=True))
    assert _c9(blank)["raster order"] == 0 and _c9(blank)["noise and threshold"] < 1
    hard = _observation(_generate(4, 7, rule="threshold"), _generate(4, 7, rule="threshold"))
    assert _c9(hard)["noise and threshold"] == 0          # degenerate: no statistical credit
    unseeded = _observation(_generate(4, 7), _generate(4, 8))
    assert _c9(unseeded)["images and seed"] < 1 and _c9(unseeded)["noise and threshold"] == 1
    nothing = {"shape": [4, 32, 32], "count": 4}          # wrong shape: nothing else measured
    assert set(_c9(nothing).values()) == {0.0}


def test_the_probe_model_is_its_specification():
    pytest.importorskip("keras")
    probes = _probes()
    model = probes._generation_model()
    rng = np.random.default_rng(0)
    x = (rng.random((3, SIZE, SIZE, 1)) < 0.5).astype(np.float32)
    got = np.asarray(model(x))
    want = np.stack([[_probability(img.reshape(-1), k) for k in range(SIZE * SIZE)] for img in x]).reshape(x.shape)
    np.testing.assert_allclose(got, want, atol=1e-7)


# ---- C11: the grader measures ----------------------------------------------------------------------

CONTRACT = {"learning_rate": 1e-4, "beta_1": 0.95, "beta_2": 0.9995, "epsilon": 1e-6, "use_ema": 1.0,
            "ema_momentum": 0.9995}


def _run(before=0.6933, after=0.6932, steps=8, used=CONTRACT, made=CONTRACT, epochs=1):
    out = {"val_before": before, "val_after": after, "steps": steps, "steps_per_epoch": 8, "reported_epochs": epochs}
    out.update({f"used_{k}": v for k, v in used.items()})
    out.update({f"made_{k}": v for k, v in made.items()})
    return out


def test_training_judge_trusts_measurements_not_reports():
    c = _checks("C11")["training"]
    assert _judge(c, _run()).fraction == 1
    fake = _judge(c, _run(after=0.6933, steps=0))          # a made-up History: nothing trained
    assert fake.fraction == 0.5 and "did not fall" in fake.message
    plain = _judge(c, _run(used={**CONTRACT, "learning_rate": 1e-3, "use_ema": 0.0, "ema_momentum": 0.99}))
    assert plain.fraction == 0.75 and "make_optimizer" in plain.message
    # make_optimizer() itself wrong (no EMA) but used: C11's optimizer check's, not this one's
    no_ema = {**CONTRACT, "use_ema": 0.0}
    assert _judge(c, _run(used=no_ema, made=no_ema)).fraction == 1
    assert _judge(c, _run(epochs=0)).fraction == 0.75     # no History returned


# ---- the matches modes of C1/C2 --------------------------------------------------------------------

def test_one_of_and_contains():
    o = matches.Observe(fn="dataset_items")
    j = matches.Judge(keys=["dtypes", "values", "bases"], compare={"dtypes": "one_of", "values": "one_of",
                                                                   "bases": "contains"},
                      accepted={"dtypes": ["float32", "float64"]})
    want = {"dtypes": ["float32"], "values": [0.0, 1.0], "bases": ["keras.PyDataset", "builtins.object"]}
    good = {"dtypes": ["float64", "float64"], "values": [0.0, 1.0],
            "bases": ["mine.Base", "keras.PyDataset", "builtins.object"]}
    assert matches.judge(o, j, good, want).fraction == 1
    bad = {"dtypes": ["uint8"], "values": [0.0, 0.5, 1.0], "bases": ["builtins.object"]}
    v = matches.judge(o, j, bad, want)
    assert v.fraction == 0 and "0.5" in v.message and "keras.PyDataset" in v.message


# ---- stood-in parts: the student's model built from the reference's parts (in-process) ---------------

@pytest.mark.parametrize("item,check", [("C6", "values"), ("C6", "residual and gate"), ("C7", "causality"),
                                        ("C7", "values")])
def test_stood_in_parts_cost_once(item, check):
    """A DownRightMovedConv2d that pads on the right is C3's bug: GatedResnet's and
    AutoregressiveModel's checks stand the reference's parts in and compare with the reference's
    own run, so they pass; with the student's own parts they fail."""
    pytest.importorskip("keras")
    import inprocess

    a = assignment.get(SLUG)
    text = a.reference_path.read_text()
    bug = text.replace("x = ops.pad(x, [[0, 0], [fh - 1, 0], [fw - 1, 0], [0, 0]])",
                       "x = ops.pad(x, [[0, 0], [fh - 1, 0], [0, fw - 1], [0, 0]])")
    assert bug != text
    c = _checks(item)[check]
    ref_ns, bug_ns = inprocess.definitions(text, ".py"), inprocess.definitions(bug, ".py")

    def verdict(o):
        want = inprocess.observe(a, c.kind, o, ref_ns)
        got = inprocess.observe(a, c.kind, o, bug_ns, expected=want)
        assert "value" in got and "value" in want, (got.get("error"), want.get("error"))
        return c.module.judge(o, c.judge, got["value"], want["value"]).fraction

    assert c.observe.stand_in and verdict(c.observe) == 1
    if check != "residual and gate":          # zero weights: a conv padding elsewhere still gives zeros
        assert verdict(c.observe.model_copy(update={"stand_in": ()})) < 1


# ---- the graded batch --------------------------------------------------------------------------------

@pytest.mark.slow
def test_made_up_history_loses_the_training_check_only(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    c11 = {c.name: c for c in b["train-made-up-history"].item("C11").checks}
    assert c11["optimizer"].passed and not c11["training"].passed
    assert "did not fall" in c11["training"].message


@pytest.mark.slow
def test_variants_are_graded_on_their_own_parts(tmp_path_factory):
    """No reference definition stood in for a correct variant's (fallbacks only on failure)."""
    from conftest import variants
    b = graded(SLUG, tmp_path_factory)
    for p in variants(SLUG):
        stood = [r for r in b[p.stem].review if "stood in" in r.reason]
        assert not stood, (p.stem, stood)


@pytest.mark.slow
def test_feedback_names_the_bug(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    c9 = " ".join(c.message for c in b["generate-column-order"].item("C9").checks if not c.passed)
    assert "raster order" in c9
    c10 = " ".join(c.message for c in b["bce-mean-of-batch-means"].item("C10").checks)
    assert "every pixel of every image" in c10
    c7 = " ".join(c.message for c in b["ar-no-right-move"].item("C7").checks if not c.passed)
    assert "should be masked" in c7


# ---- issue 18: the course's notebook -----------------------------------------------------------------

@pytest.mark.slow
def test_the_course_notebook_is_graded_from_its_marked_cells(tmp_path_factory):
    """Variants in the course notebook's style (its names, C8-C11 in marked cells) earn every
    point (test_assignments) with nothing in the review column but the alias; the unfilled
    course notebook earns nothing, its given Conv2d is nobody's DownMovedConv2d (it earned 2
    points of C4 before), and each unfinished class is in the review column with its cell."""
    b = graded(SLUG, tmp_path_factory)
    for name in ("course_colab_sequence", "course_local_model_in_c8"):
        reasons = [r.reason for r in b[name].review]
        assert reasons == ["name resolution: `CalligraphySequence` graded as `CalligraphyDataset` (an alias)"], reasons
    r = b["course-notebook-unfilled.ipynb"]
    assert r.auto_points == 0 and r.item("C4").points == 0
    reasons = " | ".join(x.reason for x in r.review)
    assert "Conv2d` graded as" not in reasons
    assert "C4 was not graded in full (`DownMovedConv2d` not found)" in reasons
    assert "defines `DownMovedConv2d` but raised" in reasons
    assert r.item("C4").status == "review" and r.item("C9").status == "graded"     # C9's cell holds no code


@pytest.mark.slow
def test_one_bug_in_each_items_cells_is_named(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    r = b["cells-one-bug-per-item"]
    said = {i: " ".join(c.message for c in r.item(i).checks if not c.passed) for i in ("C8", "C9", "C10", "C11")}
    assert "did not lower the test loss" in said["C8"]
    assert "where p = 0.25" in said["C9"] or "where p = 0.75" in said["C9"]
    assert "every pixel of every image" in said["C10"]
    assert "beta_1" in said["C11"]
