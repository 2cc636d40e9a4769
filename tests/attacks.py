"""The attack suite's cases: hostile submissions, each one small cell added to an honest base
(the skeleton, the reference, a mutant, or an extra base below). They are graded inside each
assignment's session batch (conftest.graded), after the honest bases and the mutants and before
the correct variants, so that one batch shows an attack gaining nothing, the grader surviving,
and the next correct submission graded normally. tests/test_attacks.py asserts on them."""
import site
from pathlib import Path

from conftest import cases, mutate

from grader import assignment, skeleton
from grader.run import sandbox

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
import os
def _read(p):
    try:
        return open(p, errors="ignore").read()
    except OSError:
        return ""
# every file the kernel can see (links not followed, /proc /sys /dev skipped): any models.py,
# and every Python file outside the system and the environment's packages
_seen = [os.path.join(d, f) for d, dirs, files in os.walk("/") if not dirs.__setitem__(
         slice(None), [x for x in dirs if os.path.join(d, x) not in ("/proc", "/sys", "/dev")]) for f in files]
_hits = [p for p in _seen if (p.endswith("/models.py") or (p.endswith(".py") and not p.startswith("/usr/")
         and "-packages/" not in p)) and "hidden_layer = nn." + "Sequential" in _read(p)]
_ = print("SEARCHED", len(_seen), "FOUND", len(_hits))
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


def base_text(slug: str, base: str) -> str:
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


def files(slug: str, folder: Path) -> dict[str, Path]:
    """The slug's attack cases as files, in grading order: the honest bases the batch does not
    already hold (the skeleton with its solution stripped, the extra bases), a victim whose
    files the attackers look for, then the attacks. Key: "base-<base>", "victim" or the attack."""
    mine = {n: spec for n, spec in ATTACKS.items() if spec[0] == slug}
    out: dict[str, Path] = {}
    for b in sorted({b for _, b, _ in mine.values()} & {"skeleton", *EXTRA_BASES}):
        out[f"base-{b}"] = folder / f"attack-base-{b}.py"
        out[f"base-{b}"].write_text(base_text(slug, b))
    if slug == "denoising-autoencoder":
        out["victim"] = folder / "victim.py"
        out["victim"].write_text(base_text(slug, "reference"))
    for n, (_, b, cell) in mine.items():
        out[n] = folder / f"attack-{n}.py"
        out[n].write_text(base_text(slug, b) + "\n# %%\n" + cell.strip() + "\n")
    return out
