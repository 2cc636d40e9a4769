"""The kernel's hygiene without a kernel (fast): the import guard and the source-only loader
(grader/run/imports.py) in a real interpreter, the grader's bounded reading of a kernel's
descriptors and outputs (grader/run/output.py), bytecode left out when a submission is
loaded, and a killed process tree (grader/run/sandbox.py). The attack suite (tests/attacks.py)
grades the same through real kernels."""
import json
import os
import py_compile
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader import submission
from grader.run import imports, output, sandbox

ROOT = Path(__file__).resolve().parent.parent

# Run with `python -P` in a workspace holding a tomli_w.py of its own (tomli_w is installed),
# mod.py with unchecked-hash bytecode of other source in __pycache__, and a sourceless only.pyc.
GUARDED = """
import importlib.util, json, os, sys
ws = os.getcwd()
from grader.run import imports
imports.protect(["json"], ws)
sys.path.insert(0, "")
out = {}
def run(code, filename):
    ns = {}
    exec(compile(code, filename, "exec"), ns)
    return ns["m"]
# a library's import (code outside the workspace): the environment's tomli_w
out["library"] = run("import tomli_w as m", "/usr/lib/python3/somelib.py").__file__.startswith(ws)
del sys.modules["tomli_w"]
# the student's own import (a file in the workspace): the workspace's, as in Jupyter
out["student"] = run("import tomli_w as m", ws + "/cell.py").__file__.startswith(ws)
# ... and when probing starts, the module holding a library's name is dropped from sys.modules
out["check"] = imports.check()
out["after"] = "tomli_w" in sys.modules
out["mod"] = run("import mod as m", ws + "/cell.py").VALUE
try:
    run("import only as m", ws + "/cell.py")
    out["sourceless"] = "imported"
except ModuleNotFoundError:
    out["sourceless"] = "not found"
sys.meta_path.reverse()
out["moved"] = imports.check()
print(json.dumps(out))
"""


def _pyc(source: str, target: Path) -> None:
    target.parent.mkdir(exist_ok=True)
    src = target.with_name("_src.py")
    src.write_text(source)
    py_compile.compile(str(src), str(target), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    src.unlink()


def test_grader_imports_skip_the_workspace_and_workspace_code_runs_from_source(tmp_path):
    (tmp_path / "tomli_w.py").write_text("SHADOW = True\n")
    (tmp_path / "mod.py").write_text("VALUE = 'source'\n")
    _pyc("VALUE = 'bytecode'\n", tmp_path / "__pycache__" / f"mod.{sys.implementation.cache_tag}.pyc")
    _pyc("VALUE = 'bytecode'\n", tmp_path / "only.pyc")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run([sys.executable, "-P", "-c", GUARDED], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["library"] is False and out["student"] is True
    assert any(c.startswith("tomli_w (the submission's tomli_w.py") for c in out["check"]) and not out["after"]
    assert out["mod"] == "source" and out["sourceless"] == "not found"
    assert out["moved"] == ["sys.meta_path"]


def test_needed_follows_the_graders_own_imports_and_never_the_other_framework():
    torch_side = imports.needed("torch", (str(ROOT / "assignments" / "denoising-autoencoder" / "probes.py"),))
    assert {"PIL.Image", "nbformat", "IPython.core.inputtransformer2", "torch"} <= set(torch_side)
    assert not any(m.split(".")[0] in {"tensorflow", "keras"} for m in torch_side)
    keras_side = imports.needed("keras")
    assert "keras.src.saving.saving_lib" in keras_side and not any(m.startswith("torch") for m in keras_side)


def test_a_drain_keeps_a_bounded_log_and_ends_with_its_writers(tmp_path):
    d = output.Drain(tmp_path / "k.log", cap=1000)
    child = subprocess.Popen([sys.executable, "-c", "import os\nfor _ in range(64): os.write(1, b'x' * 65536)"],
                             stdout=d.fd, stderr=d.fd)
    d.handed()
    child.wait(60)
    d.wait(60)
    log = (tmp_path / "k.log").read_bytes()
    assert log.startswith(b"x" * 1000) and len(log) < 1100 and b"4193304 more bytes" in log
    assert d.kept == 1000 and d.dropped == 64 * 65536 - 1000


def _stream(text: str, msg_type: str = "stream") -> dict:
    content = {"name": "stdout", "text": text} if msg_type == "stream" else \
        {"data": {"text/plain": text}, "metadata": {}}
    return {"msg_type": msg_type, "header": {"msg_type": msg_type}, "parent_header": {"msg_id": "m"},
            "content": content}


def test_the_notebook_keeps_a_bounded_output_with_a_note():
    budget = output.Budget(cell=1000, notebook=1500)
    client = output.CappedClient(nbformat.v4.new_notebook(), budget=budget)
    client.clear_before_next_output = False          # what execute_cell sets before a cell
    outs: list = []
    budget.start_cell()
    for _ in range(30):
        client.output(outs, _stream("x" * 99), None, 0)
    client.output(outs, _stream("y" * 10_000, "display_data"), None, 0)
    text = "".join(o.get("text", "") for o in outs if o.get("name") == "stdout")
    notes = [o for o in outs if o.get("name") == "stderr"]
    assert len(text) < 1000 and len(notes) == 1 and "output truncated" in notes[0]["text"]
    assert budget.dropped > 10_000 and not any(o.get("output_type") == "display_data" for o in outs)
    budget.start_cell()                       # the next cell: what is left of the notebook's budget
    outs = []
    client.output(outs, _stream("z" * 800), None, 0)
    assert outs[0]["text"] == "z" * 500 and "output truncated" in outs[1]["text"] and budget.total == 1500


def test_loading_leaves_bytecode_out_and_says_so(tmp_path):
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as z:
        z.writestr("alice/models.py", "x = 1\n")
        z.writestr("alice/__pycache__/models.cpython-311.pyc", b"\x00" * 20)
        z.writestr("alice/helper.pyc", b"\x00" * 20)
        z.writestr("alice/old.pyo", b"\x00" * 20)
    (tmp_path / "f" / "__pycache__").mkdir(parents=True)
    (tmp_path / "f" / "models.py").write_text("x = 1\n")
    (tmp_path / "f" / "__pycache__" / "models.cpython-311.pyc").write_bytes(b"\x00")
    (tmp_path / "f" / "only.pyc").write_bytes(b"\x00")
    for path, n in ((tmp_path / "s.zip", 3), (tmp_path / "f", 2)):
        s = submission.load(path, ("models.py",))
        assert s.ok, s.reason
        left = [p.name for p in s.files.rglob("*")]
        assert "models.py" in left and not any(p.endswith((".pyc", ".pyo")) or p == "__pycache__" for p in left)
        assert s.notes == [f"{n} compiled Python file(s) (__pycache__, .pyc, .pyo) were left out: only source "
                           "code is run"]
    plain = submission.load(tmp_path / "f" / "models.py", ("models.py",))
    assert plain.ok and plain.notes == []


def test_a_zip_with_too_many_entries_is_unreadable(tmp_path, monkeypatch):
    monkeypatch.setattr(submission, "MAX_ENTRIES", 50)
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as z:
        z.writestr("models.py", "x = 1\n")
        for i in range(60):
            z.writestr(f"data/{i}.txt", "")
    s = submission.load(tmp_path / "many.zip", ("models.py",))
    assert s.status == "unreadable" and "61 entries, over the limit of 50" in s.reason


def test_kernel_streams_keep_a_capped_share_of_each_cell(tmp_path):
    from grader.run import kernel

    class Stream:
        parent_header = {"msg_id": "a"}

        def __init__(self):
            self.got = []

        def write(self, text):
            self.got.append(text)
            return len(text)
    out, err = Stream(), Stream()
    kernel.cap_streams([out, err], cell=100, total=250)
    for _ in range(20):
        assert out.write("x" * 9) == 9
        err.write("e" * 9)
    assert sum(len(t) for t in out.got + err.got if "grader" not in t) == 100
    assert sum("output truncated" in t for t in out.got + err.got) == 1
    out.parent_header = err.parent_header = {"msg_id": "b"}        # the next cell
    out.write("y" * 500)
    assert "y" * 100 in out.got and sum("output truncated" in t for t in out.got + err.got) == 2


def test_a_killed_tree_leaves_nothing_running_and_the_graders_own_child_collected():
    """A sandbox's tree is killed whole, parents with their children: the orphans end as
    zombies that the machine's init collects when it will, and kill() does not wait for that;
    the grader's own child it collects (no zombie of the grader's is left)."""
    import time

    import psutil
    p = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300 & wait"])
    stop = time.monotonic() + 10
    while len(procs := sandbox.tree(p.pid)) < 3 and time.monotonic() < stop:
        time.sleep(0.01)
    assert len(procs) == 3, procs
    sandbox.kill(procs)
    for q in procs:
        try:
            assert q.status() == psutil.STATUS_ZOMBIE and q.pid != p.pid, q
        except psutil.NoSuchProcess:
            pass
    with pytest.raises(ChildProcessError):          # kill() collected it
        os.waitpid(p.pid, os.WNOHANG)
    p.returncode = -9                               # so Popen does not wait for it again
