"""The instructor's and the student's commands as they run them: `grader grade` on a
folder (gradebook, per-submission outputs, resume), `grader check`, and the Ray backend
giving the same points as the local pool."""
import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from grader import assignment, batch, pipeline, report

pytestmark = pytest.mark.slow
GRADER = str(Path(sys.executable).parent / "grader")
SLUG = "denoising-autoencoder"
EXAMPLES = ROOT / "assignments" / SLUG / "examples"


@pytest.fixture(scope="module")
def graded_folder(tmp_path_factory):
    subs = tmp_path_factory.mktemp("subs")
    shutil.copy(ROOT / "reference" / SLUG / "models.py", subs / "alice.py")
    shutil.copy(EXAMPLES / "colab-no-batchnorm.ipynb", subs / "bob.ipynb")
    out = tmp_path_factory.mktemp("out")
    run = subprocess.run([GRADER, "grade", SLUG, str(subs), "--out", str(out), "--device", "cpu", "--jobs", "2"],
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout + run.stderr
    return subs, out, run.stdout


def test_grade_writes_the_gradebook_and_per_submission_outputs(graded_folder):
    subs, out, stdout = graded_folder
    a = assignment.get(SLUG)
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [r["submission"] for r in rows] == ["alice.py", "bob.ipynb"]
    assert list(rows[0]) == ["submission", *[i.id for i in a.items], *report.TOTAL_COLUMNS, "status", "review"]
    assert float(rows[0]["total"]) == a.auto_max
    assert float(rows[1]["2a"]) < 30 and float(rows[1]["2b"]) == 30
    for name in ("alice", "bob"):
        for f in ("result.json", "feedback.md", "executed.ipynb", "submitted.ipynb", "results.json"):
            assert (out / name / f).is_file(), (name, f)
    # the notebook as handed in (for the marker), not the one the grader ran
    kept, handed_in = (nbformat.read(p, as_version=4) for p in (out / "bob" / "submitted.ipynb", subs / "bob.ipynb"))
    assert [(c.source, c.get("outputs")) for c in kept.cells] == [(c.source, c.get("outputs")) for c in handed_in.cells]
    assert "lost points" in stdout and "bob.ipynb" in stdout          # the terminal's summary
    r = json.loads((out / "bob" / "result.json").read_text())
    assert r["schema"] == "grader.result/2" and r["status"] == "graded"
    assert "mostly blobs" in next(i for i in r["items"] if i["id"] == "3e")["answer"].lower()
    assert "BatchNorm1d" in (out / "bob" / "feedback.md").read_text()


def test_rerun_skips_what_is_already_graded(graded_folder):
    subs, out, _ = graded_folder
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")}
    run = subprocess.run([GRADER, "grade", SLUG, str(subs), "--out", str(out), "--device", "cpu"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")} == before


def test_check_detects_the_assignment_and_prints_the_items(graded_folder):
    run = subprocess.run([GRADER, "check", str(EXAMPLES / "zip-decoder-stride.zip"), "--device", "cpu"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    flat = re.sub(r"[\s│┃]+", " ", run.stdout)  # table cells wrap long messages
    assert "denoising-autoencoder (detected)" in flat
    assert "layer2: expected (32, 64, 15, 15)" in flat
    assert "automatic points" in run.stdout


def test_ray_backend_gives_the_local_points(graded_folder, tmp_path):
    ray = pytest.importorskip("ray")
    subs, out, _ = graded_folder
    local = {json.loads(p.read_text())["submission"]: json.loads(p.read_text()) for p in out.glob("*/result.json")}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = batch.run([subs], assignment.get(SLUG), tmp_path, pipeline.Options(device="cpu"), backend="ray")
    finally:
        ray.shutdown()
    assert [r.submission for r in results] == ["alice.py", "bob.ipynb"]
    for r in results:
        assert r.points() == {i["id"]: i["points"] for i in local[r.submission]["items"]}
        assert r.submission_sha256 == local[r.submission]["submission_sha256"]
        assert (tmp_path / Path(r.submission).stem / "feedback.md").is_file()
        assert (tmp_path / Path(r.submission).stem / "submitted.ipynb").is_file()


def test_a_failing_reference_stops_the_batch_with_its_reason_and_grades_nothing(tmp_path, monkeypatch):
    """Kernels start while the expectations are computed; when the reference fails, the
    kernels already started are closed, no result is written, and the reason is raised."""
    from grader import expectations

    def fails(a, opts):
        raise expectations.ReferenceFailed(f"{a.slug}: the reference solution failed its own probes: test")
    monkeypatch.setattr(expectations, "get", fails)
    subs = tmp_path / "subs"
    subs.mkdir()
    for k in range(4):
        shutil.copy(ROOT / "reference" / SLUG / "models.py", subs / f"s{k}.py")
    with pytest.raises(expectations.ReferenceFailed, match="failed its own probes"):
        batch.run([subs], assignment.get(SLUG), tmp_path / "out", pipeline.Options(device="cpu"), jobs=2)
    assert not list((tmp_path / "out").glob("*/result.json"))


@pytest.mark.slow
def test_check_of_a_notebook_takes_the_modules_beside_it(tmp_path):
    """As the bundle README says: `grader check my.ipynb` in a folder where models.py sits
    beside the notebook (denoising's layout) checks them together: the public items earn what
    the reference earns, not 'Encoder is not defined'."""
    a = assignment.get(SLUG)
    work = tmp_path / "mywork"
    shutil.copytree(a.skeleton_path, work)
    shutil.copy(a.reference_path, work / "models.py")
    run = subprocess.run([GRADER, "check", str(next(work.glob("*.ipynb"))), "--device", "cpu"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    flat = re.sub(r"[\s│┃]+", " ", run.stdout)
    assert "not defined" not in flat, flat
    public = [it.id for it in a.items if any(c.visibility == "public" for c in it.checks)]
    assert public and all(re.search(rf" {i} ([\d.]+) / \1 ", flat) for i in public), flat   # full public points


def test_jobs_that_finish_together_sign_with_one_whole_key(tmp_path):
    """The first results of a batch (unreadable submissions, graded at once) are signed by
    several jobs at the same moment: every one gets the same complete key, none fails (a
    FileExistsError there once lost a result)."""
    import threading
    keys, errors, start = [], [], threading.Barrier(16)

    def sign():
        start.wait()
        try:
            keys.append(report._key(tmp_path))
        except Exception as e:  # noqa: BLE001 - the test's point
            errors.append(e)
    threads = [threading.Thread(target=sign) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(keys) == 16 and len(set(keys)) == 1 and len(keys[0]) == 32
    assert [p.name for p in tmp_path.iterdir()] == [report.KEY_FILE]
