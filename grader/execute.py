"""Execute stage: run a submission's notebook in a fresh sandboxed kernel.

The session stays open after the notebook has run, so the probe stage can run its cells in
the same namespace; `Session.run` survives a dying kernel by starting a new one and
replaying the cells that had succeeded."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, DeadKernelError

from . import cells as cellplan
from . import sandbox
from .result import CellRecord
from .submission import Submission

MAX_RESTARTS = 3
INTERRUPT_GRACE_S = 5.0


@dataclass
class Outcome:
    status: str  # ok, error, timeout, crashed
    seconds: float
    ename: str = ""
    evalue: str = ""
    outputs: list = field(default_factory=list)


@dataclass
class Execution:
    notebook: nbformat.NotebookNode
    cells: list[CellRecord]
    status: str  # ok, crashed (the kernel could not be kept alive), timeout (budget ran out), error (no kernel)
    reason: str
    seconds: float


class Session:
    """A live kernel over one submission's workspace."""

    def __init__(self, sub: Submission, cell_timeout: float, total_s: float, memory_mb: int,
                 device: str = "cpu", gpus: str = "", hide: list[str] | None = None, threads: int = 0):
        self.sub = sub
        self.cell_timeout = cell_timeout
        self.private = sub.root / ".grader"
        self.private.mkdir(exist_ok=True)
        self.policy = sandbox.Policy(root=sub.root, cwd=sub.workspace, memory_mb=memory_mb, hide=hide or [],
                                     device=device, gpus=gpus, threads=threads)
        self.deadline = time.monotonic() + total_s
        self.watchdog = sandbox.Watchdog(memory_mb, self.deadline)
        self.replay: list[str] = []  # sources that ran cleanly, to rebuild a dead kernel's namespace
        self.restarts = 0
        self.client: NotebookClient | None = None
        self.kill_reason = ""
        self._scratch = nbformat.v4.new_notebook()

    # ---- kernel lifecycle ------------------------------------------------------------
    def _kernel_manager(self) -> AsyncKernelManager:
        spec_dir = self.private / "kernels" / "grader"
        spec_dir.mkdir(parents=True, exist_ok=True)
        argv = sandbox.command(self.policy, [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                                             "--HistoryManager.enabled=False", "--colors=nocolor"])
        (spec_dir / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "grader", "language": "python"}))
        ksm = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)])
        ipc = self.private / "ipc"
        ipc.mkdir(exist_ok=True)
        if sandbox.capabilities()["drop_uid"]:
            os.chown(ipc, sandbox.NOBODY, sandbox.NOBODY)
        return AsyncKernelManager(kernel_name="grader", kernel_spec_manager=ksm, transport="ipc",
                             ip=str(ipc / "k"), connection_file=str(self.private / "connection.json"))

    def start(self) -> None:
        km = self._kernel_manager()
        self.client = NotebookClient(self._scratch, km=km, timeout=None, allow_errors=True, startup_timeout=180,
                                     kernel_name="grader", shutdown_kernel="immediate",
                                     resources={"metadata": {"path": str(self.sub.workspace)}})
        # the kernel's own stdout/stderr (C-level prints, TF logs) go to a log, not the grader's terminal
        log = open(self.private / "kernel.log", "ab")
        try:
            self.client.start_new_kernel(cwd=str(self.sub.workspace), env=sandbox.environment(self.policy),
                                         stdout=log, stderr=log)
        finally:
            log.close()
        self.client.start_new_kernel_client()
        self.watchdog.watch(self.pid)
        if not self.watchdog.is_alive():
            self.watchdog.start()

    @property
    def pid(self) -> int:
        return self.client.km.provisioner.process.pid

    def close(self) -> None:
        self.watchdog.stop()
        if self.client is None:
            return
        try:
            pid = self.pid
        except Exception:
            pid = None
        try:
            self.client._cleanup_kernel()  # nbclient's own: shut down, clean up, stop the channels
        except (RuntimeError, OSError, TimeoutError) as e:  # a kernel that was already gone
            self.kill_reason = self.kill_reason or f"shutdown: {type(e).__name__}: {e}"[:200]
        if pid:
            sandbox.kill_tree(pid)
        self.client = None

    def ensure_alive(self) -> bool:
        """True when a kernel is there to run code, restarting a dead one if allowed."""
        return self.client is not None or self._restart()

    def probe_budget(self, seconds: float) -> None:
        """The probes get their own time: the notebook's budget is not theirs."""
        self.deadline = time.monotonic() + seconds
        self.watchdog.deadline = self.deadline

    def _restart(self) -> bool:
        """A dead kernel is replaced and its namespace rebuilt from the cells that ran."""
        self.close()
        if self.restarts >= MAX_RESTARTS or time.monotonic() > self.deadline:
            return False
        self.restarts += 1
        self.watchdog = sandbox.Watchdog(self.policy.memory_mb, self.deadline)
        try:
            self.start()
        except Exception:
            return False
        for src in list(self.replay):
            out = self._execute(src, self.cell_timeout, record=False)
            if out.status == "crashed":
                return False
        return True

    # ---- running code ----------------------------------------------------------------
    def _execute(self, source: str, timeout: float, record: bool = True) -> Outcome:
        cell = nbformat.v4.new_code_cell(source)
        self._scratch.cells = [cell]
        timeout = max(1.0, min(timeout, self.deadline - time.monotonic()))
        fired = {"interrupt": False, "kill": False}
        pid = self.pid

        def interrupt():
            fired["interrupt"] = True
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass

        def kill():
            fired["kill"] = True
            sandbox.kill_tree(pid)

        timers = [threading.Timer(timeout, interrupt), threading.Timer(timeout + INTERRUPT_GRACE_S, kill)]
        for t in timers:
            t.daemon = True
            t.start()
        t0 = time.monotonic()
        try:
            self.client.execute_cell(cell, 0)
            status = "ok"
        except (DeadKernelError, CellControlSignal, RuntimeError) as e:  # RuntimeError: channels gone
            status = "crashed"
            cell.outputs.append(nbformat.v4.new_output("error", ename=type(e).__name__, evalue=str(e)[:300], traceback=[]))
        finally:
            for t in timers:
                t.cancel()
        seconds = time.monotonic() - t0
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        ename = errors[0].get("ename", "") if errors else ""
        evalue = errors[0].get("evalue", "") if errors else ""
        if status == "ok" and errors:
            status = "error"
        if fired["interrupt"] or fired["kill"] or self.watchdog.reason:
            reason = self.watchdog.reason
            if "memory" in reason:
                status, ename, evalue = "crashed", "MemoryCap", reason
            else:
                status, ename, evalue = "timeout", "Timeout", reason or f"ran past its {timeout:.0f} s limit"
            self.watchdog.reason = ""
        if status == "crashed" and not ename.startswith("Memory"):
            ename, evalue = ename or "DeadKernel", evalue or "the kernel died (os._exit, a segfault or a kill)"
        if status == "ok" and record:
            self.replay.append(source)
        return Outcome(status, seconds, ename, evalue, list(cell.outputs))

    def run(self, source: str, timeout: float) -> Outcome:
        """Run code; a killed or dead kernel is restarted (and its namespace replayed) for
        whatever runs next."""
        if not self.ensure_alive():
            return Outcome("crashed", 0.0, "DeadKernel", "the kernel could not be restarted")
        out = self._execute(source, timeout)
        if out.status in {"crashed", "timeout"}:
            if not self._alive():
                self._restart()
        return out

    def _alive(self) -> bool:
        try:
            return bool(run_sync(self.client.km.is_alive)())
        except Exception:
            return False

    @property
    def time_left(self) -> float:
        return self.deadline - time.monotonic()


def execute(sub: Submission, session: Session, mode: str = "definitions") -> Execution:
    nb = nbformat.from_dict(json.loads(json.dumps(sub.notebook)))  # a copy to fill with outputs
    t0 = time.monotonic()
    records: list[CellRecord] = []
    status, reason = "ok", ""
    try:
        session.start()
    except Exception as e:
        # the grader's environment failed, not the student: reported to the instructor as such
        return Execution(nb, records, "error", f"the grading kernel did not start: {type(e).__name__}: {e}"[:500], 0.0)
    for cp in cellplan.plan(nb, mode):
        cell = nb.cells[cp.index]
        cell.outputs, cell.execution_count = [], None
        if cp.source is None:
            cell.metadata.setdefault("grader", {})["skipped"] = cp.note
            records.append(CellRecord(index=cp.index, status="skipped", evalue=cp.note))
            continue
        if session.time_left <= 0:
            records.append(CellRecord(index=cp.index, status="skipped", evalue="total time budget used up"))
            status, reason = "timeout", "the total time budget ran out before every cell had run"
            continue
        out = session.run(cp.source, session.cell_timeout)
        cell.outputs = out.outputs
        if cp.note:
            cell.metadata.setdefault("grader", {})["note"] = cp.note
        records.append(CellRecord(index=cp.index, status=out.status, seconds=round(out.seconds, 3),
                                  ename=out.ename, evalue=out.evalue[:500]))
        if session.client is None:
            status, reason = "crashed", f"the kernel died in cell {cp.index} and could not be restarted"
            break
    return Execution(nb, records, status, reason, time.monotonic() - t0)
