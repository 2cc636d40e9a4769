"""What a kernel writes, bounded, on the grader's side.

- Descriptors: each kernel (cold or forked) gets a fresh pipe as its stdout and stderr
  (`Drain`); the grader reads it and keeps the first `LOG_BYTES` in the kernel's log. Nothing
  a kernel can reach is shared with another kernel's run: no log file is inherited, so no
  kernel reads what an earlier one printed, and writing gigabytes fills no disk.
- The notebook: `CappedClient` keeps at most `CELL_OUTPUT_BYTES` of outputs per cell and
  `NOTEBOOK_OUTPUT_BYTES` per notebook, and says so in the cell (a stream output and the
  cell's `grader.truncated` metadata). The kernel caps its own streams before they are sent
  (kernel.py); this cap holds for whatever reaches the channel, and `MESSAGE_BYTES` bounds a
  single message (zmq drops a larger one before the grader reads it)."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import nbformat
import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from nbclient import NotebookClient

LOG_BYTES = 1 << 20                  # of a kernel's (or a zygote's) stdout and stderr
CELL_OUTPUT_BYTES = 2_000_000
NOTEBOOK_OUTPUT_BYTES = 20_000_000
MESSAGE_BYTES = 32 << 20             # one message from the kernel


class Drain:
    """A pipe for a kernel's stdout and stderr (`fd`, the write end, goes to the kernel and is
    then closed here with `handed()`); a thread keeps the first `cap` bytes in `log` and
    counts the rest, until every writer has closed it."""

    def __init__(self, log: Path, cap: int = LOG_BYTES):
        self._read, self.fd = os.pipe()
        self.log, self.cap = Path(log), cap
        self.kept = self.dropped = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name="kernel-output")
        self._thread.start()

    def _run(self) -> None:
        try:
            with open(self.log, "ab") as out:
                while chunk := os.read(self._read, 1 << 16):
                    room = max(0, self.cap - self.kept)
                    if room:
                        out.write(chunk[:room])
                        out.flush()
                    self.kept += min(room, len(chunk))
                    self.dropped += len(chunk) - min(room, len(chunk))
                if self.dropped:
                    out.write(f"\n[grader: {self.dropped} more bytes of output were not kept]\n".encode())
        except OSError:
            pass
        finally:
            os.close(self._read)

    def handed(self) -> None:
        """The kernel holds its copy: the grader's is closed, so that the pipe ends with the kernel."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def wait(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


@dataclass
class Budget:
    """Output bytes kept per cell and per notebook (across kernel restarts)."""
    cell: int = CELL_OUTPUT_BYTES
    notebook: int = NOTEBOOK_OUTPUT_BYTES
    in_cell: int = 0
    total: int = 0
    dropped: int = 0                 # in the current cell

    def start_cell(self) -> None:
        self.in_cell = self.dropped = 0

    def forget_cell(self) -> None:
        """A cell whose outputs are not kept (a replay): its bytes go back to the notebook."""
        self.total -= self.in_cell
        self.in_cell = 0

    def room(self) -> int:
        return max(0, min(self.cell - self.in_cell, self.notebook - self.total))

    def take(self, n: int) -> None:
        self.in_cell += n
        self.total += n


def size(value) -> int:
    """About how many bytes a message's content holds (its strings)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(size(k) + size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(size(v) for v in value)
    return 8


def note(budget: Budget) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("stream", name="stderr", text=(
        f"\n[grader: output truncated: a cell keeps {budget.cell:,} bytes of output, a notebook "
        f"{budget.notebook:,}; the rest was not kept]\n"))


class CappedKernelClient(AsyncKernelClient):
    """The kernel client whose sockets refuse a message over `MESSAGE_BYTES`: zmq drops it (and
    the connection, which it makes again) before the grader holds it in memory."""

    def _context_default(self) -> zmq.asyncio.Context:
        context = super()._context_default()
        context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_BYTES)
        return context


class CappedClient(NotebookClient):
    """nbclient's client with the outputs it keeps bounded by `budget` (see the module)."""

    def __init__(self, nb, km=None, budget: Budget | None = None, **kw):
        super().__init__(nb, km=km, **kw)
        self.budget = budget or Budget()

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content") or {}
        n = size(content)
        room = self.budget.room()
        if n <= room:
            self.budget.take(n)
            return super().output(outs, msg, display_id, cell_index)
        if msg.get("msg_type") == "stream" and room > 0 and isinstance(content.get("text"), str):
            msg = {**msg, "content": {**content, "text": content["text"][:room]}}
            self.budget.take(room)
            out = super().output(outs, msg, display_id, cell_index)
            n -= room
        else:
            out = None
        if not self.budget.dropped:
            outs.append(note(self.budget))
        self.budget.dropped += n
        return out

    def _update_display_id(self, display_id, msg):
        n = size(msg.get("content") or {})
        if n > self.budget.room():
            self.budget.dropped += n
            return
        self.budget.take(n)
        super()._update_display_id(display_id, msg)
