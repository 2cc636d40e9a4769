"""Bad input never crashes the grader or loses a result: each yields a Result with its
reason, and the next submission in the same batch is graded normally."""
import zipfile

import nbformat
import pytest
from conftest import ROOT, grade_all

from grader.result import Status

pytestmark = pytest.mark.slow
SLUG = "denoising-autoencoder"
REF = (ROOT / "reference" / SLUG / "models.py").read_text()


def notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "a-invalid-json.ipynb").write_text('{"cells": [ this is not json')
    (d / "b-empty.ipynb").write_text("")
    with zipfile.ZipFile(d / "c-no-notebook.zip", "w") as z:
        z.writestr("report.txt", "my report")
    (d / "d-not-a-zip.zip").write_bytes(b"PK\x03\x04 truncated garbage")
    notebook(d / "e-syntax-error.ipynb", "def broken(:\n    pass", REF)
    notebook(d / "f-infinite-loop.ipynb", "while True:\n    pass", REF)
    notebook(d / "g-os-exit.ipynb", "import os\nos._exit(1)", REF)
    notebook(d / "h-20gb.ipynb", "import torch\nbig = torch.ones(5_000_000_000)", REF)
    # a forward that never returns for a batch of 32 (the size the shape check uses)
    notebook(d / "i-hangs-in-forward.ipynb", REF.replace("        x = z.view(z.size(0), self.z_dim, 1, 1)",
                                                         "        while z.size(0) == 32:\n            pass\n"
                                                         "        x = z.view(z.size(0), self.z_dim, 1, 1)"))
    notebook(d / "z-good.ipynb", REF)
    # `full` mode, so that the top-level loop really runs (definitions mode would skip it)
    return grade_all(SLUG, sorted(d.iterdir()), tmp_path_factory.mktemp("out"), mode="full",
                     cell_timeout_s=12, probe_timeout_s=15)


@pytest.mark.parametrize("name, words", [
    ("a-invalid-json.ipynb", "not a valid notebook"),
    ("b-empty.ipynb", "empty"),
    ("c-no-notebook.zip", "no notebook"),
    ("d-not-a-zip.zip", "not a readable zip"),
])
def test_unreadable_submissions_score_zero_with_a_reason(graded, name, words):
    a, res = graded
    r = res[name]
    assert r.status == Status.UNREADABLE
    assert words in r.reason
    assert r.auto_points == 0 and all(i.points == 0 for i in r.items)
    assert len(r.items) == len(a.items)


def test_syntax_error_cell_is_recorded_and_the_rest_graded(graded):
    a, res = graded
    r = res["e-syntax-error.ipynb"]
    assert r.cells[0].status == "error" and r.cells[0].ename == "SyntaxError"
    assert r.auto_points == pytest.approx(a.auto_max)


def test_infinite_loop_times_out_and_the_rest_is_graded(graded):
    a, res = graded
    r = res["f-infinite-loop.ipynb"]
    assert r.cells[0].status == "timeout"
    assert "timeout" in r.reason
    assert r.auto_points == pytest.approx(a.auto_max)


def test_os_exit_kills_the_kernel_which_is_restarted(graded):
    a, res = graded
    r = res["g-os-exit.ipynb"]
    assert r.cells[0].status == "crashed"
    assert "crashed" in r.reason
    assert r.auto_points == pytest.approx(a.auto_max)


def test_20gb_allocation_fails_inside_the_sandbox(graded):
    a, res = graded
    r = res["h-20gb.ipynb"]
    assert r.cells[0].status in {"error", "crashed"}
    assert r.auto_points == pytest.approx(a.auto_max)


def test_a_hanging_probe_times_out_and_costs_only_its_check(graded):
    a, res = graded
    r = res["i-hangs-in-forward.ipynb"]
    hung = [c for c in r.item("2b").checks if not c.passed]
    assert [c.name for c in hung] == ["layer output sizes"] and "timed out" in hung[0].message
    assert r.auto_points == pytest.approx(a.auto_max - hung[0].max_points)


def test_the_batch_goes_on_and_every_result_is_written(graded, tmp_path):
    a, res = graded
    assert res["z-good.ipynb"].auto_points == pytest.approx(a.auto_max)
    assert len(res) == 10
