"""The channel between the grader and the armed probe library in a kernel: a Unix socket the
grader listens on, which the kernel connects to while it is armed, before any student cell
runs. The grader's first message is a fresh key; every later frame, both ways, is encrypted
with a keystream of that key and carries a counter and an HMAC. Student code can write to the
socket (it is in the same process), but without the key it can only break the channel, which
the grader notices (a bad tag or a gap in the counters) and treats as tampering; it cannot
forge an observation or an event, read a request, or replay one.

Frame: 4-byte length | 8-byte counter | 32-byte tag | body; tag = HMAC-SHA256(key, direction |
counter | body), body = (json header, 0 byte, binary attachment) XOR SHAKE-256(key | direction |
counter). No pickle anywhere; sizes are capped."""
from __future__ import annotations

import hashlib
import hmac
import json
import struct

MAX_FRAME = 256 * 1024 * 1024
HEAD = struct.Struct(">IQ32s")
TO_KERNEL, TO_GRADER = b"K", b"G"


class ChannelError(Exception):
    """A frame that is not the grader's or the armed library's: tampering or a broken kernel."""


def _stream(key: bytes, direction: bytes, counter: int, n: int) -> bytes:
    return hashlib.shake_256(key + direction + counter.to_bytes(8, "big")).digest(n) if n else b""


def _xor(data: bytes, stream: bytes) -> bytes:
    if not data:
        return b""
    import numpy as np
    return (np.frombuffer(data, np.uint8) ^ np.frombuffer(stream, np.uint8)).tobytes()


def seal(key: bytes, direction: bytes, counter: int, header: dict, blob: bytes = b"") -> bytes:
    body = json.dumps(header, separators=(",", ":")).encode() + b"\0" + blob
    if len(body) > MAX_FRAME:
        raise ChannelError(f"frame of {len(body)} bytes is over the limit")
    body = _xor(body, _stream(key, direction, counter, len(body)))
    tag = hmac.new(key, direction + counter.to_bytes(8, "big") + body, hashlib.sha256).digest()
    return HEAD.pack(len(body), counter, tag) + body


def read_exact(recv, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("the channel closed")
        buf += chunk
    return bytes(buf)


def open_frame(key: bytes, direction: bytes, expected: int, recv) -> tuple[dict, bytes]:
    """Read one frame; raises ChannelError unless it is authentic and the next in sequence."""
    n, counter, tag = HEAD.unpack(read_exact(recv, HEAD.size))
    if n > MAX_FRAME:
        raise ChannelError(f"a frame of {n} bytes announced")
    body = read_exact(recv, n)
    want = hmac.new(key, direction + counter.to_bytes(8, "big") + body, hashlib.sha256).digest()
    if not hmac.compare_digest(tag, want):
        raise ChannelError("a frame with a bad tag (not written by the armed library)")
    if counter != expected:
        raise ChannelError(f"frame {counter} where {expected} was due (frames dropped or replayed)")
    body = _xor(body, _stream(key, direction, counter, len(body)))
    head, _, blob = body.partition(b"\0")
    try:
        header = json.loads(head)
    except ValueError:
        raise ChannelError("a frame whose header is not JSON") from None
    if not isinstance(header, dict):
        raise ChannelError("a frame whose header is not an object")
    return header, blob


class Listener:
    """The grader's end: listens at `path`, accepts the one armed kernel, sends it the key,
    then reads its frames in a thread. Events (what the audit hook saw, what the snapshot
    found changed) are collected in `events`; everything else is queued for `next()`.
    `problem` holds the evidence when the channel was tampered with."""

    def __init__(self, path):
        import os
        import queue
        import socket
        import threading

        self.key = os.urandom(32)
        self.path = str(path)
        self.events: list[dict] = []
        self.problem = ""
        self.armed = threading.Event()
        self.closed = threading.Event()
        self._frames: queue.Queue = queue.Queue()
        self._out = 0
        self._lock = threading.Lock()
        self._conn = None
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(1)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            self.closed.set()
            self._frames.put(None)
            return
        finally:
            self._listener.close()
        self._conn = conn
        expected = 0
        try:
            conn.sendall(b"K" + self.key)
            while True:
                header, blob = open_frame(self.key, TO_GRADER, expected, conn.recv)
                expected += 1
                kind = header.get("type")
                if kind == "armed":
                    self.armed.set()
                elif kind in {"event", "integrity"}:
                    if len(self.events) < 500:
                        self.events.append(header)
                else:
                    self._frames.put((header, blob))
        except ChannelError as e:
            self.problem = str(e)
        except (EOFError, OSError, struct.error):
            pass
        finally:
            self.closed.set()
            self._frames.put(None)

    def send(self, header: dict, blob: bytes = b"") -> None:
        if self._conn is None:
            raise ChannelError("no kernel is connected")
        with self._lock:
            self._conn.sendall(seal(self.key, TO_KERNEL, self._out, header, blob))
            self._out += 1

    def next(self, timeout: float):
        """The next frame (header, blob), or None when the channel closed or `timeout` passed."""
        import queue
        try:
            return self._frames.get(timeout=max(0.01, timeout))
        except queue.Empty:
            return None

    def close(self) -> None:
        import socket
        for s in (self._conn, self._listener):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
