"""Observations cross the sandbox boundary as JSON plus an .npz of arrays (no pickle), in a
channel frame (see channel.py); the expectations cache stores them the same way on disk.
The decoder checks size and type; nothing else from the sandbox is believed."""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np

MAX_BYTES = 64 * 1024 * 1024


def _encode(value, arrays: dict):
    if isinstance(value, dict):
        return {str(k): _encode(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"__ndarray__": key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return {"__repr__": repr(value)[:200], "__type__": type(value).__name__}


def _decode(value, arrays):
    if isinstance(value, dict):
        if set(value) == {"__ndarray__"}:
            return arrays[value["__ndarray__"]]
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def encode(value) -> tuple[object, bytes]:
    """(JSON-able document, npz bytes of its arrays)."""
    arrays: dict = {}
    doc = _encode(value, arrays)
    if not arrays:
        return doc, b""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return doc, buf.getvalue()


def decode(doc, blob: bytes):
    """The inverse of encode, for untrusted input: no pickle, a size cap, object arrays refused."""
    if len(blob) > MAX_BYTES:
        raise ValueError(f"observation too large ({len(blob)} bytes)")
    arrays = {}
    if blob:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    try:
        return _decode(doc, arrays)
    except KeyError as e:
        raise ValueError(f"observation refers to a missing array {e}") from None


def dump(obs, directory: Path, key: str) -> None:
    arrays: dict = {}
    doc = _encode(obs, arrays)
    if arrays:
        np.savez(directory / f"{key}.npz", **arrays)
    (directory / f"{key}.json").write_text(json.dumps(doc))


def load(directory: Path, key: str):
    """Returns the observation; raises ValueError when it is missing, too big or malformed.
    Only plain files are read (a symlink is refused)."""
    path = directory / f"{key}.json"
    if path.is_symlink() or (directory / f"{key}.npz").is_symlink():
        raise ValueError("the observation is a link")
    if not path.is_file():
        raise ValueError("no observation was written")
    npz = directory / f"{key}.npz"
    size = path.stat().st_size + (npz.stat().st_size if npz.is_file() else 0)
    if size > MAX_BYTES:
        raise ValueError(f"observation too large ({size} bytes)")
    doc = json.loads(path.read_text())
    arrays = {}
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    try:
        return _decode(doc, arrays)
    except KeyError as e:
        raise ValueError(f"observation refers to a missing array {e}") from None
