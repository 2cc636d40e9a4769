"""The student's side, as a student meets it: a fresh virtualenv installs the grader from a
release bundle alone (its wheel, by the bundle README's own commands; the third-party packages
are this environment's, as the index would give them), lists the bundle's assignments and
checks notebooks from the command line; `grader.check` inside a real notebook (nbclient, a
kernel of that venv) gives the points that `grade` gives the same submissions' public checks
(public checks draw the same seeds in both); a grader other than the bundle's is told so,
with the command that installs the right one."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from conftest import SLUGS, cases, graded

from grader import __version__, assignment, cells, fingerprint, submission
from grader.run import sandbox
from grader.student import bundle, notebook

POINTS = re.compile(r"^(\S+): ([\d.]+) / ([\d.]+)$", re.M)


def _env() -> dict:
    """A student's environment: nothing points at this repository."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "GRADER_ASSIGNMENTS", "GRADER_REFERENCES"}}
    # one thread per pool, as the batches' kernels have: in a full run this kernel shares two
    # cores with a session batch's three, and torch's two spinning OpenMP threads then ran
    # colourization's check 63-154 s instead of 11 (the points do not depend on it)
    return {**env, **sandbox.thread_environment(1), "COLUMNS": "200"}


@pytest.fixture(scope="module")
def venv(student_bundle, tmp_path_factory) -> Path:
    """A fresh venv that reuses this environment's third-party packages through a .pth line
    (whose folder's own .pth files, this environment's editable grader among them, are not
    run), then installs the grader by the bundle README's commands."""
    root = tmp_path_factory.mktemp("student") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    py = root / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "_reuse.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    readme = (student_bundle / "README.md").read_text()
    installs = [shlex.split(line.split("#")[0]) for line in readme.splitlines() if line.strip().startswith("pip install")]
    assert installs and all(re.fullmatch(r"\./dlgrader-.+\.whl\[(torch|keras)\]", c[-1]) for c in installs), installs
    for cmd in installs:
        run = subprocess.run([py, "-m", *cmd], cwd=student_bundle, env=_env(), capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
    return root


def _run(cmd: list, cwd: Path, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_a_fresh_venv_installs_the_grader_from_the_bundle_alone(venv, student_bundle, tmp_path):
    made = json.loads((student_bundle / bundle.MARKER).read_text())
    assert made["grader_version"] == __version__ and (student_bundle / made["wheel"]).is_file()
    got = _run([venv / "bin" / "python", "-c", "import grader, json, importlib.metadata as m; print(json.dumps("
                "[grader.__file__, grader.__version__, m.version('dlgrader')]))"], tmp_path)
    file, version, dist = json.loads(got.stdout)
    assert Path(file).is_relative_to(venv) and "site-packages" in file, file
    assert version == dist == made["grader_version"]
    listed = _run([venv / "bin" / "grader", "--assignments", student_bundle, "list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert all(slug in listed.stdout for slug in SLUGS), listed.stdout


def _copy(source: Path, into: Path, slug: str, **made) -> Path:
    """One assignment's part of the bundle, to work in (`made`: what bundle.json says instead)."""
    into.mkdir(parents=True)
    shutil.copytree(source / slug, into / slug)
    doc = json.loads((source / bundle.MARKER).read_text())
    (into / bundle.MARKER).write_text(json.dumps({**doc, **made}))
    return into


def _public_points(result) -> dict[str, tuple[float, float]]:
    out = {}
    for it in result.items:
        public = [c for c in it.checks if c.visibility == "public"]
        if it.kind == "auto" and public:
            out[it.id] = (sum(c.points for c in public), sum(c.max_points for c in public))
    return out


def _mutant(slug: str, b) -> str:
    """The first mutant (in mutants.toml's order) that the public checks catch."""
    ref = _public_points(b["reference"])
    for name, m in cases(slug)["mutants"].items():
        got = _public_points(b[name])
        if any(got[i][0] < ref[i][0] - 1e-6 for i in m["loses"] if i in got):
            return name
    raise AssertionError(f"{slug}: no mutant loses a public check")


def _submission_cells(path: Path, a, work: Path) -> tuple[Path, list[str], Path]:
    """The submission's files copied under `work`, the code `grade` runs of it (definitions
    mode), and the notebook saved as Jupyter keeps it (the cells that answer items inline)."""
    sub = submission.load(path, a.entry)
    assert sub.ok, sub.reason
    shutil.copytree(sub.files, work)
    cwd = work / sub.workspace.relative_to(sub.files)
    code = [p.source for p in cells.plan(sub.notebook, "definitions") if p.source]
    saved = work.parent / f"{work.name}.ipynb"
    nbformat.write(sub.notebook, saved)
    shutil.rmtree(sub.root)
    return cwd, code, saved


def _kernel(venv: Path, folder: Path):
    """A kernel of the student's venv (its own interpreter, as Jupyter or Colab would start it)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    spec = folder / "student"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher",
                                                            "-f", "{connection_file}"],
                                                   "display_name": "student", "language": "python"}))
    return KernelManager(kernel_name="student", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder)]))


def _shown(cell) -> str:
    """What the cell shows (text), and its HTML rendering must exist too."""
    out = [o for o in cell.outputs if o.output_type in {"execute_result", "display_data"}]
    assert len(out) == 1 and "text/html" in out[0].data, cell.outputs
    return out[0].data["text/plain"]


def notebook_of(slug: str, subs: dict[str, Path], lost: tuple[str, str], bundle_root: Path, work: Path):
    """One notebook that runs each submission in turn in a fresh namespace (the user namespace
    reset, the previous submission's modules dropped), as the definitions `grade` runs of it,
    then grader.check_all(), or grader.check(item) for `lost` = (mutant, item). Returns the
    notebook and the index of each submission's check cell."""
    a = assignment.get(slug)
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json, sys\nimport grader\nprint(json.dumps({'file': grader.__file__, 'version': grader.__version__, "
        "'heavy': sorted(m for m in ('torch', 'tensorflow') if m in sys.modules)}))"))
    at: dict[str, int] = {}
    for name, path in subs.items():
        cwd, code, saved = _submission_cells(path, a, work / name)
        nb.cells.append(nbformat.v4.new_markdown_cell(f"## {name}"))
        # __session__: the notebook's file, as ipykernel names it under a Jupyter server
        nb.cells.append(nbformat.v4.new_code_cell(
            f"%reset -f\nimport os, sys\nfor _m in [m for m, v in list(sys.modules.items()) if "
            f"str(getattr(v, '__file__', None) or '').startswith({str(work)!r})]:\n    del sys.modules[_m]\n"
            f"os.chdir({str(cwd)!r})\n__session__ = {str(saved)!r}"))
        nb.cells += [nbformat.v4.new_code_cell(c) for c in code]
        at[name] = len(nb.cells)
        call = f"grader.check({lost[1]!r})" if name == lost[0] else "grader.check_all()"
        nb.cells.append(nbformat.v4.new_code_cell(f"import grader\n{call}"))
    return nb, at


def execute(nb, venv: Path, cwd: Path, kernels: Path) -> None:
    from nbclient import NotebookClient
    NotebookClient(nb, km=_kernel(venv, kernels), timeout=900, resources={"metadata": {"path": str(cwd)}}) \
        .execute(env=_env())


@pytest.mark.slow
@pytest.mark.parametrize("slug", SLUGS)
def test_check_in_a_notebook_gives_the_points_grade_gives(slug, venv, student_bundle, tmp_path, tmp_path_factory):
    """One kernel (of the fresh venv) per assignment runs the reference, a mutant and the
    skeleton in turn (check_all; the mutant: check of the item it loses), against the points
    `grade`'s batch gave the same submissions' public checks."""
    from conftest import write_mutants
    b = graded(slug, tmp_path_factory)
    a = assignment.get(slug)
    mutant = _mutant(slug, b)
    lost = next(i for i in cases(slug)["mutants"][mutant]["loses"] if i in _public_points(b["reference"]))
    subs = {"reference": a.reference_path, mutant: write_mutants(slug, tmp_path)[mutant], "skeleton": a.skeleton_path}
    mine = _copy(student_bundle, tmp_path / "bundle", slug)
    nb, at = notebook_of(slug, subs, (mutant, lost), mine, mine / slug / "work")
    execute(nb, venv, mine / slug, tmp_path / "kernels")
    nbformat.write(nb, tmp_path / "executed.ipynb")

    first = json.loads(nb.cells[0].outputs[0].text)
    assert Path(first["file"]).is_relative_to(venv) and first["version"] == __version__
    assert first["heavy"] == [], "import grader loaded a framework"
    for n, (name, cell) in enumerate(at.items()):
        text = _shown(nb.cells[cell])
        assert (notebook.NO_SANDBOX in text) == (n == 0), text      # said once, in the first check
        shown = {m[1]: (float(m[2]), float(m[3])) for m in POINTS.finditer(text)}
        want = _public_points(b[name])
        if name == mutant:                   # one item: its line, and what failed under it
            want = {lost: want[lost]}
            assert text.splitlines()[0].startswith(f"{lost}: ") and "\n  - " in text, text
        assert set(shown) == set(want), (name, text)
        for item, (pts, mx) in want.items():
            assert shown[item] == (pytest.approx(pts, abs=1e-4), pytest.approx(mx, abs=1e-4)), (name, item, text)
    assert _public_points(b[mutant]) != _public_points(b["reference"])


@pytest.mark.slow
def test_check_from_the_command_line_gives_the_instructors_points(venv, student_bundle, tmp_path, tmp_path_factory):
    """`grader check` of the fresh venv, the bundle as the assignments (no reference anywhere it
    looks), on a mutant, against `grade` here (the reference and the skeleton: through the
    notebook test above, which runs the same stages)."""
    from conftest import write_mutants
    slug = "denoising-autoencoder"
    b = graded(slug, tmp_path_factory)
    mutant = _mutant(slug, b)
    run = _run([venv / "bin" / "grader", "--assignments", student_bundle, "check", write_mutants(slug, tmp_path)[mutant],
                "--assignment", slug, "--device", "cpu"], tmp_path, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "This bundle was made by" not in run.stdout
    flat = re.sub(r"[\s│┃]+", " ", run.stdout)
    for item, (pts, mx) in _public_points(b[mutant]).items():
        assert f" {item} {pts:g} / {mx:g} " in flat, (item, pts, mx, flat)


@pytest.mark.slow
def test_the_command_line_tells_a_student_with_another_grader_how_to_fix_it(venv, student_bundle, tmp_path):
    other = _copy(student_bundle, tmp_path / "bundle", "jem-cifar10", grader_version="0.0.1")
    (tmp_path / "mine.ipynb").write_text("")       # unreadable: no kernel needed to see the notice
    run = _run([venv / "bin" / "grader", "--assignments", other, "check", tmp_path / "mine.ipynb", "--assignment",
                "jem-cifar10", "--device", "cpu"], tmp_path, timeout=120)
    flat = " ".join(run.stdout.split())
    wheel = (other / json.loads((other / bundle.MARKER).read_text())["wheel"]).resolve()
    assert f"made by grader 0.0.1, and the grader installed here is {__version__}" in flat, run.stdout
    assert f'pip install "{wheel}[keras]"' in flat, run.stdout


def test_check_in_a_notebook_tells_a_student_with_another_grader_how_to_fix_it(tmp_path, monkeypatch):
    """In this process, on an empty namespace (every check fails at once, no kernel; the
    expectations are never compared, so placeholders stand in): the in-notebook check of a
    bundle made by another grader version, then by the same version with other code, says so
    with the command that fixes it, above the points."""
    import tomli_w

    from grader import expectations
    from grader.instructor import release
    a = assignment.get("denoising-autoencoder")
    root = tmp_path / "bundle"
    shutil.copytree(a.directory, root / a.slug, ignore=shutil.ignore_patterns("examples", "skeleton"))
    (root / a.slug / "assignment.toml").write_text(tomli_w.dumps(release.public_toml(a)))
    expectations.write(root / a.slug / expectations.BUNDLED, {c.probe: 0 for c in a.checks if c.visibility == "public"})
    (root / "dlgrader-9.9.9-py3-none-any.whl").write_bytes(b"")
    wheel = (root / "dlgrader-9.9.9-py3-none-any.whl").resolve()
    monkeypatch.chdir(root / a.slug)
    for made, fix in [({"grader_version": "9.9.9"}, f'%pip install "{wheel}[torch]"'),
                      ({"grader_version": __version__, "package": "0" * 16},
                       f'%pip install --force-reinstall --no-deps "{wheel}"'),
                      ({"grader_version": __version__, "package": fingerprint.package()}, None)]:
        (root / bundle.MARKER).write_text(json.dumps({**made, "wheel": wheel.name, "assignments": [a.slug]}))
        monkeypatch.setitem(notebook._state, "where", None)
        report = notebook.run({}, "2a")
        text = repr(report)
        if fix is None:
            assert "This bundle was made by" not in text
        else:
            assert f"This bundle was made by grader {made['grader_version']}" in text and fix in text, text
            assert text.index(fix) < text.index("2a: 0 / 22")
        assert "2a: 0 / 22" in text and "`Encoder` is not defined" in text and report.points == 0
        assert "2a" in report._repr_html_()


def test_a_bundles_contract_is_the_skeletons():
    """What a bundle ships of the reference: the graded names' kinds and signatures, which the
    skeleton already shows (so that `check` calls definitions as `grade` does)."""
    from grader import names
    for slug in SLUGS:
        a = assignment.get(slug)
        p = a.skeleton_path
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.suffix in {".py", ".ipynb"})
        code = "\n".join(c.source for f in files for c in submission._read_notebook(f).cells if c.cell_type == "code")
        assert names.contract(a) == names.contract(a, source=code), slug


def test_a_submissions_own_check_cells_do_nothing_while_it_is_graded(monkeypatch, tmp_path):
    """Students hand in notebooks with grader.check cells: definitions mode drops the calls
    (keeping the import), and in a grading kernel (GRADER_KERNEL=1, set by the sandbox's
    environment) they return at once, before looking for a bundle (there is none here)."""
    import grader
    from grader.run import sandbox
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import grader\nx = 1\ngrader.check('2a')"),
                                         nbformat.v4.new_code_cell("grader.check_all()")])
    assert [p.source for p in cells.plan(nb, "definitions")][1] is None
    assert "grader.check" not in cells.plan(nb, "definitions")[0].source
    assert sandbox.environment(sandbox.Policy(workspace=tmp_path, run=tmp_path))["GRADER_KERNEL"] == "1"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(notebook._state, "where", None)
    with pytest.raises(LookupError, match="no release bundle"):
        grader.check("2a")
    monkeypatch.setenv("GRADER_KERNEL", "1")
    assert grader.check("2a") is None and grader.check_all() is None and grader.init() is None
