"""Runs inside the student's kernel: one probe at a time, observations to files.

Probes see the plan (which definitions, inputs, weights), never an expected value."""
from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback
import types
from pathlib import Path

from . import observations
from .context import Context, MissingDefinition


def load_reference(path: str) -> dict:
    """Execute the reference's definition cells in a module of their own."""
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    from grader import cells as cellplan
    from grader.submission import notebook_from_py

    p = Path(path)
    nb = notebook_from_py(p.read_text()) if p.suffix == ".py" else nbformat.read(p, as_version=4)
    mod = types.ModuleType("grader_reference")
    mod.__file__ = str(p)
    sys.modules["grader_reference"] = mod
    sys.path.insert(0, str(p.parent))
    try:
        for cp in cellplan.plan(nb, "definitions"):
            if cp.source:
                exec(compile(TransformerManager().transform_cell(cp.source), str(p), "exec"), mod.__dict__)
    finally:
        sys.path.remove(str(p.parent))
    return mod.__dict__


def describe(exc: BaseException) -> dict:
    """An exception as one line a student can act on: type, first line, where in their code."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = ""
    for fr in reversed(tb):
        if "/grader/" not in fr.filename and "site-packages" not in fr.filename:
            where = f"line {fr.lineno} of {Path(fr.filename).name}" if fr.filename else ""
            break
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = "MissingDefinition" if isinstance(exc, MissingDefinition) else type(exc).__name__
    return {"type": kind, "message": msg[:300], "where": where}


_REFERENCE: dict = {}


def run_probe(ns: dict, plan: dict, key: str) -> dict:
    """One probe: {"value", "stood_in"} or {"error"}. With `fallback`, a probe that fails on
    the student's own definitions is run again with each named one replaced by the
    reference's, in turn; the first run that succeeds is kept."""
    from grader import checks

    probe = plan["probes"][key]
    module = checks.get(probe["kind"])
    o = module.Observe.model_validate(probe["observe"])

    def reference():
        if "ns" not in _REFERENCE:
            _REFERENCE["ns"] = load_reference(plan["reference_path"])
        return _REFERENCE["ns"]

    attempts = [[]] + [[n] for n in o.fallback]
    error: BaseException | None = None
    for names in attempts:
        ctx = Context(ns, plan, o, reference, plan.get("seed", 0))
        sink = io.StringIO()
        try:
            ctx.fw.seed(ctx.seed)
            replacing = {n: ctx.ref(n) for n in (*o.stand_in, *names)}
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), ctx.standing_in(replacing):
                ctx.stood_in = list(names)
                value = module.observe(ctx, o)
            return {"value": value, "stood_in": list(names)}
        except KeyboardInterrupt:  # the probe's time ran out
            raise
        except Exception as e:  # noqa: BLE001 - the student's code may raise anything
            error = e
    return {"error": describe(error)}


def run(ns: dict, plan_path: str, key: str) -> None:
    plan = json.loads(Path(plan_path).read_text())
    out = Path(plan["out_dir"])
    try:
        doc = run_probe(ns, plan, key)
    except KeyboardInterrupt as e:
        observations.dump({"error": describe(e)}, out, key)
        raise
    observations.dump(doc, out, key)
