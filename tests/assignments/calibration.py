"""Calibration of training criteria, in-process (no kernels): loads submissions (a .py, a
notebook, a folder or zip holding a package, or the reference with a mutant's edits) into
namespaces and runs an assignment's probes.py training helper on them through the real probe
Context (keyword construction with the contract's defaults), for several seeds and budgets.

Used by tests/assignments/<slug>/calibrate.py, which print the tables the assignment.toml's
comments quote. Not a test (slow)."""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import cases, mutate, variants
from inprocess import definitions

from grader import assignment, names
from grader.probe import workspace_modules
from grader.probe.context import Context
from grader.submission import find_entry

torch.set_num_threads(1)     # CPU seconds per run, comparable on a shared machine


def _package(path: Path, graded: list[str]) -> dict:
    """A folder or zip: its entry's folder on sys.path, its modules imported, graded names collected."""
    tmp = Path(tempfile.mkdtemp(prefix="calib"))
    if path.is_dir():
        shutil.copytree(path, tmp / "w")
    else:
        with zipfile.ZipFile(path) as zf:
            zf.extractall(tmp / "w")
    entry = find_entry(tmp / "w", ("*.ipynb", "*.py"))
    where = entry.parent
    for m in [m for m in sys.modules if m.split(".")[0] in {"mypkg", "models"}]:
        del sys.modules[m]
    sys.path.insert(0, str(where))
    ns: dict = {}
    try:
        for name in workspace_modules(tmp / "w", where):
            mod = __import__(name, fromlist=["_"])
            for n in graded:
                if n in vars(mod) and n not in ns:
                    ns[n] = vars(mod)[n]
    finally:
        sys.path.remove(str(where))
    return ns


def load(a, path: Path | None = None, text: str | None = None) -> dict:
    """The namespace a submission defines (definitions mode)."""
    if text is not None:
        return definitions(text, a.reference_path.suffix)
    if path.is_dir() or path.suffix == ".zip":
        return _package(path, list(a.names) + ["ANSWERS"])
    return definitions(path.read_text(), path.suffix)


def candidates(slug: str, extra: dict | None = None) -> dict[str, tuple[str, dict]]:
    """name -> (kind, namespace): the reference, its alternatives, the variants, the mutants."""
    a = _assignment(slug)
    text = a.reference_path.read_text()
    out = {"reference": ("reference", load(a, text=text))}
    spec = cases(slug)
    for group in ("alternatives", "mutants"):
        for name, m in spec.get(group, {}).items():
            t = text
            for old, new in m["edits"]:
                t = mutate(t, old, new)
            out[name] = ("variant" if group == "alternatives" else "mutant", load(a, text=t))
    for p in variants(slug):
        if p.suffix in {".py", ".ipynb", ".zip"} or p.is_dir():
            out[p.stem] = ("variant", load(a, p))
    for name, (kind, t) in (extra or {}).items():
        out[name] = (kind, load(a, text=t))
    return out


def run(slug: str, ns: dict, fn: str, args: dict, seed: int, data_dir: Path | None = None) -> tuple[dict, float]:
    """One call of the training helper as the probe makes it; -> (observation, seconds)."""
    from grader.checks import training
    a = _assignment(slug)
    plan = {"framework": a.framework, "data_dir": str(data_dir or a.directory / "data"),
            "contract": names.contract(a), "helpers_path": str(a.helpers_path)}
    o = training.Observe(fn=fn, args=args)
    ctx = Context(ns, plan, o, seed=seed)
    ctx.fw.seed(seed)
    t = time.process_time()
    value = ctx.helper(fn)(ctx, **args)
    return value, time.process_time() - t


_ASSIGNMENTS: dict = {}


def _assignment(slug: str):
    if slug not in _ASSIGNMENTS:
        _ASSIGNMENTS[slug] = assignment.get(slug)
    return _ASSIGNMENTS[slug]


def window(losses, frac=0.2):
    """The judge's smoothing (grader/checks/training.py): mean of the first and last fifths."""
    n = max(1, int(len(losses) * frac))
    return sum(losses[:n]) / n, sum(losses[-n:]) / n

