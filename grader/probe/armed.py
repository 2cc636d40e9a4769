"""The probe library's armed half, inside the kernel.

`arm()` runs in the kernel process before ipykernel starts, so before the first student
cell. It connects to the grader's channel (channel.py) and receives a fresh key, imports what
the probes use, takes a snapshot of the functions and classes the measurements rely on
(autograd, GradientTape, numpy, the framework's namespaces, the grader's own modules),
installs an audit hook (PEP 578; it cannot be removed) and starts the probe thread. All of its
state lives in closures that are not reachable from any module, namespace or Thread object.

While the student's cells run, the hook reports (over the channel, at once, so that nothing
can be taken back) frame access, gc walks, ctypes, signals, processes, trace and audit hooks,
code-object swaps and reads of /proc from student code; the grader makes review entries of
them. When probing starts, the snapshot is compared: what student cells changed at top level
is reported (review) and put back to the originals, so that the measurements use the
functions captured when the library was armed. The graded definitions are pinned. During
probing the same events from student code are blocked (the call raises) and reported as
integrity violations, and the snapshot is compared again after every probe: a change made
during probing is a violation too. Probes run one after the other in the probe thread, each
with its own time cap, and each result goes to the grader as one authenticated frame.

Code counts as the student's when it comes from a notebook cell, a file in the workspace or
TensorFlow's autograph copy of it; frames of inspect, traceback and exec'd strings are looked
through, so that a library cannot launder a student's frame walk."""
from __future__ import annotations

WORKSPACE = "/w"
CELL_PREFIXES = ("/tmp/ipykernel_", "<ipython-input-")
TRANSPARENT = ("/inspect.py", "/traceback.py", "<string>", "/functools.py", "/contextlib.py")
FRAME_ATTRS = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"}
GUARDED = {
    "sys._getframe": "frame access", "sys._current_frames": "frame access",
    "gc.get_objects": "gc walk", "gc.get_referrers": "gc walk", "gc.get_referents": "gc walk",
    "sys.settrace": "trace hook", "sys.setprofile": "trace hook",
    "os.kill": "signal", "os.killpg": "signal", "signal.pthread_kill": "signal",
    "os.system": "process", "subprocess.Popen": "process", "os.fork": "process", "os.forkpty": "process",
    "os.exec": "process", "os.posix_spawn": "process", "os.spawn": "process",
    "socket.connect": "network", "socket.bind": "network", "socket.sendto": "network",
}
MAX_EVENTS = 40
# what the measurements themselves call: any change to these is reported and undone; other
# watched callables that a library (not student code) replaced are accepted as the library's
CRITICAL = ("torch.autograd.", "torch.Tensor.backward", "torch.Tensor.__getitem__", "torch.no_grad",
            "torch.enable_grad", "torch.set_grad_enabled", "torch.randn", "torch.rand",
            "torch.randint", "torch.Generator", "tf.GradientTape.", "tensorflow.GradientTape", "tensorflow.gradients",
            "numpy.asarray", "numpy.array", "numpy.allclose", "numpy.isclose", "numpy.array_equal", "numpy.abs",
            "numpy.isfinite", "numpy.savez", "numpy.concatenate", "numpy.stack", "numpy.random.default_rng",
            "json.", "hmac.", "hashlib.", "builtins.", "grader", "pydantic.BaseModel.")


def arm(channel_path: str, framework: str, workspace: str = WORKSPACE) -> None:
    import _thread
    import builtins
    import ctypes
    import gc
    import importlib
    import os
    import socket
    import sys
    import time

    import numpy as np

    from grader.probe import channel as ch

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(channel_path)
    first = ch.read_exact(sock.recv, 33)
    if first[:1] != b"K":
        raise SystemExit("the grader's channel did not send a key")
    key = first[1:]
    lock = _thread.allocate_lock()
    counters = {"out": 0, "in": 0}
    seal, open_frame, recv, sendall = ch.seal, ch.open_frame, sock.recv, sock.sendall
    set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    set_async_exc.argtypes = [ctypes.c_ulong, ctypes.py_object]
    getframe, current_frames, get_ident, monotonic = sys._getframe, sys._current_frames, _thread.get_ident, time.monotonic
    state = {"probing": False, "probe": "", "busy": set(), "events": {}, "violations": []}
    students = (workspace.rstrip("/") + "/", *CELL_PREFIXES, "/tmp/__autograph_generated_file")
    private = channel_path.rsplit("/", 1)[0]          # the grader's socket folder

    def send(header: dict, blob: bytes = b"") -> None:
        with lock:
            frame = seal(key, ch.TO_GRADER, counters["out"], header, blob)
            counters["out"] += 1
            sendall(frame)

    # ---- what the measurements rely on ---------------------------------------------------
    importlib.import_module(f"grader.frameworks.{framework}")
    threads = int(os.environ.get("GRADER_THREADS") or 0)
    if framework == "torch":
        import torch
        if threads:
            torch.set_num_threads(threads)
            torch.set_num_interop_threads(1)
    elif threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    from grader import checks
    for kind in checks.KINDS:
        checks.get(kind)
    import grader.probe.context  # noqa: F401
    import grader.probe.observations  # noqa: F401
    import grader.probe.runner  # noqa: F401
    from grader.run.imports import check as imports_check  # the import machinery (run/imports.py)

    def namespaces() -> list:
        mods = ["builtins", "json", "math", "hmac", "hashlib", "io", "struct", "itertools", "functools",
                "contextlib", "importlib", "importlib.util", "types", "traceback", "copy", "random", "zlib",
                "inspect", "numpy", "numpy.random", "numpy.linalg", "pydantic"]
        if framework == "torch":
            mods += ["torch", "torch.nn.functional", "torch.autograd", "torch.optim", "torch.nn.utils",
                     "torch.random", "torch.serialization", "torch.nn.init"]
        else:
            mods += ["tensorflow", "keras", "keras.ops", "keras.losses", "keras.optimizers", "keras.utils",
                     "keras.random", "keras.layers"]
        mods += sorted(m for m in sys.modules if m == "grader" or m.startswith("grader."))
        out = [(m, sys.modules[m]) for m in mods if m in sys.modules]
        classes = []
        if framework == "torch":
            import torch
            classes += [("torch.Tensor", torch.Tensor), ("torch.nn.Module", torch.nn.Module),
                        ("torch.optim.Optimizer", torch.optim.Optimizer)]
        else:
            import keras
            import tensorflow as tf
            classes += [("tf.GradientTape", tf.GradientTape), ("keras.layers.Layer", keras.layers.Layer),
                        ("keras.Model", keras.Model), ("keras.optimizers.Optimizer", keras.optimizers.Optimizer)]
        import pydantic
        classes.append(("pydantic.BaseModel", pydantic.BaseModel))
        for m, mod in out:
            if m.startswith("grader"):
                classes += [(f"{m}.{k}", v) for k, v in vars(mod).items()
                            if isinstance(v, type) and getattr(v, "__module__", "") == m]
        return out + classes

    def take() -> dict:
        snap = {}
        for name, holder in namespaces():
            for k, v in list(vars(holder).items()):
                if callable(v) or isinstance(v, (staticmethod, classmethod)):
                    code = getattr(v, "__code__", None)
                    snap[f"{name}.{k}"] = (holder, k, v, code, getattr(v, "__defaults__", None))
        return snap

    snapshot = take()

    def by_student(obj) -> bool:
        code = getattr(getattr(obj, "__wrapped__", obj), "__code__", None) or getattr(obj, "__code__", None)
        fn = getattr(code, "co_filename", "") if code is not None else ""
        return fn.startswith(students) or fn.startswith("<")

    def changes(restore: bool) -> list[str]:
        """Watched callables that are not what they were when the library was armed: those
        the measurements call, and any that student code put in place."""
        found = []
        for name, (holder, k, v, code, defaults) in list(snapshot.items()):
            now = vars(holder).get(k, _ABSENT)
            swapped = now is not v
            mutated = code is not None and (getattr(v, "__code__", None) is not code or
                                            getattr(v, "__defaults__", None) is not defaults)
            if not swapped and not mutated:
                continue
            if swapped and not mutated and now is not _ABSENT and not name.startswith(CRITICAL) \
                    and not by_student(now):
                # a library's own lazy rewrapping (lightning wraps torch.compile): the library's
                snapshot[name] = (holder, k, now, getattr(now, "__code__", None), getattr(now, "__defaults__", None))
                continue
            found.append(name)
            if restore:
                try:
                    if mutated:
                        v.__code__, v.__defaults__ = code, defaults
                    if swapped:
                        setattr(holder, k, v)
                except (AttributeError, TypeError):
                    pass
        return found

    # ---- the audit hook -----------------------------------------------------------------------
    def origin() -> str:
        """'student', 'grader' or 'library': who, below the hook, asked."""
        f = getframe(2)
        while f is not None:
            fn = f.f_code.co_filename
            if fn.startswith(students):
                return "student"
            if not fn.endswith(TRANSPARENT) and not fn.startswith("<frozen"):
                return "grader" if "/grader/" in fn else "library"
            f = f.f_back
        return "library"

    def where() -> str:
        f = getframe(2)
        while f is not None:
            if f.f_code.co_filename.startswith(students):
                return f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_lineno}"
            f = f.f_back
        return ""

    def hook(event, args):
        if event == "sys.addaudithook":
            raise RuntimeError("adding audit hooks is not allowed while grading")
        kind = GUARDED.get(event)
        if kind is None:
            if event == "object.__getattr__" and len(args) > 1 and args[1] in FRAME_ATTRS:
                kind = "frame access"
            elif event == "object.__setattr__" and len(args) > 1 and args[1] in {"__code__", "__defaults__"}:
                kind = "code swap"
            elif event.startswith("ctypes."):
                kind = "ctypes"
            elif event == "open" and args and isinstance(args[0], str) and \
                    args[0].startswith(("/proc/self/mem", "/proc/self/environ", "/proc/1/", private)):
                kind = "private file"
            else:
                return
        me = get_ident()
        if me in state["busy"]:
            return
        state["busy"].add(me)
        try:
            who = origin()
            if who != "student":
                return
            if event == "os.kill" and len(args) > 1 and args[0] == _pid() and args[1] == 2:
                return                                   # the kernel interrupting itself
            detail = f"{event} {str(args[:2])[:120]}"
            if state["probing"]:
                state["violations"].append(f"{kind}: {detail} at {where()}")
                send({"type": "event", "when": "probing", "probe": state["probe"], "kind": kind,
                      "detail": detail, "where": where()})
                raise RuntimeError(f"{kind} is not allowed while your code is graded")
            n = state["events"].get(kind, 0) + 1
            state["events"][kind] = n
            if n <= MAX_EVENTS:
                send({"type": "event", "when": "top-level", "kind": kind, "detail": detail, "where": where()})
        finally:
            state["busy"].discard(me)

    _pid = os.getpid

    # ---- probing ---------------------------------------------------------------------------------
    from grader.probe import runner
    run_probe, encode = runner.run_probe, grader_observations_encode()

    def timer(tid: int, token: int, seconds: float) -> None:
        end = monotonic() + seconds
        while monotonic() < end:
            time.sleep(0.05)
            if state["token"] != token:
                return
        if state["token"] == token:
            set_async_exc(tid, runner.ProbeTimeout)

    def python_threads() -> int:
        return len(current_frames())

    def session(req: dict, blob: bytes) -> None:
        top = changes(restore=True)
        top += imports_check()
        if top:
            send({"type": "integrity", "when": "top-level", "changed": top[:50]})
        extra = python_threads() - state["threads"]
        if extra > 0:
            send({"type": "integrity", "when": "top-level", "threads": extra})
        ip = _get_ipython()
        ns = ip.user_ns if ip is not None else sys.modules["__main__"].__dict__
        plan = req["plan"]
        files = {}
        offset = 0
        for name, size in req.get("files", []):
            files[name] = blob[offset:offset + size]
            offset += size
        reference = req.get("reference")
        pinned, notes = runner.pin(ns, plan, workspace)
        if notes:
            send({"type": "integrity", "when": "pinning", "names": notes[:20]})
        gc.collect()
        state["probing"] = True
        try:
            for key in req["keys"]:
                state["probe"] = key
                state["violations"] = []
                token = state["token"] = state["token"] + 1
                send({"type": "begin", "key": key})
                timeout = float(plan["probes"][key].get("timeout_s") or plan["timeout_s"])
                _thread.start_new_thread(timer, (get_ident(), token, timeout))
                t0 = monotonic()
                try:
                    doc = run_probe(pinned, ns, plan, key, reference, files)
                except runner.ProbeTimeout:
                    doc = {"error": {"type": "Timeout", "message": f"timed out after {timeout:.0f} s", "where": ""}}
                finally:
                    state["token"] += 1
                during = changes(restore=True)
                value, arrays = encode(doc)
                send({"type": "result", "key": key, "doc": value, "seconds": round(monotonic() - t0, 3),
                      "violations": state["violations"][:10], "changed": during[:50]}, arrays)
        finally:
            state["probing"] = False
            state["probe"] = ""
        send({"type": "done"})

    def serve() -> None:
        while True:
            try:
                header, blob = open_frame(key, ch.TO_KERNEL, counters["in"], recv)
            except (EOFError, OSError, ch.ChannelError):
                return
            counters["in"] += 1
            if header.get("type") == "baseline":      # ipykernel is up; no student cell has run
                state["threads"] = python_threads()
            elif header.get("type") == "probe":
                try:
                    session(header, blob)
                except BaseException as e:  # noqa: BLE001 - report, never die silently
                    try:
                        send({"type": "failed", "error": f"{type(e).__name__}: {str(e)[:300]}"})
                    except OSError:
                        return

    def _get_ipython():
        try:
            from IPython import get_ipython
            return get_ipython()
        except ImportError:
            return None

    state["token"] = 0
    sys.addaudithook(hook)
    _thread.start_new_thread(serve, ())
    state["threads"] = 1 << 30                       # until the grader's baseline, once ipykernel is up
    send({"type": "armed", "framework": framework, "watched": len(snapshot),
          "numpy": np.__version__, "builtins": len(vars(builtins))})


_ABSENT = object()


def grader_observations_encode():
    from grader.probe import observations
    return observations.encode
