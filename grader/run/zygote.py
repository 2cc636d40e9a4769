"""Warm kernels for a batch: one sandbox per running job (slot) holds a zygote, an interpreter
that has already imported the assignment's framework and libraries, and forks a kernel per
submission from it. The framework's import (TensorFlow 4 CPU-seconds, Lightning 5, torch 2)
is then paid once per slot instead of once per submission.

Isolation stays per submission (the attack suite runs on this path):
- the slot's sandbox is the same bubblewrap sandbox a single kernel gets (namespaces, read-only
  system, unprivileged uid, rlimits), with the slot's own workspace and socket folders;
- before a kernel starts and after it ends, every process in the slot's sandbox but the
  zygote is killed, and the workspace and socket folders are emptied: nothing one submission
  leaves behind (a daemon, a file, a planted socket) meets the next one;
- the submission's files are moved into the slot's workspace for its turn and moved back
  after, so the grader reads them where it always does;
- each kernel starts with an empty /tmp, its own session and fresh random seeds, and its own
  stdout and stderr: a pipe the grader creates per kernel and passes over the socket pair
  (SCM_RIGHTS); every other descriptor of the zygote's is closed in the child, so no kernel
  reaches a log or a pipe of another kernel's run (output.py);
- the zygote is not dumpable (no kernel can ptrace it or read its memory), speaks only over a
  socket pair the grader created (nothing on a path a kernel could replace), and imports
  nothing from the workspace; a killed zygote is started again.

The grader side (Pool, Zygote) runs in the batch process; `serve` is the zygote itself
(`python -P -m grader.run zygote ...`)."""
from __future__ import annotations

import ast
import concurrent.futures
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from . import imports, output, sandbox

READY_TIMEOUT_S = 120.0          # the zygote's imports
SPAWN_TIMEOUT_S = 30.0
# what a kernel can send its zygote (same uid) short of SIGKILL and SIGSTOP
KERNEL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
# torch._dynamo (with sympy, optree and triton): torch imports it lazily on the first optimizer
# a kernel makes, 2 CPU-seconds that every kernel of a batch would pay again
FRAMEWORK_MODULES = {"torch": ["torch", "torch._dynamo"], "keras": ["tensorflow", "keras"]}
# what the armed kernel imports anyway
KERNEL_MODULES = ["numpy", "ipykernel.kernelapp", "ipykernel.ipkernel", "IPython", "zmq", "grader.probe.armed",
                  "grader.probe.channel"]


def preload(framework: str, reference_source: str) -> list[str]:
    """The framework, the grader's kernel side, and every module the reference imports at
    top level (the students' notebooks import the same ones)."""
    mods = [*FRAMEWORK_MODULES.get(framework, []), f"grader.frameworks.{framework}", *KERNEL_MODULES]
    for line in reference_source.splitlines():
        if not line.startswith(("import ", "from ")):
            continue
        try:
            node = ast.parse(line).body[0]
        except (SyntaxError, IndexError):
            continue
        if isinstance(node, ast.Import):
            mods += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            mods.append(node.module)
    other = FRAMEWORK_MODULES["keras" if framework == "torch" else "torch"]
    # keep the other framework out (TensorFlow out of torch kernels, torch out of Keras ones)
    return list(dict.fromkeys(m for m in mods if m.split(".")[0] not in other))


# ---- inside the sandbox ------------------------------------------------------------------

def serve(fd: int, modules: list[str], framework: str = "") -> None:
    """The zygote: import, report ready, then fork one kernel per request. Single-threaded,
    so that a fork copies a consistent interpreter."""
    import importlib
    import select

    for m in modules:     # started with -P: nothing from the workspace
        try:
            importlib.import_module(m)
        except Exception:  # noqa: BLE001 - a module the kernel will import itself, or fail on
            pass
    if framework:
        from grader.probe import armed
        armed.prepare(framework)     # the probe library's snapshot, once for every kernel forked
    import gc
    import threading as _t
    gc.collect()
    gc.freeze()         # the framework's objects: no kernel's collection scans (or copies) them again
    sock = socket.socket(fileno=fd)
    if _t.active_count() != 1:      # a library started a thread: forking would copy a broken state
        sock.sendall(json.dumps({"error": f"{_t.active_count()} threads after the imports"}).encode() + b"\n")
        return
    _dumpable(False)
    for sig in KERNEL_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)      # what a kernel sends it; SIGKILL and SIGSTOP: started again
    sock.sendall(json.dumps({"ready": os.getpid()}).encode() + b"\n")
    buf, fds = b"", []
    while True:
        ready, _, _ = select.select([sock], [], [], 0.2)
        _reap()
        if not ready:
            continue
        chunk, got, _, _ = socket.recv_fds(sock, 65536, 4)
        fds += got
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            out = fds.pop(0) if fds else -1          # the kernel's own stdout and stderr (the grader reads it)
            pid = os.fork()
            if pid == 0:
                sock.close()
                _become_kernel(req, out)
            if out >= 0:
                os.close(out)
            sock.sendall(json.dumps({"pid": pid}).encode() + b"\n")


def _own_descriptors(out: int) -> None:
    """The kernel keeps stdin (/dev/null) and gets `out` as its stdout and stderr; every other
    descriptor inherited from the zygote is closed (the zygote's own output included)."""
    if out < 0:
        out = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(out, fd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)


def _become_kernel(req: dict, out: int) -> None:
    code = 1
    try:
        _own_descriptors(out)
        _dumpable(True)
        for sig in KERNEL_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()
        _wipe("/tmp")
        import random
        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        os.chdir(req["cwd"])
        sys.argv = ["grader.run", "kernel", *req["argv"]]
        from grader.run import kernel
        kernel.main(req["argv"])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - to the slot's log, like a kernel's own stderr
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wipe(folder: str) -> None:
    """Empty a folder without crossing into what is mounted below it (the grader's socket
    folder can be bound under /tmp)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        try:
            if e.is_dir(follow_symlinks=False):
                if not os.path.ismount(e.path):
                    _wipe(e.path)
                    os.rmdir(e.path)
            else:
                os.unlink(e.path)
        except OSError:
            pass


def _dumpable(on: bool) -> None:
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(4, 1 if on else 0, 0, 0, 0)   # PR_SET_DUMPABLE
    except (OSError, AttributeError):
        pass


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# ---- the grader's side -------------------------------------------------------------------

def _nspid(pid: int) -> int | None:
    """A process's pid in its innermost PID namespace."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


class Forked:
    """The forked kernel, as the kernel manager sees a process (it is the zygote's child, not
    ours: liveness is read from /proc)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self.stdin = self.stdout = self.stderr = None

    def poll(self) -> int | None:
        import psutil
        if self.returncode is None:
            try:
                if psutil.Process(self.pid).status() == psutil.STATUS_ZOMBIE:
                    self.returncode = -9
            except psutil.Error:
                self.returncode = -9
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired("kernel", timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        sandbox.kill_tree(self.pid)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkedProvisioner(LocalProvisioner):
    """Launches by asking the slot's zygote to fork (the kernel spec's argv is the kernel's
    own command line, inside the sandbox)."""

    zygote: "Zygote | None" = None
    inside_cwd: str = sandbox.INSIDE_WORK

    async def launch_kernel(self, cmd: list[str], **kwargs):
        argv = cmd[cmd.index("grader.run") + 2:]
        self.process = Forked(self.zygote.spawn(argv, self.inside_cwd, kwargs.get("stdout")))
        self.pid, self.pgid = self.process.pid, None
        self.cwd = kwargs.get("cwd")
        return self.connection_info


class Zygote:
    """One slot's sandbox and the zygote in it."""

    def __init__(self, policy: sandbox.Policy, framework: str, modules: list[str], log: Path):
        self.policy = policy
        parent, child = socket.socketpair()
        argv = sandbox.command(policy, [sys.executable, "-P", "-m", "grader.run", "zygote", str(child.fileno()),
                                        framework, *modules])
        sandbox.prepare(policy)
        drain = output.Drain(log)          # the zygote's own output, written by the grader (bounded)
        try:
            self.proc = subprocess.Popen(argv, pass_fds=[child.fileno()], env=sandbox.environment(policy),
                                         cwd=str(policy.workspace), stdout=drain.fd, stderr=drain.fd,
                                         stdin=subprocess.DEVNULL)
        finally:
            drain.handed()
            child.close()
        self.sock = parent
        self.sock.settimeout(READY_TIMEOUT_S)
        self.file = parent.makefile("rb")

    def ready(self) -> None:
        """Wait for its imports (in the caller's thread: the slots' zygotes import at once)."""
        try:
            reply = json.loads(self.file.readline() or b"{}")
        except (OSError, ValueError) as e:
            reply = {"error": str(e)}
        if "ready" not in reply:
            self.close()
            raise RuntimeError(f"the zygote did not start: {reply.get('error', 'no reply')}")
        self.pid = self._find(reply["ready"], [self.proc.pid])
        if self.pid is None:
            self.close()
            raise RuntimeError("the zygote's process was not found")

    @staticmethod
    def _find(nspid: int, roots: list[int]) -> int | None:
        import psutil
        for r in roots:
            try:
                for p in psutil.Process(r).children(recursive=True):
                    if _nspid(p.pid) == nspid:
                        return p.pid
            except psutil.Error:
                continue
        return None

    def alive(self) -> bool:
        """Running and answering: a kernel may have killed or stopped it (same uid)."""
        import psutil
        try:
            return self.proc.poll() is None and psutil.Process(self.pid).status() in {
                psutil.STATUS_RUNNING, psutil.STATUS_SLEEPING, psutil.STATUS_DISK_SLEEP}
        except psutil.Error:
            return False

    def spawn(self, argv: list[str], cwd: str, out: int | None) -> int:
        """Fork a kernel whose stdout and stderr are `out` (a pipe the grader reads, passed
        over the socket pair; /dev/null without); its pid as the grader sees it."""
        self.sock.settimeout(SPAWN_TIMEOUT_S)
        socket.send_fds(self.sock, [json.dumps({"argv": argv, "cwd": cwd}).encode() + b"\n"],
                        [out] if isinstance(out, int) and out >= 0 else [])
        reply = json.loads(self.file.readline() or b"{}")
        pid = self._find(reply.get("pid", -1), [self.pid])
        if pid is None:
            raise RuntimeError("the zygote did not fork a kernel")
        return pid

    def sweep(self) -> None:
        """Kill every process in the slot's sandbox but the zygote (and bwrap's own)."""
        import psutil
        try:
            keep = {self.proc.pid, self.pid, psutil.Process(self.pid).ppid()}
            procs = [p for p in psutil.Process(self.proc.pid).children(recursive=True) if p.pid not in keep]
        except psutil.Error:
            return
        sandbox.kill(procs)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        sandbox.kill_tree(self.proc.pid)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _move(src: Path, dst: Path) -> None:
    """Every entry of src into dst (renamed where one filesystem holds both: links are moved, never followed)."""
    for e in os.scandir(src):
        shutil.move(e.path, dst / e.name)


class Pool:
    """A batch's zygotes, one per slot, started on first use (by the pool's own thread, see
    below) and closed with the batch."""

    def __init__(self, framework: str, modules: list[str], root: Path, threads: int, memory_mb: int,
                 read_only: list[tuple[str, str]]):
        # the zygote imports what its kernels would import before their first cell
        self.framework, self.root = framework, root
        self.modules = list(dict.fromkeys([*modules, *imports.for_kernel(framework, read_only)]))
        self.threads, self.memory_mb, self.read_only = threads, memory_mb, read_only
        self._zygotes: dict[int, Zygote] = {}
        self._failed: set[int] = set()
        self._lock = threading.Lock()                        # the maps above
        self._starting: dict[int, threading.Lock] = {}       # per slot: one start at a time
        self._closed = False
        # bwrap dies with the *thread* that started it (PR_SET_PDEATHSIG), and a slot outlives
        # the worker that happened to need a new zygote: one thread starts them all and lives
        # until the pool is closed
        self._requests: queue.Queue = queue.Queue()
        threading.Thread(target=self._launcher, daemon=True, name="zygotes").start()

    def _launcher(self) -> None:
        while (item := self._requests.get()) is not None:
            start, done = item
            try:
                done.set_result(start())
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                done.set_exception(e)

    def _start(self, slot: int, policy: sandbox.Policy) -> Zygote:
        done: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:            # never behind the launcher's end (close)
            if self._closed:
                raise RuntimeError("the batch has ended")
            self._requests.put((lambda: Zygote(policy, self.framework, self.modules, self.root / f"slot{slot}.log"), done))
        return done.result()

    @staticmethod
    def usable(device: str) -> bool:
        """Forking needs a namespace sandbox (a slot's processes are swept through its PID
        namespace) and the CPU (CUDA must not be initialised before a fork; GPUs rotate)."""
        if os.environ.get("GRADER_ZYGOTES", "1") == "0":      # off: benchmarks compare with cold kernels
            return False
        return device == "cpu" and sandbox.capabilities()["mode"] is not None and hasattr(os, "fork")

    def policy(self, slot: int) -> sandbox.Policy:
        d = self.root / f"slot{slot}"
        for sub in ("w", "r"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        return sandbox.Policy(workspace=d / "w", run=d / "r", memory_mb=self.memory_mb, threads=self.threads,
                              slot=slot, read_only=list(self.read_only),
                              preload=imports.for_kernel(self.framework, self.read_only))

    def get(self, slot: int) -> Zygote | None:
        """The slot's live zygote (started again if a kernel killed it), or None when this
        slot cannot have one (the caller starts a kernel the ordinary way). Slots start theirs
        at once: a batch's first kernels wait for one zygote's imports, not for each in turn."""
        with self._lock:
            if slot in self._failed or self._closed:
                return None
            slot_lock = self._starting.setdefault(slot, threading.Lock())
        with slot_lock:
            with self._lock:
                z = self._zygotes.get(slot)
            if z is not None and not z.alive():
                z.close()
                z = None
            if z is None:
                policy = self.policy(slot)
                _wipe(policy.workspace)
                _wipe(policy.run)
                try:
                    z = self._start(slot, policy)
                    z.ready()
                except (OSError, RuntimeError, ValueError, socket.timeout) as e:
                    if not self._closed:
                        print(f"grader: no warm kernel for slot {slot} ({e}); starting kernels one by one",
                              file=sys.stderr)
                    with self._lock:
                        self._failed.add(slot)
                    return None
                with self._lock:
                    if not self._closed:
                        self._zygotes[slot] = z
                        return z
                z.close()          # the batch ended while it started
                return None
            return z

    def warm(self, slots) -> None:
        """Start these slots' zygotes now, side by side: a batch's first kernels would otherwise
        start them one after another (its producer prepares one submission at a time), one
        core importing while the other waits."""
        for slot in slots:
            threading.Thread(target=self.get, args=(slot,), daemon=True, name=f"zygote-{slot}").start()

    def discard(self, slot: int) -> None:
        """A zygote that failed to fork: the slot's next kernel gets a fresh one."""
        with self._lock:
            z = self._zygotes.pop(slot, None)
        if z is not None:
            z.close()

    def enter(self, z: Zygote, files: Path) -> None:
        """The submission's turn in the slot: nothing of the last one is left; its files move in."""
        z.sweep()
        _wipe(z.policy.workspace)
        _wipe(z.policy.run)
        _move(files, z.policy.workspace)

    def leave(self, z: Zygote, files: Path) -> None:
        """Its processes are gone, its files (what the kernel wrote included) move back."""
        z.sweep()
        _move(z.policy.workspace, files)
        _wipe(z.policy.run)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for z in self._zygotes.values():
                z.close()
            self._zygotes.clear()
            self._requests.put(None)
        shutil.rmtree(self.root, ignore_errors=True)
