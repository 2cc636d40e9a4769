"""One grading fingerprint: everything that decides a grade. The expectations cache and
`grade --resume` both key on it, so a fix to a judge, a probe helper, the toml, the reference
or the fixtures regrades instead of keeping stale results."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from .config import Assignment

ENGINE = Path(__file__).resolve().parent
# engine files that decide what is executed, measured and judged (not the CLI, reports or exports)
SCORING = ("checks", "frameworks", "probe", "datasets", "graph.py", "judge.py", "expressions.py", "cells.py", "notebooks.py",
           "submission.py", "config.py", "run", "names.py", "scan.py")


@functools.lru_cache(maxsize=256)
def _file_digest(path: str, size: int, mtime_ns: int) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix not in {".pyc"})


def _update(h, base: Path, paths: list[Path]) -> None:
    for p in paths:
        st = p.stat()
        h.update(str(p.relative_to(base) if p != base else p.name).encode())
        h.update(_file_digest(str(p), st.st_size, st.st_mtime_ns))


def engine() -> str:
    h = hashlib.sha256()
    for part in SCORING:
        _update(h, ENGINE, _files(ENGINE / part))
    return h.hexdigest()


def package() -> str:
    """The grader package's Python files (what its wheel holds): a release bundle records it, so
    that a student's grader that is not the bundle's (the same version, other code) is told apart."""
    h = hashlib.sha256()
    _update(h, ENGINE, [p for p in _files(ENGINE) if p.suffix == ".py"])
    return h.hexdigest()[:16]


def of(assignment: Assignment, device: str) -> str:
    """The assignment's toml, probe helpers, data and reference, the scoring engine, the device."""
    h = hashlib.sha256(engine().encode())
    d = assignment.directory
    # everything in the assignment's folder but the example submissions and the skeleton
    skip = {d / "examples", assignment.skeleton_path}
    _update(h, d, [p for p in _files(d) if not any(p == s or s in p.parents for s in skip)])
    if assignment.reference_dir is not None:
        _update(h, assignment.reference_dir, _files(assignment.reference_dir))
    h.update(device.encode())
    return h.hexdigest()[:24]
