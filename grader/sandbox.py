"""Sandbox: one process tree per submission, confined as far as the machine allows.

Always: a new session (the whole tree is killed at the end), a scrubbed environment, the
workspace as cwd and HOME, rlimits (data segment, file size, core dumps), a watchdog on the
tree's resident memory and on wall-clock time. Where `unshare` works (root, or unprivileged
user namespaces): no network (a private network namespace; the kernel talks to the grader
over Unix sockets) and a private mount namespace in which the grader's cache, the output
folder and the other submissions are covered by empty tmpfs. As root, the kernel also runs
as `nobody`, so it cannot undo those mounts.

`python -m grader.sandbox CONFIG -- CMD...` is the launcher that applies the inside part
(mounts, rlimits, uid) and then execs CMD.
"""
from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

NOBODY = 65534
DROPPED_CAPS = "-sys_admin,-net_admin,-sys_module,-sys_ptrace,-sys_rawio,-sys_boot,-sys_time,-mknod"


@dataclass
class Policy:
    root: Path  # the submission's temporary tree (made the kernel's own)
    cwd: Path
    memory_mb: int = 6000
    hide: list[str] = field(default_factory=list)
    device: str = "cpu"
    gpus: str = ""  # CUDA_VISIBLE_DEVICES for this kernel
    threads: int = 0  # 0: leave torch/TF defaults


@functools.lru_cache(maxsize=1)
def capabilities() -> dict:
    """Which confinement layers work on this machine (tried once per process)."""
    caps = {"namespaces": None, "drop_uid": False}
    probe = [sys.executable, "-c", "import ipykernel, grader"]
    for mode, prefix in (("root", ["unshare", "--net", "--mount"]),
                         ("user", ["unshare", "--user", "--map-root-user", "--net", "--mount"])):
        if mode == "root" and os.geteuid() != 0:
            continue
        try:
            if subprocess.run(prefix + ["true"], capture_output=True, timeout=20).returncode == 0:
                caps["namespaces"] = mode
                break
        except (OSError, subprocess.TimeoutExpired):
            pass
    if os.geteuid() == 0:
        # The kernel can only run as nobody if nobody can read the interpreter and packages.
        def demote():
            os.setgid(NOBODY)
            os.setgroups([])
            os.setuid(NOBODY)
        try:
            r = subprocess.run(probe, capture_output=True, timeout=60, preexec_fn=demote, cwd="/")
            caps["drop_uid"] = r.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            pass
    return caps


def describe() -> dict:
    caps = capabilities()
    return {
        "network_off": caps["namespaces"] is not None,
        "private_mounts": caps["namespaces"] is not None,
        "runs_as_nobody": caps["drop_uid"],
        "capabilities_dropped": caps["namespaces"] == "root" and not caps["drop_uid"] and bool(shutil.which("setpriv")),
        "memory_cap": True,
        "wall_clock": True,
        "process_tree_killed": True,
    }


def environment(policy: Policy) -> dict:
    venv_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(policy.cwd),
        "TMPDIR": str(policy.root / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(policy.root / "tmp" / "mpl"),
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "GRADER_DEVICE": policy.device,
        "CUDA_VISIBLE_DEVICES": policy.gpus if policy.device == "cuda" else "",
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    if policy.threads:
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[k] = str(policy.threads)
    return env


def prepare(policy: Policy) -> Path:
    """Write the launcher's config; make the tree the kernel's own. Returns the config path."""
    (policy.root / "tmp" / "mpl").mkdir(parents=True, exist_ok=True)
    cfg = policy.root / "sandbox.json"
    caps = capabilities()
    cfg.write_text(json.dumps({**asdict(policy), "root": str(policy.root), "cwd": str(policy.cwd),
                               "drop_uid": caps["drop_uid"], "mounts": caps["namespaces"] is not None}))
    if caps["drop_uid"]:
        for dirpath, dirnames, filenames in os.walk(policy.root):
            os.chown(dirpath, NOBODY, NOBODY)
            for f in filenames:
                os.chown(os.path.join(dirpath, f), NOBODY, NOBODY)
    return cfg


def command(policy: Policy, cmd: list[str]) -> list[str]:
    """The argv that runs `cmd` inside the sandbox."""
    cfg = prepare(policy)
    caps = capabilities()
    prefix = []
    if caps["namespaces"] == "root":
        prefix = ["unshare", "--net", "--mount", "--"]
    elif caps["namespaces"] == "user":
        prefix = ["unshare", "--user", "--map-root-user", "--net", "--mount", "--"]
    return prefix + [sys.executable, "-m", "grader.sandbox", str(cfg), "--", *cmd]


# ---- inside: the launcher -------------------------------------------------------------

def _hide(paths: list[str], keep: list[str]) -> None:
    """Cover each path with an empty tmpfs (a file with /dev/null), unless it holds
    something the kernel needs (its workspace, the interpreter, the grader, the data)."""
    keep = [os.path.realpath(k) for k in keep]
    for p in paths:
        p = os.path.realpath(p)
        if any(k == p or k.startswith(p.rstrip("/") + "/") for k in keep):
            continue
        if os.path.isdir(p):
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=000", "grader-hidden", p],
                           check=False, capture_output=True)
        elif os.path.isfile(p):
            subprocess.run(["mount", "--bind", "/dev/null", p], check=False, capture_output=True)


def _limits(memory_mb: int) -> None:
    cap = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 30, 2 << 30))


def launch(argv: list[str]) -> None:
    cfg_path, sep, *cmd = argv
    assert sep == "--" and cmd, "usage: python -m grader.sandbox CONFIG -- CMD..."
    cfg = json.loads(Path(cfg_path).read_text())
    if cfg["mounts"]:
        import grader
        _hide(cfg["hide"], [cfg["root"], sys.prefix, sys.base_prefix, os.path.dirname(grader.__file__),
                            str(Path(grader.__file__).resolve().parent.parent / "assignments")])
        subprocess.run(["ip", "link", "set", "lo", "up"], check=False, capture_output=True)
    _limits(cfg["memory_mb"])
    if cfg["drop_uid"]:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        resource.setrlimit(resource.RLIMIT_NPROC, (4096, 4096))
    elif cfg["mounts"] and shutil.which("setpriv"):
        # Still root inside the namespaces: give up the capabilities that undo them.
        cmd = ["setpriv", "--bounding-set", DROPPED_CAPS, "--no-new-privs", "--", *cmd]
    os.chdir(cfg["cwd"])
    policy = Policy(**{**{k: cfg[k] for k in ("memory_mb", "hide", "device", "gpus", "threads")},
                       "root": Path(cfg["root"]), "cwd": Path(cfg["cwd"])})
    env = environment(policy)
    env.update({k: v for k, v in os.environ.items() if k.startswith("JPY_")})  # the kernel's parent handle
    os.execvpe(cmd[0], cmd, env)


# ---- outside: watching and killing -----------------------------------------------------

def tree(pid: int) -> list:
    import psutil
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.Error:
        return []


def kill_tree(pid: int) -> None:
    import psutil
    procs = tree(pid)
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


class Watchdog(threading.Thread):
    """Kills the kernel's process tree when it exceeds the memory cap or the deadline.
    `reason` says which, for the Result."""

    def __init__(self, memory_mb: int, deadline: float, interval: float = 0.25):
        super().__init__(daemon=True)
        self.memory_mb, self.deadline, self.interval = memory_mb, deadline, interval
        self.pid: int | None = None
        self.reason = ""
        self._halt = threading.Event()

    def watch(self, pid: int) -> None:
        self.pid = pid

    def run(self) -> None:
        import psutil
        while not self._halt.wait(self.interval):
            if self.pid is None:
                continue
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
            if rss > self.memory_mb * 1024 * 1024:
                self.reason = f"memory use passed the cap of {self.memory_mb} MB"
                kill_tree(self.pid)

    def stop(self) -> None:
        self._halt.set()


if __name__ == "__main__":
    launch(sys.argv[1:])
