"""Execute stage: run a submission's notebook in a fresh, sandboxed, armed kernel.

The session stays open after the notebook has run, so that the probe stage can measure in the
same process (over the session's channel, see probe/channel.py). `Session.run` survives a
dying kernel by starting a new one and replaying the cells that had succeeded; a cell that
leaves the kernel starved of memory is replayed with its definitions only."""
from __future__ import annotations

import ast
import dataclasses
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path  # noqa: F401 - types in signatures

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, DeadKernelError

from .. import cells as cellplan
from ..probe.channel import Listener
from ..result import CellRecord
from ..submission import Submission
from . import imports, kernel, output, sandbox, slots, zygote

MAX_RESTARTS = 3
INTERRUPT_GRACE_S = 5.0
ARM_TIMEOUT_S = 120.0
STARVED = 0.8          # a cell that leaves the kernel above this share of its memory cap is replayed lean


@dataclass
class Outcome:
    status: str  # ok, error, timeout, crashed
    seconds: float
    ename: str = ""
    evalue: str = ""
    outputs: list = field(default_factory=list)
    dropped: int = 0          # output bytes past the cell's or the notebook's cap (output.py)


@dataclass
class Execution:
    notebook: nbformat.NotebookNode
    cells: list[CellRecord]
    status: str  # ok, crashed (the kernel could not be kept alive), timeout (budget ran out), error (no kernel)
    reason: str
    seconds: float


def definitions_only(source: str) -> str:
    """The imports, functions and classes of a cell (for replaying a cell that starved the kernel)."""
    try:
        tree = cellplan.parse(cellplan._transform(source))
    except SyntaxError:
        return ""
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return "\n".join(ast.unparse(s) for s in tree.body if isinstance(s, keep))


class Session:
    """A live, armed kernel over one submission's workspace."""

    def __init__(self, sub: Submission, framework: str, cell_timeout: float, total_s: float, memory_mb: int,
                 device: str = "cpu", gpus: str = "", threads: int = 0, read_only=(), slot: int | None = None,
                 pool=None):
        self.sub = sub
        # a batch passes the slot it leased for the job; a single kernel leases its own
        self._leased = slots.take(1) if slot is None else []
        slot = self._leased[0] if slot is None else slot
        self.pool = pool                     # a batch's zygotes (grader/zygote.py), or None
        self.zygote = None                   # the slot's zygote while the submission's files are in its workspace
        self.files, self.cwd = sub.files, sub.workspace      # where the submission's files are now (host paths)
        self.framework = framework
        self.cell_timeout = cell_timeout
        self.private = sub.root / "p"        # the grader's own: kernel spec, kernel log (not in the sandbox)
        self.run_dir = sub.root / "r"        # sockets and the connection file (bound at the same path)
        self.private.mkdir(exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        self.policy = sandbox.Policy(workspace=sub.files, run=self.run_dir, cwd=sub.workspace, memory_mb=memory_mb,
                                     device=device, gpus=gpus, threads=threads, slot=slot,
                                     read_only=list(read_only),
                                     preload=imports.for_kernel(framework, read_only))
        self.deadline = time.monotonic() + total_s
        self.watchdog = sandbox.Watchdog(memory_mb, self.deadline, sub.files)
        self.replay: list[str] = []  # sources that ran cleanly, to rebuild a dead kernel's namespace
        self.restarts = 0
        self.client: NotebookClient | None = None
        self.channel: Listener | None = None
        self.events: list[dict] = []  # what the armed library reported, across restarts
        self.problems: list[str] = []  # channels that were tampered with
        self.kill_reason = ""
        self._scratch = nbformat.v4.new_notebook()
        self.budget = output.Budget()        # the outputs kept, per cell and for the notebook
        self._starts = 0
        self.warm_starts = 0                 # kernels forked from a warm zygote
        self.start_seconds = 0.0             # kernel starts (sandbox, interpreter, arming, imports)
        self.start_error = ""                # why a prepared session's kernel did not start
        self.connected = False

    # ---- kernel lifecycle ------------------------------------------------------------
    def _kernel_manager(self, channel_path: Path) -> AsyncKernelManager:
        spec_dir = self.private / "kernels" / "grader"
        spec_dir.mkdir(parents=True, exist_ok=True)
        # -P: the working directory (the student's files) is not put on sys.path, so a `grader`
        # package the submission wrote there cannot stand in for the kernel's entry point
        inner = [sys.executable, *kernel.ENTRY, str(channel_path), self.framework,
                 self.policy.inside(self.files), "--", "-f", "{connection_file}",
                 "--HistoryManager.enabled=False", "--colors=nocolor",
                 "--IPKernelApp.parent_handle=0"]   # its parent is outside the PID namespace: bwrap watches it
        spec = {"argv": inner if self.zygote else sandbox.command(self.policy, inner), "display_name": "grader",
                "language": "python",
                "interrupt_mode": "message"}  # bwrap does not forward SIGINT: interrupts go as messages
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        ksm = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)])
        km = AsyncKernelManager(kernel_name="grader", kernel_spec_manager=ksm, transport="ipc",
                                ip=str(self.run_dir / f"k{self._starts}"),
                                connection_file=str(self.run_dir / f"connection{self._starts}.json"))
        km.client_factory = output.CappedKernelClient        # no message over output.MESSAGE_BYTES
        if self.zygote:
            self.warm_starts += 1
            km.kernel_id = str(uuid.uuid4())
            km.provisioner = zygote.ForkedProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
            km.provisioner.zygote = self.zygote
            km.provisioner.inside_cwd = self.policy.inside(self.cwd)
        return km

    def start(self) -> None:
        """Launch the kernel and connect to it."""
        self.launch()
        self.connect()

    def launch(self) -> None:
        """Start the sandboxed kernel process and wait until its probe library is armed (this
        may run in another thread than the one that later uses the kernel: a batch prepares
        the next submission's kernel while it grades the current one)."""
        t0 = time.monotonic()
        try:
            try:
                self._launch()
            except Exception:  # noqa: BLE001 - no student code has run yet: the zygote failed
                if self.zygote is None:
                    raise
                slot = self.policy.slot
                self._shutdown()
                self.pool.discard(slot)
                self.watchdog = sandbox.Watchdog(self.policy.memory_mb, self.deadline, self.files)
                self._launch()
        finally:
            self.start_seconds += time.monotonic() - t0

    def connect(self) -> None:
        """Open the kernel client's channels, in the thread (and event loop) that uses them."""
        t0 = time.monotonic()
        try:
            self.client.start_new_kernel_client()
            self.channel.send({"type": "baseline"})
            self.watchdog.watch(self.pid)
            if not self.watchdog.is_alive():
                self.watchdog.start()
            self.connected = True
        finally:
            self.start_seconds += time.monotonic() - t0

    def _enter_slot(self) -> None:
        """In a batch, the slot's warm zygote forks the kernel: the submission's files move into
        the slot's workspace for the session (see grader/zygote.py)."""
        z = self.pool.get(self.policy.slot) if self.pool is not None else None
        if z is None:
            return
        self.pool.enter(z, self.sub.files)
        self.zygote = z
        self.files, self.cwd = z.policy.workspace, z.policy.workspace / self.sub.workspace.relative_to(self.sub.files)
        self.run_dir = z.policy.run
        self.policy = dataclasses.replace(self.policy, workspace=self.files, run=self.run_dir, cwd=self.cwd)
        self.watchdog.workspace = self.files

    def _leave_slot(self) -> None:
        if self.zygote is None:
            return
        self.pool.leave(self.zygote, self.sub.files)
        self.zygote = None
        self.files, self.cwd, self.run_dir = self.sub.files, self.sub.workspace, self.sub.root / "r"
        self.policy = dataclasses.replace(self.policy, workspace=self.files, run=self.run_dir, cwd=self.cwd)

    def _launch(self) -> None:
        self.connected = False
        self._starts += 1
        self._collect_events()
        if self.zygote is None:
            self._enter_slot()
        channel_path = self.run_dir / f"c{self._starts}"
        self.channel = Listener(channel_path)
        km = self._kernel_manager(channel_path)
        km.write_connection_file()          # now, so that it is handed to the kernel's uid below
        sandbox.prepare(self.policy)
        self.client = output.CappedClient(self._scratch, km=km, budget=self.budget, timeout=None,
                                          allow_errors=True, startup_timeout=ARM_TIMEOUT_S, kernel_name="grader",
                                          shutdown_kernel="immediate",
                                          resources={"metadata": {"path": str(self.cwd)}})
        # the kernel's own stdout/stderr (C-level prints, TF logs): a pipe of its own, which the
        # grader reads into a bounded log (never a file the kernel could reopen or fill)
        drain = output.Drain(self.private / "kernel.log")
        try:
            self.client.start_new_kernel(cwd=str(self.cwd), env=sandbox.environment(self.policy),
                                         stdout=drain.fd, stderr=drain.fd)
        finally:
            drain.handed()
        if not self.channel.armed.wait(ARM_TIMEOUT_S):
            raise RuntimeError("the probe library did not arm in the kernel")

    @property
    def pid(self) -> int:
        return self.client.km.provisioner.process.pid

    def _collect_events(self) -> None:
        if self.channel is not None:
            self.events += self.channel.events
            if self.channel.problem:
                self.problems.append(self.channel.problem)
            self.channel.events = []
            self.channel.problem = ""

    def _shutdown(self) -> None:
        self.watchdog.stop()
        if self.client is None:
            self._leave_slot()
            return
        try:
            pid = self.pid
        except (AttributeError, RuntimeError):
            pid = None
        try:
            if getattr(self.client, "km", None) is not None:
                self.client._cleanup_kernel()  # nbclient's own: shut down, clean up, stop the channels
        except (RuntimeError, OSError, TimeoutError) as e:  # a kernel that was already gone
            self.kill_reason = self.kill_reason or f"shutdown: {type(e).__name__}: {e}"[:200]
        if pid:
            sandbox.kill_tree(pid)
        if self.channel is not None:
            self.channel.close()
            self._collect_events()
        self.client = None
        self._leave_slot()

    def close(self) -> None:
        """The kernel stops; the slot this session leased is free for another."""
        self._shutdown()
        slots.give(self._leased)
        self._leased = []

    def ensure_alive(self) -> bool:
        """True when a kernel is there to run code, restarting a dead one if allowed."""
        return self.client is not None or self._restart()

    def probe_budget(self, seconds: float) -> None:
        """The probes get their own time: the notebook's budget is not theirs."""
        self.deadline = time.monotonic() + seconds
        self.watchdog.deadline = self.deadline

    def restart(self) -> bool:
        """A new kernel whose namespace is rebuilt from the cells that ran."""
        return self._restart()

    def _restart(self) -> bool:
        self._shutdown()
        if self.restarts >= MAX_RESTARTS or time.monotonic() > self.deadline:
            return False
        self.restarts += 1
        self.watchdog = sandbox.Watchdog(self.policy.memory_mb, self.deadline, self.files)
        try:
            self.start()
        except Exception:  # noqa: BLE001 - a kernel that cannot start again: the caller records it
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
        pid, km = self.pid, self.client.km

        def interrupt():
            fired["interrupt"] = True
            try:
                run_sync(km.interrupt_kernel)()
            except (RuntimeError, OSError):
                pass

        def kill():
            fired["kill"] = True
            sandbox.kill_tree(pid)

        self.budget.start_cell()
        timers = [threading.Timer(timeout, interrupt), threading.Timer(timeout + INTERRUPT_GRACE_S, kill)]
        for t in timers:
            t.daemon = True
            t.start()
        t0 = time.monotonic()
        peak = [0]

        def sample():
            while not stop.wait(0.25):
                peak[0] = max(peak[0], self.watchdog.rss)
        stop = threading.Event()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            self.client.execute_cell(cell, 0)
            status = "ok"
        except (DeadKernelError, CellControlSignal, RuntimeError) as e:  # RuntimeError: channels gone
            status = "crashed"
            cell.outputs.append(nbformat.v4.new_output("error", ename=type(e).__name__, evalue=str(e)[:300], traceback=[]))
        finally:
            for t in timers:
                t.cancel()
            stop.set()
        seconds = time.monotonic() - t0
        dropped = self.budget.dropped
        if not record:
            self.budget.forget_cell()
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        ename = errors[0].get("ename", "") if errors else ""
        evalue = errors[0].get("evalue", "") if errors else ""
        if status == "ok" and errors:
            status = "error"
        if fired["interrupt"] or fired["kill"] or self.watchdog.reason:
            reason = self.watchdog.reason
            if "memory" in reason or "files" in reason:
                status, ename, evalue = "crashed", "ResourceCap", reason
            else:
                status, ename, evalue = "timeout", "Timeout", reason or f"ran past its {timeout:.0f} s limit"
            self.watchdog.reason = ""
        if status == "crashed" and not ename.startswith("Resource"):
            ename, evalue = ename or "DeadKernel", evalue or "the kernel died (os._exit, a segfault or a kill)"
        if record and status in {"ok", "error"} and \
                max(peak[0], self.watchdog.rss) > STARVED * self.policy.memory_mb * 1024 * 1024:
            # the cell left the kernel starved: its definitions are graded on a healthy kernel
            lean = definitions_only(source)
            if self._restart() and lean:
                self._execute(lean, self.cell_timeout, record=False)
                self.replay.append(lean)
            return Outcome("starved", seconds, "MemoryPressure",
                           f"the cell left the kernel above {STARVED:.0%} of its memory cap; "
                           "its definitions were run again on a fresh kernel", list(cell.outputs), dropped)
        if status == "ok" and record:
            self.replay.append(source)
        return Outcome(status, seconds, ename, evalue, list(cell.outputs), dropped)

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
        except Exception:  # noqa: BLE001 - whatever the manager raises, the kernel is not usable
            return False

    @property
    def time_left(self) -> float:
        return self.deadline - time.monotonic()


def execute(sub: Submission, session: Session, mode: str = "definitions", lean: frozenset = frozenset()) -> Execution:
    """`lean`: cells that answer an item inline (their definitions only; cells.plan)."""
    nb = nbformat.from_dict(json.loads(json.dumps(sub.notebook)))  # a copy to fill with outputs
    t0 = time.monotonic()
    records: list[CellRecord] = []
    status, reason = "ok", ""
    try:
        if session.start_error:
            return Execution(nb, records, "error", session.start_error, 0.0)
        if session.client is None:
            session.launch()
        if not session.connected:
            session.connect()
    except Exception as e:  # noqa: BLE001
        # the grader's environment failed, not the student: reported to the instructor as such
        return Execution(nb, records, "error", f"the grading kernel did not start: {type(e).__name__}: {e}"[:500], 0.0)
    for cp in cellplan.plan(nb, mode, lean):
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
        if out.dropped:
            cell.metadata.setdefault("grader", {})["truncated"] = out.dropped     # bytes of output not kept
        records.append(CellRecord(index=cp.index, status=out.status, seconds=round(out.seconds, 3),
                                  ename=out.ename, evalue=out.evalue[:500]))
        if session.client is None:
            status, reason = "crashed", f"the kernel died in cell {cp.index} and could not be restarted"
            break
    return Execution(nb, records, status, reason, time.monotonic() - t0)

