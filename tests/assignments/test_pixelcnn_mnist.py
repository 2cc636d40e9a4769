"""pixelcnn-mnist in detail (the session's graded batch): what the feedback says."""
import pytest
from conftest import graded

pytestmark = pytest.mark.slow
SLUG = "pixelcnn-mnist"


def test_failing_checks_say_what_is_wrong(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    msgs = {n: " ".join(c.message for it in b[n].items for c in it.checks if not c.passed)
            for n in ("centre-visible", "blind-spot", "3a-logits", "3f-resamples-top")}
    assert "not earlier in raster order" in msgs["centre-visible"]
    assert "blind spot" in msgs["blind-spot"]
    assert "negative" in msgs["3a-logits"] or "sums to" in msgs["3a-logits"]
    assert "rows 0..13" in msgs["3f-resamples-top"]
