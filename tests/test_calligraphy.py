"""pixelcnn-calligraphy (Keras 3) end to end: reference, skeleton and one-bug mutants through
the real pipeline. Each mutant loses its own item only: the probes stand the reference's
parts in for the student's where another item grades them (a broken DownRightMovedConv2d
must not cost GatedResnet's or the backbone's points)."""
import pytest

from conftest import ROOT, assert_only_lost, auto_items, grade_all, write_mutants

pytestmark = pytest.mark.slow
SLUG = "pixelcnn-calligraphy"
REF = ROOT / "reference" / SLUG / "solution.py"

# name -> (anchor in the reference, replacement, items that must lose points)
MUTANTS = {
    "len-floor": ("return math.ceil(len(self.files) / self.batch_size)",
                  "return len(self.files) // self.batch_size", {"C1"}),
    "y-inverted": ("return x, tf.identity(x)", "return x, 1.0 - x", {"C2"}),
    "drmc-pads-right": ("x = ops.pad(x, [[0, 0], [fh - 1, 0], [fw - 1, 0], [0, 0]])",
                        "x = ops.pad(x, [[0, 0], [fh - 1, 0], [0, fw - 1], [0, 0]])", {"C3"}),
    "dmc-pads-left-only": ("x = ops.pad(x, [[0, 0], [fh - 1, 0], [pw, pw], [0, 0]])",
                           "x = ops.pad(x, [[0, 0], [fh - 1, 0], [2 * pw, 0], [0, 0]])", {"C4"}),
    "gated-no-residual": ("return x + f * ops.sigmoid(g)", "return f * ops.sigmoid(g)", {"C6"}),
    "ar-no-right-move": ("+ right_move(self.down_right_moved_conv2d(x)))",
                         "+ self.down_right_moved_conv2d(x))", {"C7"}),
    "generate-from-blank": ("p = predict(tf.constant(x))[:, i, j, 0].numpy()",
                            "p = predict(tf.constant(np.zeros_like(x)))[:, i, j, 0].numpy()", {"C9"}),
    "bce-per-image": ("count += y.size", "count += len(y)", {"C10"}),
    "optimizer-no-ema": ("epsilon=1e-6,\n                                 use_ema=True",
                         "epsilon=1e-6,\n                                 use_ema=False", {"C11"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    paths = write_mutants(tmp_path_factory.mktemp("subs"), REF.read_text(), MUTANTS)
    skeleton = ROOT / "assignments" / SLUG / "skeleton" / "autoregressive_model.ipynb"
    return grade_all(SLUG, [REF, skeleton, *paths], tmp_path_factory.mktemp("out"))


def test_reference_earns_every_auto_point(graded):
    a, res = graded
    r = res["solution.py"]
    assert r.status == "graded"
    assert r.auto_points == pytest.approx(a.auto_max), [(i.id, [c.message for c in i.checks]) for i in r.items
                                                        if i.points < i.max_points]


def test_skeleton_earns_nothing(graded):
    a, res = graded
    r = res["autoregressive_model.ipynb"]
    assert r.status == "graded"
    assert r.auto_points == 0, [(i.id, i.points) for i in r.items if i.points]


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_loses_only_its_item(graded, name):
    a, res = graded
    assert_only_lost(a, res[f"{name}.py"], MUTANTS[name][2])


def test_rubric(graded):
    a, _ = graded
    assert sum(it.points for it in a.items) == 100
    assert a.auto_max == 73  # C1-C11 (70) + Q4
    assert {it.id for it in a.items if it.manual} == {"Q1", "Q2", "Q3", "Q5", "Q6", "Q7", "Q8", "P-C9", "P-C11"}
    assert len(auto_items(a)) == 12
