"""The project's own attack suite: hostile submissions, each one small cell added to a
skeleton, a mutant or a correct solution, graded through the real pipeline in batches with
honest submissions. Each test asserts that no item goes above its honest value (the same
submission without the attack), that the grader survived (every result is there) and that
the next, correct submission in the same batch is graded normally."""
import json
import site
from pathlib import Path

import pytest
from conftest import cases, grade_all, mutate

from grader import assignment, sandbox, skeleton
from grader.result import Status

pytestmark = pytest.mark.slow

UNPRIVILEGED = sandbox.capabilities()["mode"] in {"root", "userns"}
PTH = Path(site.getsitepackages()[0]) / "zz_grader_attack.pth"

# name -> (assignment, base, the cell; bases: "skeleton", "reference" or a mutant's name)
ATTACKS = {
    # 1. probe code trusted inside the kernel: rebind the probe library and the checks
    "rebind-probe-library": ("denoising-autoencoder", "skeleton", """
import grader.checks as _c
import grader.checks.shape as _s
import grader.probe.runner as _r
_r.run_probe = lambda *a, **k: {"value": {"output": [32, 128], "layers": {}}, "stood_in": []}
_s.observe = lambda ctx, o: {"output": [32, 128], "layers": {}}
_c.get = lambda kind: _s
"""),
    # 2. the reference is readable: look for it everywhere the kernel can see and run it
    "read-the-reference": ("denoising-autoencoder", "skeleton", """
import glob, os
def _read(p):
    try:
        return open(p, errors="ignore").read()
    except OSError:
        return ""
_hits = [p for pat in ("/work/**/reference/**/models.py", "/grader/**/*.py", "/w/../**/models.py", "/tmp/**/*.py")
         for p in glob.glob(pat, recursive=True) if "hidden_layer = nn." + "Sequential" in _read(p)]
_ = exec(open(_hits[0]).read(), globals()) if _hits else None
"""),
    # 3. the kernel as root: kill the grader and everything else it can name
    "kill-the-grader": ("denoising-autoencoder", "skeleton", """
import os, signal
_ = [os.kill(p, signal.SIGKILL) for p in (os.getppid(), 1) if p]
"""),
    # 3b. persistence: a .pth file in site-packages would run in later grader runs
    "write-site-packages": ("denoising-autoencoder", "skeleton", f"""
_ = open({str(PTH)!r}, "w").write("import os; os.system('touch /tmp/pwned')")
"""),
    # 4. the judge reads what the kernel plants: symlinks and fake observation files
    "plant-observations": ("jem-cifar10", "skeleton", """
import os, json
_ = [os.symlink(t, f"link{i}") for i, t in enumerate(["/root/.cache/grader", "/tmp", "/run"]) if not os.path.lexists(f"link{i}")]
_ = os.makedirs(".grader/observations", exist_ok=True)
_ = [open(f".grader/observations/{k}.json", "w").write(json.dumps({"value": {"loss": 1.0}})) for k in ("part1", "wrn")]
"""),
    # 6. the grader's own loops expose their targets: the decoder returns the clean batch it
    #    finds up the call stack (the honest base is a decoder that outputs a constant)
    "steal-the-targets": ("denoising-autoencoder", "constant-decoder", """
import sys
class Decoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.z_dim = z_dim
        self.bias = nn.Parameter(torch.zeros(1))
    def forward(self, z):
        f = sys._getframe(1)
        while f is not None:
            x = f.f_locals.get("x")
            if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[0] == z.shape[0]:
                return x + 0 * self.bias
            f = f.f_back
        return torch.zeros(z.shape[0], 3, 64, 64) + self.bias
"""),
    # 7. the judge evaluates student input without bounds: nested powers, NaN
    "expression-bombs": ("colourization-cifar10", "skeleton", """
ANSWERS = {"4.3": {"weights": "((9**16)**16)**16", "outputs": "0*1e999", "connections": "1e999 - 1e999",
                   "weights_2x": "(" * 60 + "NF" + ")" * 60, "outputs_2x": "9**9**9", "connections_2x": "NIC/0"},
           "5.4": None}
"""),
    # 8. kernels see each other: another submission's files (the batch grades "victim" too)
    "read-other-workspaces": ("denoising-autoencoder", "skeleton", """
import glob
_hits = [p for pat in ("/tmp/*/w/**/*.py", "/tmp/**/models.py", "/proc/*/cwd/**/*.py", "/w/../*/w/*.py")
         for p in glob.glob(pat, recursive=True)]
def _read(p):
    try:
        return open(p, errors="ignore").read()
    except OSError:
        return ""
_src = [_read(p) for p in _hits]
_ = [exec(s, globals()) for s in _src if "hidden_layer = nn." + "Sequential" in s]   # not this cell itself
_ = print("MOUNTINFO", open("/proc/self/mountinfo").read())
"""),
    # 9. a starved kernel: a cell that keeps most of the memory cap (honest: full marks)
    "starve-the-kernel": ("denoising-autoencoder", "reference", """
import numpy as _np
_hog = _np.ones(int(5.3e9 // 8))
"""),
    # audit and trace hooks, a thread that patches autograd while the probes run
    "audit-hook-and-thread": ("pixelcnn-mnist", "centre-visible", """
import sys, threading, time
try:
    _hooked = sys.addaudithook(lambda e, a: None)
except RuntimeError:
    _hooked = "refused"
def _patch():
    import torch
    zero = lambda *a, **k: None
    end = time.time() + 600
    while time.time() < end:
        torch.Tensor.backward = zero
        time.sleep(0.01)
_t = threading.Thread(target=_patch, daemon=True)
_ = _t.start()
"""),
    # hide a leak from the gradients (Keras): the perturbation test still sees it
    "patch-gradient-tape": ("pixelcnn-calligraphy", "drmc-pads-right", """
_orig_gradient = tf.GradientTape.gradient
def _no_gradient(self, target, sources, *a, **k):
    return tf.nest.map_structure(tf.zeros_like, sources)
tf.GradientTape.gradient = _no_gradient
"""),
    # hunt the channel key at top level, then write garbage into every open socket
    "tamper-with-the-channel": ("jem-cifar10", "skeleton", """
import gc, os, stat
_keys = [o for o in gc.get_objects() if isinstance(o, bytes) and len(o) == 32]
_socks = [fd for fd in range(3, 200) if os.path.exists(f"/proc/self/fd/{fd}")
          and stat.S_ISSOCK(os.fstat(fd).st_mode)]
_ = [os.write(fd, b"\\x00" * 64) for fd in _socks]
"""),
    # no network
    "network": ("jem-cifar10", "skeleton", """
import socket
def _try(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
        return "CONNECTED"
    except OSError as e:
        return f"refused: {e}"
NET = [_try("1.1.1.1", 53), _try("pypi.org", 443)]
_ = print("NETWORK", NET)
"""),
}

UNPRIVILEGED_ATTACKS = {
    # a fork bomb: bounded by the job's own process limit, then the whole tree is killed
    "fork-bomb": ("colourization-cifar10", "skeleton", """
import os
def _bomb():
    kids = 0
    for _ in range(100000):
        try:
            if os.fork() == 0:
                import time
                time.sleep(60)
                os._exit(0)
            kids += 1
        except OSError:
            return kids
    return kids
KIDS = _bomb()
_ = print("FORKED", KIDS)
"""),
    # fill the disk: each file is capped, and so is the workspace
    "fill-the-disk": ("colourization-cifar10", "skeleton", """
def _fill():
    n = 0
    for i in range(100):
        with open(f"filler{i}.bin", "wb") as f:
            for _ in range(64):
                f.write(b"\\0" * (16 << 20))
        n += 1
    return n
FILLED = _fill()
"""),
}
if UNPRIVILEGED:
    ATTACKS.update(UNPRIVILEGED_ATTACKS)

EXTRA_BASES = {
    # a decoder that outputs a constant: the honest value of the frame-walking attack
    "constant-decoder": ("denoising-autoencoder", """
class Decoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.z_dim = z_dim
        self.bias = nn.Parameter(torch.zeros(1))
    def forward(self, z):
        return torch.zeros(z.shape[0], 3, 64, 64) + self.bias
"""),
}


def _base_text(slug: str, base: str) -> str:
    a = assignment.get(slug)
    text = a.reference_path.read_text()
    if base == "skeleton":
        return skeleton.strip(text)
    if base == "reference":
        return text
    if base in EXTRA_BASES:
        return text + "\n# %%\n" + EXTRA_BASES[base][1].strip() + "\n"
    for old, new in cases(slug)["mutants"][base]["edits"]:
        text = mutate(text, old, new)
    return text


_BATCHES: dict = {}


def batch(slug: str, tmp_path_factory):
    """Per assignment: the honest bases, the attacks on them, then a correct submission."""
    if slug not in _BATCHES:
        d = tmp_path_factory.mktemp(f"attacks-{slug}")
        mine = {n: spec for n, spec in ATTACKS.items() if spec[0] == slug}
        bases = sorted({b for _, b, _ in mine.values()})
        paths = []
        for b in bases:
            (d / f"base-{b}.py").write_text(_base_text(slug, b))
            paths.append(d / f"base-{b}.py")
        if slug == "denoising-autoencoder":   # a victim whose files the attacker looks for
            (d / "victim.py").write_text(_base_text(slug, "reference"))
            paths.append(d / "victim.py")
        for n, (_, b, cell) in mine.items():
            (d / f"{n}.py").write_text(_base_text(slug, b) + "\n# %%\n" + cell.strip() + "\n")
            paths.append(d / f"{n}.py")
        (d / "zz-good.py").write_text(_base_text(slug, "reference"))
        paths.append(d / "zz-good.py")
        out = tmp_path_factory.mktemp(f"attacks-{slug}-out")
        a, res = grade_all(slug, paths, out, jobs=2, cell_timeout_s=40, probe_timeout_s=120)
        _BATCHES[slug] = (a, res, out)
    return _BATCHES[slug]


def outputs(out: Path, name: str) -> str:
    """What the attack's cells printed (not their source)."""
    nb = json.loads((out / name / "executed.ipynb").read_text())
    texts = [o.get("text", "") for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    return "".join("".join(t) if isinstance(t, list) else t for t in texts)


def _honest(name: str, tmp_path_factory):
    slug, base, _ = ATTACKS[name]
    a, res, out = batch(slug, tmp_path_factory)
    return a, res[f"base-{base}.py"], res[f"{name}.py"], res["zz-good.py"], out


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_no_item_goes_above_its_honest_value_and_the_batch_goes_on(name, tmp_path_factory):
    a, honest, attacked, good, _ = _honest(name, tmp_path_factory)
    for it in a.items:
        if it.manual:
            continue
        assert attacked.item(it.id).points <= honest.item(it.id).points + 1e-6, \
            (name, it.id, attacked.item(it.id).points, honest.item(it.id).points, attacked.review)
    assert good.status == Status.GRADED and good.auto_points == pytest.approx(a.auto_max), good.review


def test_rebinding_the_probe_library_is_undone_and_reported(tmp_path_factory):
    _, _, r, _, _ = _honest("rebind-probe-library", tmp_path_factory)
    assert r.auto_points == 0
    assert any("replaced functions the grader relies on" in x.reason for x in r.review), r.review


def test_frame_walking_during_probing_is_blocked_and_voids_the_training_items(tmp_path_factory):
    _, honest, r, _, _ = _honest("steal-the-targets", tmp_path_factory)
    assert r.item("3a").points == 0 and r.item("3b").points == 0      # 3c is marked by hand
    assert r.status == Status.REVIEW
    assert any("integrity violation" in x.reason and "frame access" in x.evidence for x in r.review), r.review


def test_the_grader_survives_kill_and_persistence_attempts(tmp_path_factory):
    _, _, r, good, _ = _honest("kill-the-grader", tmp_path_factory)
    assert r.status in {Status.GRADED, Status.REVIEW} and good.auto_points > 0
    _honest("write-site-packages", tmp_path_factory)
    assert not PTH.exists()


def test_expression_bombs_are_bounded(tmp_path_factory):
    _, _, r, _, _ = _honest("expression-bombs", tmp_path_factory)
    assert r.item("4.3").points == 0 and r.timings["judge_s"] < 5


def test_kernels_cannot_see_each_other_or_the_submission_names(tmp_path_factory):
    _, _, r, _, out = _honest("read-other-workspaces", tmp_path_factory)
    assert r.auto_points == 0
    text = outputs(out, "read-other-workspaces")
    assert "MOUNTINFO" in text and "/w " in text          # it did read its mountinfo
    assert "victim" not in text and "read-other-workspaces" not in text and "attacks-" not in text


def test_a_starved_kernel_is_replayed_with_its_definitions(tmp_path_factory):
    a, _, r, _, _ = _honest("starve-the-kernel", tmp_path_factory)
    assert r.auto_points == pytest.approx(a.auto_max), r.review
    assert any(c.status == "starved" for c in r.cells), r.cells


def test_hooks_and_patching_threads_do_not_hide_a_leak(tmp_path_factory):
    _, honest, r, _, _ = _honest("audit-hook-and-thread", tmp_path_factory)
    assert r.item("1").points <= honest.item("1").points < 40
    assert r.status == Status.REVIEW


def test_a_tampered_channel_scores_nothing_and_is_reported(tmp_path_factory):
    _, _, r, good, _ = _honest("tamper-with-the-channel", tmp_path_factory)
    assert r.auto_points == 0 and good.auto_points > 0
    assert any("gc walk" in x.reason for x in r.review), r.review


def test_no_network(tmp_path_factory):
    _, _, _, _, out = _honest("network", tmp_path_factory)
    text = outputs(out, "network")
    assert "NETWORK" in text and "refused" in text and "CONNECTED" not in text


@pytest.mark.skipif(not UNPRIVILEGED, reason="the sandbox could not drop privileges here: no per-job process limit")
def test_a_fork_bomb_is_bounded(tmp_path_factory):
    _, _, r, good, out = _honest("fork-bomb", tmp_path_factory)
    text = outputs(out, "fork-bomb")
    kids = int(text.split("FORKED ")[1].split()[0]) if "FORKED " in text else 0
    assert kids < sandbox.NPROC and good.auto_points > 0


@pytest.mark.skipif(not UNPRIVILEGED, reason="the sandbox could not drop privileges here")
def test_filling_the_disk_is_stopped(tmp_path_factory):
    _, _, r, good, _ = _honest("fill-the-disk", tmp_path_factory)
    assert any(c.status in {"crashed", "error"} for c in r.cells) and good.auto_points > 0


def test_grade_reports_what_the_sandbox_enforced(tmp_path_factory):
    _, _, r, _, _ = _honest("network", tmp_path_factory)
    assert r.sandbox["mode"] == sandbox.describe()["mode"]
    if UNPRIVILEGED:
        assert r.sandbox["network_off"] and r.sandbox["allow_list_view"] and r.sandbox["unprivileged_uid"]


def test_without_namespaces_grade_says_so_in_red(monkeypatch):
    from grader import cli
    sandbox.capabilities.cache_clear()
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    try:
        d = sandbox.describe()
        assert d["mode"] == "rlimits-only" and not d["network_off"] and "bwrap" in d["problem"]
        with cli.console.capture() as cap:
            cli._sandbox_line()
        assert "NO namespaces" in cap.get()
        assert sandbox.command(sandbox.Policy(workspace=Path("/tmp"), run=Path("/tmp")), ["true"])[0] == "setsid"
    finally:
        sandbox.capabilities.cache_clear()
