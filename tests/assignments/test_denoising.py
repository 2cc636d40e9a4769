"""denoising-autoencoder in detail (the session's graded batch): what the feedback says."""
import pytest
from conftest import graded

pytestmark = pytest.mark.slow
SLUG = "denoising-autoencoder"


def test_feedback_names_the_layer_and_the_shape(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    r = b["layer2-stride-1"]
    msg = " ".join(c.message for c in r.item("2b").checks)
    assert "layer2" in msg and "expected (32, 64, 15, 15)" in msg
    assert (b.out / "layer2-stride-1" / "feedback.md").is_file()


def test_manual_items_are_not_scored(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    for r in b.results.values():
        assert all(it.points == 0 for it in r.items if it.kind == "manual")
    assert {it.id for it in b.a.items if it.manual} == {"3d", "3e", "3f"}
