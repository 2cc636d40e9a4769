"""pixelcnn-mnist in detail (the session's graded batch): what the feedback says, what the
marker is told, and the toml's promises (every probe capped, no check needs n_layers)."""
import pytest
from conftest import graded

from grader import assignment

SLUG = "pixelcnn-mnist"


def _failing(b, name):
    return " ".join(c.message for it in b[name].items for c in it.checks if not c.passed)


@pytest.mark.slow
def test_failing_checks_say_what_is_wrong(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    msgs = {n: _failing(b, n) for n in (
        "centre-visible", "blind-spot", "3a-logits", "3f-resamples-top", "sample-argmax", "sample-ignores-img",
        "fake-falling-loss", "likelihood-in-nats", "logs-wrong-name", "3d-uses-past", "3f-temperature",
        "3g-noise", "3b-blank-image")}
    assert "not earlier in raster order" in msgs["centre-visible"]
    assert "blind spot" in msgs["blind-spot"]
    assert "negative" in msgs["3a-logits"] or "sums to" in msgs["3a-logits"]
    assert "rows 0..13" in msgs["3f-resamples-top"]
    assert "most likely" in msgs["sample-argmax"]
    assert "given pixels kept" in msgs["sample-ignores-img"]
    assert "did not fall" in msgs["fake-falling-loss"]          # the grader's bits/dim, not the returned loss
    assert "bits per dimension" in msgs["likelihood-in-nats"]
    assert "train_bpd" in msgs["logs-wrong-name"]
    assert "not given" in msgs["3d-uses-past"]
    assert "calibration" in msgs["3f-temperature"] and "calibration" in msgs["3g-noise"]
    assert "input 2: Wasserstein-1" in msgs["3b-blank-image"]     # the model trained on inverted digits


@pytest.mark.slow
def test_the_marker_is_told_what_the_grader_adapted(tmp_path_factory):
    """A PixelCNN without n_layers is built without it, and a question-3 function without the
    grader's sample count is called without it: both graded in full, both noted for review."""
    b = graded(SLUG, tmp_path_factory)
    notes = " ".join(r.reason for r in b["tutorial_adapted"].review)
    assert "takes no `n_layers`" in notes
    notes = " ".join(r.reason for r in b["fixed_depth_hooks"].review)
    assert "takes no `n_layers`" in notes and "takes no `n_samples`" in notes


def test_every_probe_has_a_time_cap_and_none_needs_n_layers():
    a = assignment.get(SLUG)
    for key, p in a.probes.items():
        assert p["observe"].timeout_s, f"probe {key} has no timeout_s"
        assert p["observe"].timeout_s <= a.budget.probe_timeout_s, key
        assert "n_layers" not in p["observe"].needs, key


@pytest.mark.slow
def test_question_3_in_cells_and_a_flag_for_question_2(tmp_path_factory):
    """Tutorial-style variants (issue 18): NonCausalPixelCNN is PixelCNN with its flag turned,
    and question 3 is graded from the cells under its headings (comment headings in a script):
    every point (test_assignments), the flag said in the review column, no item in review."""
    b = graded(SLUG, tmp_path_factory)
    for name, flag in (("tutorial_flag_q3_headings", "causal=False"), ("tutorial_flag_q3_comment_cells", "see_current=True")):
        r = b[name]
        assert f"`PixelCNN({flag})` graded as `NonCausalPixelCNN`" in " ".join(x.reason for x in r.review)
        assert all(i.status == "graded" for i in r.items if i.kind == "auto"), [(i.id, i.status) for i in r.items]
    r = b["cells-one-bug-per-item"]
    assert "negative" in _failing(b, "cells-one-bug-per-item") or "sums to" in _failing(b, "cells-one-bug-per-item")
    assert "rows 0..13" in " ".join(c.message for c in r.item("3f").checks)
