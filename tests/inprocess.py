"""Probes run in the test's own process, as the armed library runs them in a kernel (no
sandbox, no channel): a submission's definitions loaded into a namespace, a probe's questions
answered by the grader's own Answers (reference pieces on demand, the reference's weights
from its recorded run). For tests and calibration that compare one part in isolation."""
from __future__ import annotations

import types

from grader import names
from grader.probe import Answers
from grader.probe.runner import run_probe


def definitions(text: str, suffix: str) -> dict:
    """The definition cells of a .py (percent format) or .ipynb text, executed into a
    namespace of their own (what a kernel holds after definitions mode)."""
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    from grader import cells as cellplan
    from grader.notebooks import notebook_from_py

    nb = notebook_from_py(text) if suffix == ".py" else nbformat.reads(text, as_version=4)
    mod = types.ModuleType("submission")
    for cp in cellplan.plan(nb, "definitions"):
        if cp.source:
            exec(compile(TransformerManager().transform_cell(cp.source), "submission" + suffix, "exec"), mod.__dict__)
    return mod.__dict__


def observe(a, kind: str, o, ns: dict, expected: dict | None = None, seed: int = 0, key: str = "p",
            framework: str | None = None) -> dict:
    """One probe of kind `kind` with parameters `o` on the namespace `ns`: the runner's document
    ({"value", "stood_in", "recorded", ...} or {"error"}). `expected`: the reference's run of
    the same probe as `observe` returned it (None: this is the reference's run). `a`: the
    assignment (its reference answers piece questions), or None for a bare probe of `framework`."""
    plan = {"framework": a.framework if a is not None else framework,
            "data_dir": str(a.directory / "data") if a is not None else ".",
            "helpers_path": str(a.helpers_path) if a is not None and a.helpers_path else "", "seed": seed,
            "timeout_s": 60, "names": sorted({*a.names, "ANSWERS"}) if a is not None else [],
            "contract": names.contract(a) if a is not None else {}, "aliases": {},
            "probes": {key: {"kind": kind, "observe": o.model_dump(mode="json"), "seed": seed}}}
    want = None
    if expected is not None:
        want = {key: expected.get("value"), f"{key}@recorded": expected.get("recorded") or {}}
    answers = Answers(a, want, {key: {"observe": o}})

    def ask(what, header, blob=b""):
        return answers.answer(key, {**header, "what": what}, blob)

    return run_probe(ns, ns, plan, key, ask)


def pair(kind: str, o, student: dict, reference: dict, framework: str = "torch", a=None) -> tuple:
    """(the student's value, the reference's value) of one probe, the reference's run first
    (its weights recorded, as the expectations keep them), then the student's."""
    want = observe(a, kind, o, dict(reference), framework=framework)
    got = observe(a, kind, o, dict(student), expected=want, framework=framework)
    assert "value" in want, want.get("error")
    return got.get("value", got), want["value"]
