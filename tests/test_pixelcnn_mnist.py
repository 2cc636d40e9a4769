"""pixelcnn-mnist end to end: the reference, the skeleton and one-bug mutants of the
reference, graded in one batch through the real pipeline (nbclient kernels, torch, CPU)."""
import pytest

from conftest import ROOT, assert_only_lost, grade_all, write_mutants

pytestmark = pytest.mark.slow
SLUG = "pixelcnn-mnist"
REF = ROOT / "reference" / SLUG / "solution.py"

# name -> ([(anchor in the reference, replacement), ...], items that must lose points)
MUTANTS = {
    # question 1: the first layer sees the pixel it predicts
    "centre-visible": ([("first_mask_center = (True, True)", "first_mask_center = (True, False)")], {"1"}),
    # question 1: the vertical stack's kernel keeps the row below its centre
    "vertical-keeps-row-below": ([("mask[kernel_size // 2 + 1:, :] = 0      # rows below the centre",
                                   "mask[kernel_size // 2 + 2:, :] = 0      # rows below the centre")], {"1"}),
    # question 1: the horizontal stack never receives the vertical one (a blind spot above)
    "blind-spot": ([(" + self.conv_vert_to_horiz(F.elu(v_feat))", ""),
                    ("out = self.conv_out(F.elu(h_stack + v_stack))", "out = self.conv_out(F.elu(h_stack))")], {"1"}),
    # question 2: a "non-causal" model that is still causal
    "noncausal-still-causal": ([("first_mask_center = (True, False)", "first_mask_center = (True, True)")], {"2"}),
    "3a-logits": ([("return F.softmax(model(x)[0, :, 0, 0, 0].float(), dim=0)",
                    "return model(x)[0, :, 0, 0, 0].float()")], {"3a"}),
    "3c-wrong-pixel": ([("model(x)[0, :, 0, MID[0], MID[1]]", "model(x)[0, :, 0, MID[0], MID[1] - 1]")], {"3c"}),
    "3f-resamples-top": ([("_raster(14, 0, 28, 0)", "_raster(0, 0, 28, 0)")], {"3f"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    paths = write_mutants(tmp_path_factory.mktemp("subs"), REF.read_text(), MUTANTS)
    skeleton = ROOT / "assignments" / SLUG / "skeleton.ipynb"
    return grade_all(SLUG, [REF, skeleton, *paths], tmp_path_factory.mktemp("out"))


def test_reference_earns_every_auto_point(graded):
    a, res = graded
    r = res["solution.py"]
    assert r.status == "graded"
    assert r.auto_points == pytest.approx(a.auto_max), [(i.id, [c.message for c in i.checks if not c.passed])
                                                        for i in r.items]


def test_skeleton_earns_nothing(graded):
    a, res = graded
    r = res["skeleton.ipynb"]
    assert r.status == "graded"
    assert r.auto_points == 0, [(i.id, i.points) for i in r.items if i.points]


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_loses_only_its_item(graded, name):
    a, res = graded
    assert_only_lost(a, res[f"{name}.py"], MUTANTS[name][1])


def test_failing_checks_say_what_is_wrong(graded):
    a, res = graded
    msgs = {n: " ".join(c.message for it in res[f"{n}.py"].items for c in it.checks if not c.passed)
            for n in ("centre-visible", "blind-spot", "3a-logits", "3f-resamples-top")}
    assert "not earlier in raster order" in msgs["centre-visible"]
    assert "blind spot" in msgs["blind-spot"]
    assert "negative" in msgs["3a-logits"] or "sums to" in msgs["3a-logits"]
    assert "rows 0..13" in msgs["3f-resamples-top"]


def test_points_match_the_contract():
    from grader import assignment
    a = assignment.get(SLUG)
    assert {it.id: it.points for it in a.items} == {"1": 40, "2": 15, "3a": 7, "3b": 6, "3c": 7, "3d": 6,
                                                     "3e": 6, "3f": 7, "3g": 6}
