"""Runs inside the student's kernel: one probe at a time, observations to files.

Probes see the plan (which definitions, inputs, weights), never an expected value."""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import sys
import traceback
import types
from pathlib import Path

from . import observations


class MissingDefinition(Exception):
    pass


class Context:
    """What a check's observe() gets: the student's namespace, the reference's (for swaps),
    the framework adapter and the assignment's data and helpers."""

    def __init__(self, ns: dict, plan: dict, params: dict):
        self.ns, self.plan, self.params = ns, plan, params
        self.fw = importlib.import_module(f"grader.frameworks.{plan['framework']}")
        self.data_dir = Path(plan["data_dir"])
        self.seed = plan.get("seed", 0)
        self._reference = None
        self._helpers = None

    def get(self, name: str, reference: bool = False):
        space = self.reference if reference else self.ns
        if name not in space:
            raise MissingDefinition(f"`{name}` is not defined" + ("" if reference else " in the submission"))
        return space[name]

    def definition(self, name: str):
        """The student's definition unless this probe swaps it for the reference's."""
        return self.get(name, reference=name in self.params.get("reference", []))

    @property
    def reference(self) -> dict:
        if self._reference is None:
            self._reference = load_reference(self.plan["reference_path"])
        return self._reference

    @property
    def helpers(self):
        if self._helpers is None:
            path = Path(self.plan["helpers_path"])
            spec = importlib.util.spec_from_file_location("grader_assignment_probes", path)
            self._helpers = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(self._helpers)
        return self._helpers

    @contextlib.contextmanager
    def swapped(self, names):
        """Student code that calls one of `names` gets the reference's definition instead,
        so a bug elsewhere is not charged twice."""
        spaces = [self.ns]
        for name in names:
            obj = self.ns.get(name)
            mod = sys.modules.get(getattr(obj, "__module__", "") or "")
            if mod is not None and mod.__dict__ is not self.ns:
                spaces.append(mod.__dict__)
        saved = [(space, name, space.get(name, _ABSENT)) for space in spaces for name in names]
        try:
            for space, name, _ in saved:
                space[name] = self.get(name, reference=True)
            yield
        finally:
            for space, name, old in saved:
                if old is _ABSENT:
                    space.pop(name, None)
                else:
                    space[name] = old


_ABSENT = object()


def load_reference(path: str) -> dict:
    """Execute the reference's definition cells in a module of their own."""
    from grader import cells as cellplan
    from grader.submission import notebook_from_py
    import nbformat

    p = Path(path)
    nb = notebook_from_py(p.read_text()) if p.suffix == ".py" else nbformat.read(p, as_version=4)
    mod = types.ModuleType("grader_reference")
    mod.__file__ = str(p)
    sys.modules["grader_reference"] = mod
    sys.path.insert(0, str(p.parent))
    try:
        for cp in cellplan.plan(nb, "definitions"):
            if cp.source:
                from IPython.core.inputtransformer2 import TransformerManager
                exec(compile(TransformerManager().transform_cell(cp.source), str(p), "exec"), mod.__dict__)
    finally:
        sys.path.remove(str(p.parent))
    return mod.__dict__


def _describe(exc: BaseException) -> dict:
    tb = traceback.extract_tb(exc.__traceback__)
    where = ""
    for fr in reversed(tb):
        if "/grader/" not in fr.filename and "site-packages" not in fr.filename:
            where = f"line {fr.lineno} of {Path(fr.filename).name}" if fr.filename else ""
            break
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return {"type": type(exc).__name__, "message": msg[:300], "where": where}


def run(ns: dict, plan_path: str, key: str) -> None:
    plan = json.loads(Path(plan_path).read_text())
    probe = plan["probes"][key]
    out = Path(plan["out_dir"])
    from grader import checks

    module = checks.get(probe["kind"])
    ctx = Context(ns, plan, probe["params"])
    sink = io.StringIO()
    try:
        ctx.fw.seed(ctx.seed)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                ctx.swapped(probe["params"].get("swap", [])):  # student code sees the reference's
            obs = module.observe(ctx, probe["params"])
        observations.dump({"value": obs}, out, key)
    except BaseException as e:  # KeyboardInterrupt included: the probe's time ran out
        observations.dump({"error": _describe(e)}, out, key)
        if isinstance(e, KeyboardInterrupt):
            raise
