"""The check vocabulary. Each kind is a module with two halves:

- `observe(ctx, params)` runs in the student's kernel (through the framework adapter,
  never importing torch or tensorflow itself) and returns plain data and arrays;
- `judge(params, got, want) -> Verdict` runs in the grader's process and compares the
  student's observation with the reference's.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass



@dataclass
class Verdict:
    fraction: float  # share of the check's points earned, 0..1
    message: str = ""


def get(kind: str):
    try:
        return importlib.import_module(f"grader.checks.{kind.replace('-', '_')}")
    except ModuleNotFoundError:
        raise KeyError(f"unknown check kind {kind!r}") from None


def example_inputs(ctx, specs) -> list:
    """The fixed, seeded inputs a check feeds a model (one per spec, each its own seed)."""
    return [ctx.fw.example_input(spec, ctx.seed + i) for i, spec in enumerate(specs)]


def fmt_shape(shape) -> str:
    if shape is None:
        return "nothing"
    if isinstance(shape, list) and shape and isinstance(shape[0], list):
        return ", ".join(fmt_shape(s) for s in shape)
    return "(" + ", ".join(str(s) for s in shape) + ")"


def close(a, b, rtol=1e-6, atol=1e-9) -> bool:
    """Numbers, sequences and dicts compared with a tolerance; other values by equality."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= atol + rtol * abs(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close(x, y, rtol, atol) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(map(str, a)) == set(map(str, b)) and all(
            close(a[k], b.get(k, b.get(str(k))), rtol, atol) for k in a)
    return a == b
