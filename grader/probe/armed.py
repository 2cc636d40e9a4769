"""The probe library's armed half, inside the kernel.

`arm()` runs in the kernel process before ipykernel starts, so before the first student
cell. It connects to the grader's channel (channel.py) and receives a fresh key, imports what
the probes use, takes a snapshot of the functions and classes the measurements rely on
(every callable of torch, TensorFlow/Keras and numpy and their C-extension modules, the
framework's tensor and layer classes whole, autograd, GradientTape, the grader's own
modules), installs an audit hook (PEP 578; it cannot be removed) and starts the probe thread.
All of its state lives in closures that are not reachable from any module, namespace or
Thread object.

While the student's cells run, the hook reports (over the channel, at once, so that nothing
can be taken back) frame access, gc walks, ctypes, signals, processes, trace and audit hooks,
code-object swaps and reads of /proc from student code; the grader makes review entries of
them. Other threads' frames and gc walks are refused outright whenever student code is on
the call chain (the probe thread's frames hold the channel). When probing starts, the
snapshot is compared: what student cells changed at top level is reported (review) and put
back to the originals, so that the measurements use the functions captured when the library
was armed. The graded definitions are pinned. During probing the same events are blocked
(the call raises) and reported as integrity violations whenever student code is anywhere on
the call chain, whichever library performs the access (a short allow-list of library
functions that read only code locations excepted), and the snapshot is compared again after
every probe: a change made during probing, or a torch function/dispatch mode left active, is
a violation too. Probes run one after the other in the probe thread, in the grader's order,
each with its own time cap; reference pieces and the reference's weights arrive only when a
probe asks for them (runner.py), and the kernel stops before a probe that grades a name whose
reference piece it has held (the grader replaces it). Each result goes to the grader as one
authenticated frame.

Code counts as the student's when it comes from a notebook cell, a file in the workspace or
TensorFlow's autograph copy of it; frames of inspect, traceback and exec'd strings are looked
through, so that a library cannot launder a student's frame walk."""
from __future__ import annotations

import types

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
# refused even at top level when student code is on the call chain: the probe thread's frames
# (which hold the channel) are reachable only through these
ALWAYS_BLOCKED = {"sys._current_frames", "gc.get_objects", "gc.get_referrers", "gc.get_referents"}
# functions that only hand a frame to their caller (the caller is the one that uses it)
PASS_THROUGH = {("/logging/__init__.py", "<lambda>"), ("/logging/__init__.py", "currentframe"),
                ("/tf_inspect.py", "currentframe"), ("/tf_inspect.py", "stack"), ("/tf_inspect.py", "getouterframes"),
                ("/tensorflow/python/platform/tf_logging.py", "_get_caller")}
# library functions that read only code locations (file, line, function and module names) of
# the frames they walk, and hand no frame or local on: allowed whoever is on the chain
LOCATION_READERS = {
    ("/logging/__init__.py", "findCaller"), ("/collections/__init__.py", "namedtuple"),
    ("/typing.py", "_caller"), ("/typing_extensions.py", "_caller"), ("/enum.py", "_create_"),
    ("/typing_extensions.py", "_has_generic_or_protocol_as_origin"),
    ("/warnings.py", "warn"),
    ("/tensorflow/python/platform/tf_logging.py", "_logger_find_caller"),
    ("/absl/logging/__init__.py", "findCaller"),
    ("/keras/src/utils/traceback_utils.py", "_process_traceback_frames"),
    ("/tensorflow/python/util/traceback_utils.py", "_process_traceback_frames"),
    # TensorFlow records where each graph op, decorator and registration was made
    ("/tensorflow/python/util/tf_stack.py", "__init__"), ("/tensorflow/python/util/tf_decorator.py", "make_decorator"),
    ("/tensorflow/python/framework/traceable_stack.py", "set_filename_and_line_from_caller"),
    ("/tensorflow/python/framework/registry.py", "register"),
    # Lightning's save_hyperparameters reads the arguments of the module's own __init__ frames
    # (it stops at the first frame that is not an __init__ of the module's classes)
    ("/core/mixins/hparams_mixin.py", "save_hyperparameters"), ("/utilities/parsing.py", "save_hyperparameters"),
}
# top-level packages whose every callable is watched: the measurements' arithmetic
FRAMEWORK_ROOTS = ("torch", "tensorflow", "keras", "tf_keras", "numpy")
# library code that extends the framework's tensor classes at run time when a student asks
# (tf.experimental.numpy.experimental_enable_numpy_behavior: x.reshape, x.T, x.ndim, ...)
CLASS_EXTENSIONS = ("/tensorflow/python/ops/numpy_ops/", "/tensorflow/python/ops/weak_tensor_ops.py",
                    "/tensorflow/python/util/traceback_utils.py", "/tensorflow/python/ops/math_ops.py")
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
    function_type = type(arm)
    state = {"probing": False, "probe": "", "busy": set(), "events": {}, "violations": [], "held": set(),
             "code set": True}
    students = (workspace.rstrip("/") + "/", *CELL_PREFIXES, "/tmp/__autograph_generated_file")
    private = channel_path.rsplit("/", 1)[0]          # the grader's socket folder

    def send(header: dict, blob: bytes = b"") -> None:
        with lock:
            frame = seal(key, ch.TO_GRADER, counters["out"], header, blob)
            counters["out"] += 1
            sendall(frame)

    def receive() -> tuple[dict, bytes]:
        header, blob = open_frame(key, ch.TO_KERNEL, counters["in"], recv)
        counters["in"] += 1
        return header, blob

    # ---- what the measurements rely on ---------------------------------------------------
    _import_measured(framework)
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
    from grader.run.imports import check as imports_check  # the import machinery (run/imports.py)

    # the zygote's snapshot (taken before it forked this kernel), brought up to date, or a new
    # one; from here on it lives only in these closures
    spaces = _namespaces(framework)
    prepared = _PREPARED.pop(framework, None)
    _PREPARED.clear()
    prepared = _fresh(prepared, spaces)
    _, snapshot, whole_classes, members, packed = prepared
    del prepared
    whole_names = {f"{name}.{k}" for name, (_, keys) in whole_classes.items() for k in keys}

    compare = _comparers()
    same, entry = compare.same, _entry

    def pack(names: list) -> tuple:
        return compare.pack(snapshot, names)

    def by_student(obj) -> bool:
        code = getattr(getattr(obj, "__wrapped__", obj), "__code__", None) or getattr(obj, "__code__", None)
        fn = getattr(code, "co_filename", "") if code is not None else ""
        return fn.startswith(students) or fn.startswith("<")

    def framework_name(name: str) -> bool:
        return name.split(".")[0] in FRAMEWORK_ROOTS or name.startswith(("tf.", "keras."))

    def extension(value) -> bool:
        """A method or property the framework's own extension code put on a tensor class:
        every function, and every function it wraps (`__wrapped__`, read from the function's
        own dict: nothing of the value's runs), comes from TensorFlow's numpy behaviour or the
        wrappers it puts around it (weak tensors, tracebacks, math_ops' cast for astype)."""
        fns = [getattr(value, a, None) for a in ("fget", "fset")] if isinstance(value, property) else [value]
        codes = []
        for f in fns:
            for _ in range(8):
                if f is None:
                    break
                codes.append(getattr(f, "__code__", None))
                f = vars(f).get("__wrapped__") if type(f) is function_type else None
        return bool(codes) and all(c is not None and any(e in c.co_filename for e in CLASS_EXTENSIONS)
                                   for c in codes)

    def changes(restore: bool) -> list[str]:
        """Watched callables that are not what they were when the library was armed: those
        the measurements call, and any that student code put in place; attributes added to
        the watched classes. A framework function a library rewrapped lazily (its
        `__wrapped__` is the original: lightning wraps torch.compile) is the library's."""
        found = []
        # a function's code or defaults change only through their setters, which raise the audit
        # event the hook notes: without one since the last look, the objects alone are compared
        code, state["code set"] = state["code set"], False
        for group in [g for g, p in packed.items() if not same(p, code)]:
            found += entries_changed(members[group], restore)
            packed[group] = pack(members[group])
        for name, (cls, keys) in whole_classes.items():
            # what changes behaviour: methods, properties and other descriptors (Python adds
            # data such as __annotations__ or __slotnames__ to classes lazily)
            if keys.issuperset(vars(cls)):
                continue
            for k, v in [(k, v) for k, v in list(vars(cls).items())
                         if k not in keys and (callable(v) or hasattr(type(v), "__get__"))]:
                if extension(v):
                    keys.add(k)
                    snapshot[f"{name}.{k}"] = entry(cls, k, v)
                    members.setdefault(name, []).append(f"{name}.{k}")
                    packed[name] = pack(members[name])
                    continue
                found.append(f"{name}.{k} (added)")
                if restore:
                    try:
                        delattr(cls, k)
                    except (AttributeError, TypeError):
                        pass
        return found

    def entries_changed(names: list, restore: bool) -> list[str]:
        found = []
        for name in names:
            holder, k, v, code, defaults = snapshot[name]
            now = vars(holder).get(k, _ABSENT)
            swapped = now is not v
            mutated = code is not None and (getattr(v, "__code__", None) is not code or
                                            getattr(v, "__defaults__", None) is not defaults)
            if not swapped and not mutated:
                continue
            if swapped and not mutated and now is not _ABSENT and not name.startswith(CRITICAL) \
                    and not by_student(now) and (not framework_name(name) or getattr(now, "__wrapped__", None) is v
                                                 or (name in whole_names and extension(now))):
                snapshot[name] = entry(holder, k, now)
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

    def modes(restore: bool) -> list[str]:
        """torch function and dispatch modes left active (they see every torch call the
        measurements make)."""
        if framework != "torch":
            return []
        import torch
        found = []
        for what, length, pop in (("torch function mode", torch._C._len_torch_function_stack,
                                   torch._C._pop_torch_function_stack),
                                  ("torch dispatch mode", torch._C._len_torch_dispatch_stack,
                                   torch._C._pop_torch_dispatch_stack)):
            n = length()
            if n:
                found.append(f"{what} left active ({n})")
                while restore and length():
                    pop()
        return found

    # ---- the audit hook -----------------------------------------------------------------------
    def location(f) -> tuple[str, str]:
        return f.f_code.co_filename, f.f_code.co_name

    def matches(f, table) -> bool:
        fn, name = location(f)
        return any(name == func and fn.endswith(suffix) for suffix, func in table)

    def origin(chain: bool) -> tuple[str, str]:
        """('student' | 'grader' | 'library', the consumer's location): who, below the hook,
        asked. The first frame that is not a look-through (inspect, traceback, exec'd strings,
        functions that only hand a frame on) is the consumer; with `chain`, a student frame
        anywhere below a library consumer makes the access the student's (the library
        performs it on the student's behalf), unless the consumer only reads code locations."""
        f = getframe(2)
        consumer, said = None, ""
        while f is not None:
            fn = f.f_code.co_filename
            if fn.startswith(students):
                return "student", said
            if consumer is None and not fn.endswith(TRANSPARENT) and not fn.startswith("<frozen") \
                    and not matches(f, PASS_THROUGH):
                consumer = f
                said = f"{fn.split('-packages/')[-1].split('/lib/python3')[-1]}:{f.f_code.co_name}"
                if not chain or matches(f, LOCATION_READERS):
                    break
            f = f.f_back
        if consumer is None:
            return "library", said
        return ("grader" if "/grader/" in consumer.f_code.co_filename else "library"), said

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
                state["code set"] = True                 # whoever set it: `changes` compares code again
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
            blocked = state["probing"] or event in ALWAYS_BLOCKED
            who, by = origin(chain=blocked and kind in ("frame access", "gc walk"))
            if who != "student":
                return
            if event == "os.kill" and len(args) > 1 and args[0] == _pid() and args[1] == 2:
                return                                   # the kernel interrupting itself
            detail = f"{event} {str(args[:2])[:120]}" + (f" by {by}" if by else "")
            if state["probing"]:
                state["violations"].append(f"{kind}: {detail} at {where()}")
                send({"type": "event", "when": "probing", "probe": state["probe"], "kind": kind,
                      "detail": detail, "where": where()})
                raise RuntimeError(f"{kind} is not allowed while your code is graded")
            n = state["events"].get(kind, 0) + 1
            state["events"][kind] = n
            if n <= MAX_EVENTS:
                send({"type": "event", "when": "top-level", "kind": kind, "detail": detail, "where": where()})
            if blocked:
                raise RuntimeError(f"{kind} is not allowed in a graded submission")
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

    def ask(what: str, header: dict, blob: bytes = b"") -> tuple[dict, bytes]:
        """A question to the grader from the probe running now (a reference piece, a file,
        the reference's weights); the answer is the next frame the grader sends."""
        send({**header, "type": "ask", "key": state["probe"], "what": what}, blob)
        answer, data = receive()
        if answer.get("type") != "answer":
            raise ch.ChannelError(f"expected an answer, got {answer.get('type')!r}")
        if answer.get("graded"):
            state["held"].update(str(n) for n in answer["graded"])
        return answer, data

    def session(req: dict, blob: bytes) -> None:
        top = changes(restore=True) + modes(restore=True)
        top += imports_check()
        if top:
            send({"type": "integrity", "when": "top-level", "changed": top[:50]})
        extra = python_threads() - state["threads"]
        if extra > 0:
            send({"type": "integrity", "when": "top-level", "threads": extra})
        ip = _get_ipython()
        ns = ip.user_ns if ip is not None else sys.modules["__main__"].__dict__
        plan = req["plan"]
        pinned, notes = runner.pin(ns, plan, workspace)
        if notes:
            send({"type": "integrity", "when": "pinning", "names": notes[:20]})
        gc.collect()
        # what is alive now (the framework, the student's cells) is never scanned again: the
        # collection after a probe looks only at what the probe made (its reference pieces),
        # 0.2 s a probe with TensorFlow's object graph otherwise
        gc.freeze()
        state["probing"] = True
        try:
            for key in req["keys"]:
                grades = set(plan["probes"][key].get("grades", ()))
                if state["held"] & grades:
                    # a student's code may have kept a reference piece of what this probe grades
                    send({"type": "done", "stopped": key, "held": sorted(state["held"])})
                    return
                state["probe"] = key
                state["violations"] = []
                token = state["token"] = state["token"] + 1
                send({"type": "begin", "key": key})
                timeout = float(plan["probes"][key].get("timeout_s") or plan["timeout_s"])
                _thread.start_new_thread(timer, (get_ident(), token, timeout))
                t0 = monotonic()
                held_before = len(state["held"])
                try:
                    doc = run_probe(pinned, ns, plan, key, ask)
                except runner.ProbeTimeout:
                    doc = {"error": {"type": "Timeout", "message": f"timed out after {timeout:.0f} s", "where": ""}}
                finally:
                    state["token"] += 1
                if len(state["held"]) != held_before:
                    gc.collect()                          # the probe's pieces, dropped by the runner
                state["violations"] += [str(v) for v in doc.pop("violations", [])][:10]
                during = changes(restore=True) + modes(restore=True)
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
                header, blob = receive()
            except (EOFError, OSError, ch.ChannelError):
                return
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
_PREPARED: dict = {}        # framework -> the zygote's snapshot, taken once before it forks kernels


def _import_measured(framework: str) -> None:
    """What the probes use: the framework's adapter, every check, the probe runner."""
    import importlib
    importlib.import_module(f"grader.frameworks.{framework}")
    from grader import checks
    for kind in checks.KINDS:
        checks.get(kind)
    import grader.probe.context
    import grader.probe.observations
    import grader.probe.runner  # noqa: F401


def prepare(framework: str) -> None:
    """In a zygote, after its imports and before it forks: the snapshot that each kernel's
    `arm` would take (0.1 s with Keras), taken once. `arm` takes it out of this module before
    any student code runs and brings it up to date (`_fresh`)."""
    _import_measured(framework)
    import grader.run.imports  # noqa: F401
    _PREPARED[framework] = _snapshot(_namespaces(framework))


def _namespaces(framework: str) -> list:
    """(name, holder, whole): modules and classes whose attributes are watched; `whole`:
    every attribute (a class's descriptors, `shape` included), else its callables."""
    import sys
    mods = ["builtins", "json", "math", "hmac", "hashlib", "io", "struct", "itertools", "functools",
            "contextlib", "importlib", "importlib.util", "types", "traceback", "copy", "random", "zlib",
            "inspect", "pydantic"]
    mods += sorted(m for m in sys.modules if m.split(".")[0] in FRAMEWORK_ROOTS)
    mods += sorted(m for m in sys.modules if m == "grader" or m.startswith("grader."))
    out = [(m, sys.modules[m], False) for m in dict.fromkeys(mods)
           if isinstance(sys.modules.get(m), type(sys)) and hasattr(sys.modules[m], "__dict__")]
    classes = []
    if framework == "torch":
        import torch
        classes += [("torch.Tensor", torch.Tensor), ("torch.nn.Module", torch.nn.Module),
                    ("torch.nn.Parameter", torch.nn.Parameter), ("torch.optim.Optimizer", torch.optim.Optimizer),
                    ("torch.autograd.Function", torch.autograd.Function)]
    else:
        import keras
        import tensorflow as tf
        from tensorflow.python.framework import ops as tf_ops
        classes += [("tf.GradientTape", tf.GradientTape), ("keras.layers.Layer", keras.layers.Layer),
                    ("keras.Model", keras.Model), ("keras.optimizers.Optimizer", keras.optimizers.Optimizer),
                    ("tf.Tensor", tf.Tensor), ("tf.EagerTensor", tf_ops.EagerTensor),
                    ("tf._EagerTensorBase", tf_ops._EagerTensorBase), ("tf.Variable", tf.Variable),
                    ("keras.Variable", keras.Variable)]
    import pydantic
    classes.append(("pydantic.BaseModel", pydantic.BaseModel))
    for m, mod, _ in out:
        if m.startswith("grader"):
            classes += [(f"{m}.{k}", v) for k, v in vars(mod).items()
                        if isinstance(v, type) and getattr(v, "__module__", "") == m]
    return out + [(n, c, True) for n, c in classes]


def _snapshot(spaces: list) -> tuple:
    """(the namespaces' names and holders, snapshot, whole classes, members, packed): every
    watched attribute as (holder, key, value, code, defaults); each whole class's keys; each
    namespace's snapshot keys, and the same packed for `same` (`_comparers`)."""
    taken = ([(n, h) for n, h, _ in spaces], {}, {}, {}, {})
    pack = _comparers().pack
    for space in spaces:
        _take(taken, pack, *space)
    return taken


def _entry(holder, key: str, value) -> tuple:
    """One watched attribute as the snapshot keeps it: (holder, key, value, code, defaults)."""
    return holder, key, value, getattr(value, "__code__", None), getattr(value, "__defaults__", None)


def _take(taken: tuple, pack, name: str, holder, full: bool) -> None:
    """One namespace into the snapshot (what an earlier take of it held is replaced)."""
    _, snap, whole, members, packed = taken
    for key in members.pop(name, []):
        del snap[key]
    packed.pop(name, None)
    try:
        items = list(vars(holder).items())
    except TypeError:
        return
    if full:
        whole[name] = (holder, {k for k, _ in items})
    for k, v in items:
        if full or callable(v) or isinstance(v, (staticmethod, classmethod)):
            snap[f"{name}.{k}"] = _entry(holder, k, v)
            members.setdefault(name, []).append(f"{name}.{k}")
    if name in members:
        packed[name] = pack(snap, members[name])


def _fresh(prepared: tuple | None, spaces: list) -> tuple:
    """The zygote's snapshot made this kernel's, or a new one where its namespaces are not
    these. It runs when the kernel arms, before any student code: what differs since the
    zygote took it is the grader's own set-up (run/imports.py binds its `check`), taken again."""
    if prepared is None or len(prepared[0]) != len(spaces) or \
            not all(n == m and h is g for (n, h), (m, g, _) in zip(prepared[0], spaces)):
        return _snapshot(spaces)
    _, _, whole, _, packed = prepared
    compare = _comparers()
    for name, holder, full in spaces:
        if name in packed and not compare.same(packed[name], True) or name in whole and \
                not (len(whole[name][1]) == len(vars(holder)) and whole[name][1].issuperset(vars(holder))):
            _take(prepared, compare.pack, name, holder, full)
    return prepared


def _comparers() -> types.SimpleNamespace:
    """`pack` (one namespace's snapshot as parallel lists) and `same` (compares them in C: the
    per-entry loop cost 0.1 s a probe with Keras's 50,000 entries, most of it in the audit
    hook that reading `__code__` calls). Made when a kernel arms: what they call is bound
    here, out of reach of what a student's cell rebinds (builtins, operator, itertools)."""
    from itertools import repeat
    from operator import is_
    absent, all_, map_, vars_, getattr_ = _ABSENT, all, map, vars, getattr

    def pack(snapshot: dict, names: list) -> tuple:
        entries = [snapshot[n] for n in names]
        coded = [e for e in entries if e[3] is not None]
        return (entries[0][0], [e[1] for e in entries], [e[2] for e in entries],
                [e[2] for e in coded], [e[3] for e in coded], [e[4] for e in coded])

    def same(packed: tuple, code: bool) -> bool:
        """Every watched attribute of one namespace is the object it was and, with `code`,
        has the code and defaults it had."""
        holder, keys, values, fns, codes, defaults = packed
        now = vars_(holder).get
        return (all_(map_(is_, map_(now, keys, repeat(absent)), values))
                and (not code or all_(map_(is_, map_(getattr_, fns, repeat("__code__"), repeat(None)), codes))
                     and all_(map_(is_, map_(getattr_, fns, repeat("__defaults__"), repeat(None)), defaults))))

    return types.SimpleNamespace(pack=pack, same=same)


def grader_observations_encode():
    from grader.probe import observations
    return observations.encode
