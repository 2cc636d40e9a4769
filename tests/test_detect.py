"""Which assignment `grader check` is given, as students call it: a notebook whose definitions
live in a module beside it, and a bundle that holds one assignment."""
import shutil

from grader import assignment, detect


def test_a_notebook_is_known_by_the_modules_beside_it(tmp_path):
    a = assignment.get("denoising-autoencoder")
    work = tmp_path / "work"
    shutil.copytree(a.skeleton_path if a.skeleton_path.is_dir() else a.skeleton_path.parent, work)
    notebooks = sorted(work.glob("*.ipynb"))
    assert notebooks and not any(f"class {n}" in notebooks[0].read_text() for n in a.names)
    assert detect.detect(notebooks[0]) == a.slug


def test_a_bundle_with_one_assignment_needs_no_name(tmp_path, monkeypatch):
    shutil.copytree(assignment.assignments_root() / "jem-cifar10", tmp_path / "jem-cifar10")
    monkeypatch.setenv("GRADER_ASSIGNMENTS", str(tmp_path))
    (tmp_path / "empty.ipynb").write_text("")
    assert detect.detect(tmp_path / "empty.ipynb") == "jem-cifar10"
