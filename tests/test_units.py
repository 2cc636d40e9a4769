"""Fast tests of the pieces that need no kernel: the cell classifier, .py -> notebook,
skeleton generation, expression answers, answer extraction, observations, judging, the
grading fingerprint."""
import json

import nbformat
import numpy as np
import pytest

from grader import answers, assignment, cells, skeleton
from grader.checks import Malformed, answer, shape, structure, training
from grader.notebooks import notebook_from_py
from grader.probe import observations
from grader.submission import load


def test_classifier_keeps_definitions_and_drops_work():
    src = ("!pip install torch\n%matplotlib inline\nfrom google.colab import drive\ndrive.mount('/content')\n"
           "import torch\nclass Net(torch.nn.Module):\n    pass\nmodel = Net()\nfor e in range(9):\n    train(model)\n"
           "gpu_model = Net().cuda()\ndevice = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
           "history = model.fit(x)\nANSWERS = {'1a': (1, 2)}\ntorch.manual_seed(0)\nplt.show()\n"
           "if __name__ == '__main__':\n    main()\n")
    kept, note = cells.filter_source(src)
    assert "class Net" in kept and "ANSWERS" in kept and "manual_seed" in kept and "model = Net()" in kept
    assert "device = torch.device" in kept
    for dropped in ("pip", "matplotlib", "drive.mount", "for e in", "fit(", "plt.show", "__main__", "Net().cuda()"):
        assert dropped not in kept
    assert "google.colab" in kept and "ModuleNotFoundError" in kept  # optional imports guarded
    compile(kept, "cell", "exec")


def test_tagged_notebooks_trust_their_tags():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("for i in range(3): pass"), nbformat.v4.new_code_cell("train()")]
    nb.cells[1].metadata["tags"] = ["train"]
    plan = cells.plan(nb)
    assert plan[0].source == "for i in range(3): pass" and plan[1].source is None
    assert all(p.source for p in cells.plan(nb, "full"))


def test_py_percent_format_becomes_cells_with_tags():
    nb = notebook_from_py("# %% [markdown]\n# # Title\n# %%\nx = 1\n# %% tags=[\"train\"]\nfit()\n")
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert nb.cells[0].source == "# Title" and nb.cells[2].metadata["tags"] == ["train"]


def test_skeleton_strips_solutions():
    text = ("def f(x):\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION\n"
            "# BEGIN SOLUTION\n# SKELETON: ANSWERS = {'1a': None}\nANSWERS = {'1a': 3}\n# END SOLUTION\n")
    out = skeleton.strip(text)
    assert "x + 1" not in out and "ANSWERS = {'1a': None}" in out
    assert '    raise NotImplementedError("YOUR CODE HERE")' in out
    compile(out, "s", "exec")
    with pytest.raises(ValueError):
        skeleton.strip("# BEGIN SOLUTION\nx = 1\n")


@pytest.mark.parametrize("slug", sorted(assignment.all_assignments()))
def test_committed_skeletons_are_generated_from_the_reference(slug):
    a = assignment.get(slug)
    for target, ref in skeleton.sources(a).items():
        assert target.read_text() == skeleton.build(ref, target), f"run `grader skeleton {slug}`"


def test_answer_text_is_extracted_for_manual_items():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("### 3d. Samples\n\nThey get sharper."),
                nbformat.v4.new_markdown_cell("Edges blur early."),
                nbformat.v4.new_markdown_cell("### 3e. Novel\n\nYOUR ANSWER HERE")]
    assert answers.extract(nb, "3d") == "They get sharper.\n\nEdges blur early."
    assert answers.extract(nb, "3e") == ""
    assert answers.extract(nb, "3f") == ""


def test_observations_round_trip_and_refuse_oversize(tmp_path):
    obs = {"value": {"a": np.arange(6).reshape(2, 3), "x": float("nan"), "t": [1, (2, 3)]}}
    observations.dump(obs, tmp_path, "k")
    back = observations.load(tmp_path, "k")
    assert back["value"]["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and back["value"]["t"] == [1, [2, 3]]
    (tmp_path / "big.json").write_text(json.dumps("x" * (observations.MAX_BYTES + 1)))
    with pytest.raises(ValueError):
        observations.load(tmp_path, "big")
    with pytest.raises(ValueError):
        observations.load(tmp_path, "missing")


def test_judges_compare_with_the_reference_and_say_why():
    so = shape.Observe(target="M", inputs=[[1]], layers=["l1"])
    z = np.zeros
    v = shape.judge(so, shape.Judge(), {"output": z((2, 3)), "layers": {"l1": z((2, 4))}},
                    {"output": z((2, 3)), "layers": {"l1": z((2, 5))}})
    assert v.fraction == 0.5 and "l1: expected (2, 5), got (2, 4)" in v.message
    want = {"h": [{"type": "Linear", "config": {}}, {"type": "ReLU", "config": {}}]}
    got = {"h": [{"type": "Linear", "config": {}}]}
    st_o = structure.Observe(target="M", attrs=["h"])
    assert structure.judge(st_o, structure.Judge(), got, want).fraction == 0
    assert structure.judge(st_o, structure.Judge(), want, want).fraction == 1
    ao, aj = answer.Observe(key="1a"), answer.Judge()
    assert answer.judge(ao, aj, [32, 16, 64, 64], [32, 16, 64, 64]).fraction == 1
    assert answer.judge(ao, aj, [32, 16, 62, 62], [32, 16, 64, 64]).fraction == 0
    assert answer.judge(ao, aj, None, 448).fraction == 0
    # integer answers (parameter counts) are exact: 2.7M +- 2 is wrong
    assert answer.judge(ao, aj, 2747084, 2747082).fraction == 0
    assert answer.judge(ao, aj, float("nan"), 1.5).fraction == 0
    ref = {"losses": [1.0] * 5 + [0.5] * 20}
    to = training.Observe(fn="f")
    assert training.judge(to, training.Judge(criterion="falls"), ref, ref).fraction == 1
    assert training.judge(to, training.Judge(criterion="falls"), {"losses": [1.0] * 25}, ref).fraction == 0
    assert training.judge(to, training.Judge(criterion="matches", margin=0.2),
                          {"losses": [1.0] * 5 + [0.7] * 20}, ref).fraction == 0
    assert training.judge(to, training.Judge(criterion="runs"), {"losses": [float("nan")]}, ref).fraction == 0
    with pytest.raises(Malformed):
        training.judge(to, training.Judge(), {"losses": "x"}, ref)


def test_loader_finds_the_entry_in_zips_and_folders(tmp_path):
    import zipfile
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "models.py").write_text("x = 1\n")
    (tmp_path / "sub" / "helper.txt").write_text("")
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as z:
        z.writestr("alice/models.py", "y = 2\n")
        z.writestr("__MACOSX/alice/._models.py", "junk")
    for p in (tmp_path / "sub", tmp_path / "s.zip"):
        s = load(p, ("*.ipynb", "models.py"))
        assert s.ok and s.entry.endswith("models.py"), s.reason
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as z:
        z.writestr("../../escape.py", "x = 1\n")
    s = load(tmp_path / "evil.zip", ("*.py",))
    assert not s.ok and "outside" in s.reason


def test_one_fingerprint_changes_with_everything_that_decides_a_grade(tmp_path, monkeypatch):
    import shutil

    from grader import fingerprint
    from grader.config import load
    a = assignment.get("denoising-autoencoder")
    ref_dir, asg_dir = tmp_path / "ref", tmp_path / "asg"
    shutil.copytree(a.reference_dir, ref_dir)
    shutil.copytree(a.directory, asg_dir, ignore=shutil.ignore_patterns("examples", "skeleton"))
    copy = load(asg_dir, ref_dir)
    k0 = fingerprint.of(copy, "cpu")
    assert fingerprint.of(copy, "cpu") == k0 == fingerprint.of(a, "cpu")
    assert fingerprint.of(copy, "cuda") != k0
    seen = {k0}
    (ref_dir / "models.py").write_text((ref_dir / "models.py").read_text() + "\n# changed\n")
    for change in (lambda: None,
                   lambda: (asg_dir / "probes.py").write_text((asg_dir / "probes.py").read_text() + "\n"),
                   lambda: (asg_dir / "data" / "sprites" / "000.png").write_bytes(b"x"),
                   lambda: (asg_dir / "assignment.toml").write_text(
                       (asg_dir / "assignment.toml").read_text() + "\n# a changed rubric\n")):
        change()
        k = fingerprint.of(load(asg_dir, ref_dir), "cpu")
        assert k not in seen
        seen.add(k)
    # a judge's fix changes it too (the engine's scoring files are part of it)
    monkeypatch.setattr(fingerprint, "SCORING", fingerprint.SCORING[:-1])
    assert fingerprint.of(load(asg_dir, ref_dir), "cpu") not in seen


def test_zygote_preloads_the_references_imports_and_never_the_other_framework():
    from grader import assignment, names
    from grader.run import zygote
    for slug in ("pixelcnn-mnist", "jem-cifar10"):
        a = assignment.get(slug)
        mods = zygote.preload(a.framework, names.reference_code(a))
        assert mods[0] == ("torch" if a.framework == "torch" else "tensorflow")
        assert "grader.probe.armed" in mods and f"grader.frameworks.{a.framework}" in mods
        other = "tensorflow" if a.framework == "torch" else "torch"
        assert not any(m.split(".")[0] == other for m in mods), mods
    mnist = zygote.preload("torch", names.reference_code(assignment.get("pixelcnn-mnist")))
    assert any(m.split(".")[0] in {"pytorch_lightning", "lightning"} for m in mnist), mnist
    # magics and shell lines do not stop the import scan
    assert "scipy.ndimage" in zygote.preload("torch", "%matplotlib inline\n!pip install x\nfrom scipy.ndimage import zoom\n")
