"""Inline answers without a kernel: the grader side (which cells, what code; grader/inline.py),
the kernel side run in-process on a namespace of plain objects (grader/probe/lifted.py: roles,
bindings, capped fits, paths, what is picked), the formula functions the judges use on what
comes back, and the review entries of grader/gaps.py. The real pipeline is exercised by the
assignments' graded batches (course-notebook variants and mutants)."""
import ast

import numpy as np
import pytest
from nbformat.v4 import new_code_cell as code
from nbformat.v4 import new_markdown_cell as md
from nbformat.v4 import new_notebook

from grader import assignment, cells, gaps, inline
from grader.checks import formula
from grader.config import ConfigError, parse
from grader.probe import lifted
from grader.result import CellRecord, CheckResult, ItemResult, Result, Status


def nb(*cells):
    n = new_notebook()
    n.cells = list(cells)
    return n


# a course notebook: the model and data sets built outside the items, C9-C11 in marked cells
COURSE = nb(
    code("import numpy as np\nfrom google.colab import drive\ndrive.mount('/content/drive')"),
    code("pixel_cnn = build()\ntest_ds = Seq('/content/drive/MyDrive/pa2/test', 32)"),
    code("### [C9: Qualitative Evaluation]\npixels = np.zeros((3, 32, 32, 1))\nfor i in range(32):\n"
         "    for j in range(32):\n        p = pixel_cnn.predict(pixels)[:, i, j, 0]\n"
         "        pixels[:, i, j, 0] = (np.random.rand(3) < p)"),
    code("import matplotlib.pyplot as plt\nplt.imshow(pixels[0, :, :, 0])\nplt.show()"),
    code("### [C10: Quantitative Evaluation]\n!nvidia-smi\n# your code here"),
)


def test_the_cells_of_an_item_are_its_function():
    a = assignment.get("pixelcnn-calligraphy")
    found = inline.entries(a, COURSE)
    assert set(found) == {"generate_images"}                   # C10's cell holds no code of the student's
    e = found["generate_images"]
    assert e["cells"] == [2, 3] and e["params"] == ["model", "n_images", "seed"]
    assert "plt.show" not in e["source"] and "plt.imshow" not in e["source"] and "pixels = np.zeros" in e["source"]
    assert inline.cell_code("!pip install x\n%matplotlib inline\nx = 1") == "x = 1"
    assert inline.cell_code("%%bash\nls") == ""
    assert not inline.has_code("# your code here\npass\n...\nraise NotImplementedError('YOUR CODE HERE')")
    assert inline.has_code("x = 1")


def test_free_variables_their_uses_and_the_order_of_assignment():
    tree = ast.parse("canvas = np.zeros((1, 32, 32, 1))\nfor n in range(10):\n    canvas = canvas * 0\n"
                     "    p = model.predict(canvas)\n    out.append(p)\nh = net.fit(train_ds, validation_data=val_ds)\n"
                     "for x, y in test_ds:\n    pass\nw = load(WEIGHTS)\nimages = np.stack(out)\n"
                     "def f(a):\n    return a + b\n")
    free, uses, assigned = lifted.analyse(tree)
    assert free == ["np", "range", "model", "out", "net", "train_ds", "val_ds", "test_ds", "load", "WEIGHTS", "b"]
    assert ".predict" in uses["model"] and "arg:fit" in uses["train_ds"] and "validation_data" in uses["val_ds"]
    assert "iter" in uses["test_ds"] and "arg:load" in uses["WEIGHTS"]
    assert assigned[-2:] == ["w", "images"] and assigned.index("canvas") < assigned.index("p")
    absent = lifted._ABSENT
    assert lifted.role("model", uses["model"], absent) == "model"
    assert lifted.role("net", {"call"}, absent) == "model"
    assert lifted.role("np", {".zeros"}, np) == ""               # a module is never bound
    assert lifted.role("test_ds", uses["test_ds"], absent) == "data"
    assert [lifted.split(n, uses[n]) for n in ("train_ds", "val_ds", "test_ds")] == ["train", "val", "test"]
    assert lifted.split("d1", {"arg:fit"}) == "train" and lifted.split("d2", {"validation_data"}) == "val"


PATHS = {"pa2": "/a/pa2", "train": "/a/pa2/train", "*.h5": "/a/w.weights.h5"}


@pytest.mark.parametrize("path,loading,want", [
    ("/content/drive/MyDrive/pa2/train", False, "/a/pa2/train"),
    ("./pa2/", False, "/a/pa2"),
    ("train", False, None),                      # a word, not a path (a split's name)
    ("/train", False, None),                     # a fragment added to a folder
    ("pixel_cnn_e5.h5", True, "/a/w.weights.h5"),
    ("best.weights.h5", False, None),            # a checkpoint the cells write stays theirs
])
def test_paths_map_to_the_fixtures_by_their_last_part(path, loading, want):
    assert lifted.map_path(path, PATHS, loading) == want


def test_string_constants_are_mapped_where_the_cells_load():
    src = "m.load_weights(f'{root}/pixel_cnn_e5.h5')\nds = Seq('./pa2/train')\ncb = Ckpt('/c/best.weights.h5')"
    out = ast.unparse(lifted._Paths(PATHS).visit(ast.parse(src)))
    assert "m.load_weights('/a/w.weights.h5')" in out and "Seq('/a/pa2/train')" in out and "/c/best" in out


class Model:
    """A grader-made model as the cells see it (plain Python: no framework)."""
    def __init__(self):
        self.fitted, self.optimizer = [], None

    def compile(self, optimizer=None, loss=None):
        self.optimizer = optimizer

    def fit(self, data, validation_data=None, epochs=1, verbose="auto", initial_epoch=0):
        self.fitted.append(epochs)
        h = type("History", (), {})()
        h.history = {"val_loss": [0.5] * epochs}
        return h

    def predict(self, x, verbose=0):
        return np.full(np.shape(x), 0.5)


class Optimizer:
    def __init__(self, **kw):
        self.config = kw


PLAN = {"framework": "torch", "seed": 0, "inline": {"paths": {}}}


def _entry(source, returns, params, item="C0", repeat=""):
    return {"item": item, "cells": [1], "source": source, "params": params, "returns": returns, "repeat": repeat}


def test_a_training_cell_runs_capped_on_the_model_it_is_given():
    src = ("opt = Optimizer(lr=1e-4)\npixel_cnn.compile(optimizer=opt, loss='bce')\n"
           "history = pixel_cnn.fit(train_ds, validation_data=val_ds, epochs=10)\nprint(history.history['val_loss'])")
    ns = {"Optimizer": Optimizer}
    train = lifted.lifted("train", _entry(src, "history", ["model", "train_ds", "val_ds", "epochs"]), ns, PLAN)
    m = Model()
    h = train(m, "train", "val", 1)
    assert m.fitted == [1] and h.history == {"val_loss": [0.5]}          # epochs=10 capped at the probe's 1
    assert "fit" not in vars(m)                                          # the cap is taken off afterwards
    make = lifted.lifted("make_optimizer", _entry(src, "optimizer", []), ns, PLAN)
    opt = make()                          # a stub model: nothing trains, the History is empty (the print fails)
    assert isinstance(opt, Optimizer) and opt.config == {"lr": 1e-4}
    assert "pixel_cnn" not in ns                                         # the notebook's namespace is left as it was


def test_what_the_cells_leave_is_picked_by_form():
    src = ("total, n = 0.0, 0\nfor x in dataset:\n    total += float(np.sum(x))\n    n += 1\n"
           "mean = total / n\nprint('mean per batch', mean)")
    ns = {"np": np}
    numbers = lifted.lifted("f", _entry(src, "numbers", ["model", "dataset"]), ns, PLAN)(None, [np.ones(2), np.ones(2)])
    assert 2.0 in numbers.tolist() and 4.0 in numbers.tolist()          # assigned and printed
    src = "values = np.arange(256)\nprobs = np.full(256, 1 / 256)\nbins = np.arange(256)\nimgs = np.zeros((5, 28, 28))"
    dist = lifted.lifted("g", _entry(src, "array:256", ["model"]), ns, PLAN)(None)
    assert dist[0] == pytest.approx(1 / 256)                            # the distribution, not the arange after it
    samples = lifted.lifted("h", _entry(src, "array:*,1,28,28", ["model", "n"], repeat="n"), ns, PLAN)(None, 3)
    assert samples.shape == (3, 1, 28, 28)                              # a channel added, three of five kept
    with pytest.raises(lifted.InlineError, match="no array of shape"):
        lifted.lifted("k", _entry("x = 1", "array:256", []), ns, PLAN)()


def test_samples_are_collected_over_runs_and_an_image_binds_the_data_sets():
    src = "img = test_set[4][0][None]\nout = img + np.random.randint(0, 2, size=img.shape)"
    fn = lifted.lifted("s", _entry(src, "array:*,1,28,28", ["model", "img", "n"], repeat="n"), {"np": np}, PLAN)
    given = np.full((1, 1, 28, 28), 7)
    out = fn(None, given, 3)                                            # one sample per run: three runs
    assert out.shape == (3, 1, 28, 28) and set(np.unique(out)) <= {7, 8}


def test_a_flag_of_another_class_stands_for_the_derived_one():
    class PixelCNN:
        def __init__(self, c_in, c_hidden, causal=True):
            self.causal = causal
    pinned = {"PixelCNN": PixelCNN}
    notes = lifted.pin(pinned, {}, {"inline": {"derived": {"NonCausalPixelCNN": {"base": "PixelCNN",
                                                                                 "flags": "causal"}}}})
    assert pinned["NonCausalPixelCNN"](1, 16).causal is False and "causal=False" in notes[0]["note"]
    a = assignment.get("pixelcnn-mnist")
    src = "class PixelCNN(pl.LightningModule):\n    def __init__(self, c_in, c_hidden, see_current=False):\n        pass"
    assert inline.derived(a, nb(code(src))) == {"NonCausalPixelCNN"}
    assert inline.derived(a, nb(code(src.replace("see_current", "width")))) == set()


def test_the_flag_is_set_as_the_notebook_sets_it():
    """A class whose default is the non-causal setting (`mask_center=False`), the notebook
    building its own model with `mask_center=True` and the other one with the default: the
    graded PixelCNN is the former, NonCausalPixelCNN the latter."""
    class PixelCNN:
        def __init__(self, c_in, c_hidden, mask_center=False):
            self.mask_center = mask_center
    a = assignment.get("pixelcnn-mnist")
    book = nb(code("model = PixelCNN(1, 64, mask_center=True)"), md("## Question 2"),
              code("noncausal_model = PixelCNN(1, 64)"))
    values = inline.flag_values(a, book, "NonCausalPixelCNN")
    assert values == {"base": {"mask_center": True}}
    pinned = {"PixelCNN": PixelCNN}
    lifted.pin(pinned, {}, {"inline": {"derived": {"NonCausalPixelCNN": {"base": "PixelCNN", "flags": "mask_?cent",
                                                                         "values": values}}}})
    assert pinned["PixelCNN"](1, 8).mask_center is True and pinned["NonCausalPixelCNN"](1, 8).mask_center is False


def test_the_judge_takes_the_number_nearest_its_own():
    env = {"bce": np.array([64.0, 12.3, 0.6931]), "probs": np.full((2, 4), 0.5), "targets": np.ones((2, 4))}
    assert formula.evaluate("binary_cross_entropy(probs, targets)", env, {}) == pytest.approx(np.log(2))
    assert formula.evaluate("nearest(bce, binary_cross_entropy(probs, targets))", env, {}) == pytest.approx(0.6931)
    with pytest.raises(formula.ExpressionError):
        formula.evaluate("binary_cross_entropy(probs, bce)", env, {})


def test_an_inline_function_must_name_an_item():
    raw = {"slug": "x", "framework": "torch", "reference": "r.py", "skeleton": "s.py",
           "items": [{"id": "1", "points": 1, "manual": True}],
           "inline": {"functions": {"f": {"item": "2", "returns": "numbers"}}}}
    with pytest.raises(ConfigError, match="no item '2'"):
        parse(raw)
    raw["inline"]["functions"]["f"] = {"item": "1", "returns": "pixels"}
    with pytest.raises(ConfigError, match="returns"):
        parse(raw)


def _result(points, message):
    item = ItemResult(id="C9", kind="auto", points=points, max_points=5, checks=[
        CheckResult(name="x", kind="formula", passed=False, points=points, max_points=5, message=message)])
    return Result(assignment="pixelcnn-calligraphy", submission="s", submission_sha256="", grader_version="0",
                  items=[item], cells=[CellRecord(index=2, status="ok")])


def test_an_item_with_work_the_grader_could_not_run_goes_to_review():
    a = assignment.get("pixelcnn-calligraphy")
    r = _result(0, "generate_images(...): NameError: name 'x' is not defined (line 3 of <ipython-input-inline-C9>)")
    gaps.review(a, COURSE, r)
    assert r.items[0].status == Status.REVIEW and "cells 2, 3 answer it" in r.review[0].reason
    wrong = _result(0, "pixels must be generated one at a time in raster order")   # graded, and wrong: no entry
    gaps.review(a, COURSE, wrong)
    assert wrong.items[0].status == Status.GRADED and not wrong.review


def test_a_definition_whose_cell_raised_goes_to_review():
    a = assignment.get("pixelcnn-calligraphy")
    book = nb(code("class DownMovedConv2d(Layer):\n    def call(self, x):\n        # your code here\n"))
    r = _result(0, "`DownMovedConv2d` is not defined in the submission")
    r.items[0].id = "C4"
    r.cells = [CellRecord(index=0, status="error", ename="IndentationError", evalue="expected an indented block")]
    gaps.review(a, book, r)
    assert "cell 0 defines `DownMovedConv2d` but raised IndentationError" in r.review[0].reason


def test_work_under_the_part_an_item_belongs_to_goes_to_review():
    """Question 3 answered in cells whose subparts the grader cannot tell apart (no "(c)"
    heading): the missing function is not a silent zero, the cells under "Question 3" are named."""
    a = assignment.get("pixelcnn-mnist")
    book = nb(md("## Question 3"), code("probs = model(img)[0, :, 0, 14, 14].softmax(0)"), md("## Notes"))
    r = _result(0, "`conditional_middle_given_above_left` is not defined in the submission")
    r.assignment, r.items[0].id = "pixelcnn-mnist", "3c"
    gaps.review(a, book, r)
    assert r.items[0].status == Status.REVIEW and "cell 1 answers the part it belongs to" in r.review[0].reason


# ---- issue 17's protocol: what the cells leave is measured only when plain --------------------------

def test_what_the_cells_leave_is_measured_only_when_it_is_plain():
    """A number or tensor the cells leave that passes for a plain one (a float subclass, a
    tensor subclass) voids the probe (NotPlain) instead of being taken at its word; values of
    another kind are left out; more numbers than one could tell apart answer nothing."""
    import torch

    from grader.frameworks import NotPlain

    ns = {"np": np, "torch": torch}
    fn = lambda src, returns="numbers": lifted.lifted("f", _entry(src, returns, []), ns, PLAN)()  # noqa: E731
    with pytest.raises(NotPlain):
        fn("class Loss(float):\n    pass\nbce = Loss(0.69)")
    with pytest.raises(NotPlain):
        fn("class T(torch.Tensor):\n    pass\nbce = torch.ones(1).as_subclass(T)")
    with pytest.raises(NotPlain):
        fn("class T(torch.Tensor):\n    pass\nimages = torch.zeros(2, 1, 28, 28).as_subclass(T)", "array:*,1,28,28")
    assert fn("label = 'bce'\nmodel = object()\nbce = torch.tensor(0.5)\nprint(bce.item())").tolist() == [0.5, 0.5]
    with pytest.raises(lifted.InlineError, match="cannot be told"):
        fn("for v in np.arange(0.6, 0.8, 1e-3):\n    print(round(float(v), 4))")


def test_a_function_is_the_cells_only_when_the_grader_made_it():
    """Helpers ask the Context whether the cells stand for a function (C9's cells generate
    their own count, once): a student's function that claims it by an attribute is graded as
    a function, and a notebook name spelled like the grader's record is overwritten."""
    from grader.checks import formula as kind
    from grader.probe.context import Context

    def generate_images(model, n_images, seed):
        return np.zeros((n_images, 32, 32, 1))
    generate_images.__inline__ = {"item": "C9"}
    entry = _entry("pixels = np.zeros((3, 32, 32, 1))", "array:*,32,32,1", ["model", "n_images", "seed"], "C9")
    plan = {**PLAN, "data_dir": ".", "inline": {"paths": {}, "functions": {"evaluate_bce": entry}}}
    ns = {"np": np, "generate_images": generate_images, lifted.MADE: {"generate_images": (generate_images, entry)}}
    pinned = dict(ns)
    lifted.pin(pinned, ns, plan)
    ctx = Context(ns, plan, kind.Observe.model_validate({"fn": "generation"}), pinned=pinned)
    assert ctx.inline("generate_images") is None and ctx.inline("evaluate_bce") is entry
    assert ctx.inline("make_optimizer") is None


def test_a_late_import_in_an_answering_cell_leaves_the_earlier_binding():
    """A course notebook imports PIL's Image for its data set, then IPython's Image in the C9
    cell: run in order, the data set had used PIL's. At top level the answering cell keeps its
    other imports and definitions, not the rebinding (its own run as C9 still imports it)."""
    nb = new_notebook(cells=[code("from PIL import Image\nimport numpy as np"),
                             code("### [C9: Qualitative Evaluation]\nfrom IPython.display import Image, display\n"
                                  "import math\nfor i in range(3):\n    pass\ndef show(x):\n    return display(x)")])
    top = cells.plan(nb, "definitions", lean={1})[1].source
    assert "import display" in top and "import math" in top and "def show" in top
    assert "Image" not in top and "for i" not in top
