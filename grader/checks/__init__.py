"""The check vocabulary. Each kind is a module `grader/checks/<kind>.py` with:

- `Observe` / `Judge`: the kind's parameters, typed (grader.config splits a check's toml keys
  between them; only `Observe` travels to the kernel);
- `observe(ctx, o)`: runs in the student's kernel (through the framework adapter, never
  importing torch or tensorflow itself) and returns plain data and arrays: measurements,
  never a verdict;
- `judge(o, j, got, want) -> Verdict`: runs in the grader's process and compares the
  student's observation (untrusted) with the reference's. It raises `Malformed` when the
  observation is not what the probe produces (a zero for the student); any other exception
  is the grader's or the author's fault and is reported as such.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass

KINDS = ("shape", "params", "structure", "answer", "training", "equivalence", "causality", "distribution",
         "weights-improve", "statistic", "matches", "formula")


@dataclass
class Verdict:
    fraction: float  # share of the check's points earned, 0..1
    message: str = ""


class Malformed(ValueError):
    """The observation is not of the form the probe produces (forged, truncated, wrong type)."""


def get(kind: str):
    if kind not in KINDS:
        raise KeyError(f"unknown check kind {kind!r}")
    return importlib.import_module(f"grader.checks.{kind.replace('-', '_')}")


def default_visibility(module, observe) -> str:
    """public unless the stored observation would give an answer away (the kind says so) or
    the probe needs reference pieces in the kernel (stand-ins, fallbacks, reference files)."""
    if observe.stand_in or observe.fallback or observe.files or observe.reference:
        return "hidden"
    return getattr(module, "VISIBILITY", "public")


def example_inputs(ctx, specs) -> list:
    """The fixed, seeded inputs a check feeds a model (one per spec, each its own seed)."""
    return [ctx.fw.example_input(spec, ctx.seed + i) for i, spec in enumerate(specs)]


def fmt_shape(shape) -> str:
    if shape is None:
        return "nothing"
    if isinstance(shape, list) and shape and isinstance(shape[0], list):
        return ", ".join(fmt_shape(s) for s in shape)
    return "(" + ", ".join(str(s) for s in shape) + ")"


def number(v) -> bool:
    """A real, finite number (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def close(a, b, rtol=1e-6, atol=1e-9) -> bool:
    """Numbers, sequences and dicts compared with a tolerance; integers exactly (a parameter
    count off by two is wrong); NaN and infinities never match; other values by equality."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return number(a) and number(b) and abs(a - b) <= atol + rtol * abs(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close(x, y, rtol, atol) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(map(str, a)) == set(map(str, b)) and all(
            close(a[k], b.get(k, b.get(str(k))), rtol, atol) for k in a)
    return a == b
