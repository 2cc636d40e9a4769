"""Reference pieces (grader/probe/pieces.py and the grader's Answers): what a probe may bring
into a kernel, the order probes run in, and the replacement of a kernel that has held a piece
of what the next probe grades (the last one with real kernels, on a tiny assignment)."""
import textwrap

import pytest

from grader import assignment, batch, config, pipeline
from grader.probe import Answers, order, pieces


def test_a_piece_is_one_definition_with_what_it_needs_and_never_the_answers():
    a = assignment.get("pixelcnn-calligraphy")
    ref = pieces.of(a)
    idx, graded = ref.closure(["GatedResnet"])
    src = ref.source(idx)
    assert graded == {"GatedResnet", "DownRightMovedConv2d"}
    assert "class GatedResnet" in src and "def concat_elu" in src and "import keras" in src
    for absent in ("class AutoregressiveModel", "def generate_images", "def evaluate_bce", "ANSWERS"):
        assert absent not in src
    with pytest.raises(KeyError):
        ref.closure(["ANSWERS"])
    mnist = pieces.of(assignment.get("pixelcnn-mnist"))
    _, graded = mnist.closure(["PixelCNN"])
    assert graded == {"PixelCNN", "MaskedConvolution", "VerticalStackConvolution", "HorizontalStackConvolution"}


def test_the_grader_answers_only_what_a_probe_declares():
    a = assignment.get("pixelcnn-calligraphy")
    key = next(k for k, p in a.plan().items() if p["observe"].stand_in == ("DownRightMovedConv2d",))
    answers = Answers(a, None)
    got, _ = answers.answer(key, {"what": "piece", "name": "GatedResnet"}, b"")
    assert "error" in got and not answers.held
    got, _ = answers.answer(key, {"what": "piece", "name": "DownRightMovedConv2d"}, b"")
    assert "class DownRightMovedConv2d" in got["source"] and answers.held == {"DownRightMovedConv2d"}
    again, _ = answers.answer(key, {"what": "piece", "name": "DownRightMovedConv2d"}, b"")
    assert again["source"] == ""                       # a statement is sent once per probe
    got, _ = answers.answer(key, {"what": "file", "name": "solution.py"}, b"")
    assert "error" in got


def test_probes_without_pieces_run_first():
    for slug in ("pixelcnn-calligraphy", "jem-cifar10", "pixelcnn-mnist"):
        a = assignment.get(slug)
        plan = a.plan()
        ran = order(a, list(plan))
        sizes = [len(pieces.may_hold(a, plan[k]["observe"])) for k in ran]
        assert sizes == sorted(sizes) and sizes[0] == 0, slug


def test_a_probe_may_not_bring_in_what_it_grades(tmp_path):
    folder, _ = _tiny(tmp_path, extra='''
        [[items]]
        id = "bad"
        points = 1
        checks = [{ kind = "shape", name = "s", target = "A", init = {}, inputs = [[2, 3]], stand_in = ["A"] }]
        ''')
    with pytest.raises(config.ConfigError, match="grades A"):
        pieces.validate(config.load(folder, folder / "ref"))


TINY_REFERENCE = '''
import torch
from torch import nn

class A(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        return self.lin(x)


class B(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = A()

    def forward(self, x):
        return self.a(x) * 2


class C(nn.Module):
    def forward(self, x):
        return x + 1


ANSWERS = {"secret": 42}
'''

# a submission that keeps whatever A it is given (the reference's, while it stands in)
STASHING = TINY_REFERENCE + '''
# %%
STASH = []


class B(B):
    def __init__(self):
        super().__init__()
        STASH.append(type(self.a))
'''

TINY_PROBES = '''
def reference_classes(ctx):
    """The classes of reference pieces alive in this kernel, by name."""
    import gc
    import torch
    gc.collect()
    found, todo = set(), [torch.nn.Module]
    while todo:
        c = todo.pop()
        for s in c.__subclasses__():
            todo.append(s)
            if s.__module__ == "grader_reference":
                found.add(s.__name__)
    return {"classes": sorted(found)}
'''


def _tiny(tmp_path, extra=""):
    folder = tmp_path / "tiny"
    (folder / "ref").mkdir(parents=True)
    (folder / "ref" / "models.py").write_text(TINY_REFERENCE)
    (folder / "skeleton.py").write_text("")
    (folder / "probes.py").write_text(TINY_PROBES)
    (folder / "assignment.toml").write_text(textwrap.dedent('''
        slug = "tiny"
        framework = "torch"
        reference = "models.py"
        skeleton = "skeleton.py"
        names = ["A", "B", "C"]

        [probes.b_with_ref_a]
        kind = "shape"
        target = "B"
        inputs = [[2, 3]]
        stand_in = ["A"]

        [probes.what_grades_a]
        kind = "matches"
        fn = "reference_classes"
        stand_in = ["C"]
        grades = ["A"]

        [[items]]
        id = "1"
        points = 1
        checks = [{ kind = "shape", name = "B's shape", probe = "b_with_ref_a" }]

        [[items]]
        id = "2"
        points = 1
        checks = [{ kind = "matches", name = "no reference A", probe = "what_grades_a" }]
        ''') + textwrap.dedent(extra))
    return folder, folder / "ref" / "models.py"


@pytest.mark.slow
def test_a_kernel_that_held_a_piece_of_what_comes_next_is_replaced(tmp_path, monkeypatch):
    """b_with_ref_a brings the reference's A into the kernel, and the submission keeps it;
    what_grades_a grades A and must not meet it: the kernel stops there, and a fresh one (the
    cells replayed) runs what_grades_a, where only its own stand-in, the reference's C, is
    alive, as in the reference's run."""
    folder, ref = _tiny(tmp_path)
    sub = tmp_path / "stashing.py"
    sub.write_text(STASHING)
    monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "cache"))
    a = config.load(folder, folder / "ref")
    assert order(a, list(a.plan())) == ["b_with_ref_a", "what_grades_a"]
    res = batch.run([sub], a, tmp_path / "out", pipeline.Options(device="cpu"), jobs=1, resume=False)
    r = res[0]
    from grader import expectations
    want = expectations.get(a, pipeline.Options(device="cpu"))
    assert want["what_grades_a"]["classes"] == ["C"] and want["b_with_ref_a"]["output"].shape == (2, 3)
    assert r.auto_points == 2, (r.reason, r.review, [c.message for i in r.items for c in i.checks])
