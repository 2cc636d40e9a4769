"""`values`: named values computed by an assignment helper in the kernel
(`helpers.<fn>(ctx, **args)` returns a dict), each compared with the reference's:
numbers within `rtol`/`atol`, other values (lists of names, flags) by equality."""
from __future__ import annotations

from . import Verdict, close


def observe(ctx, p):
    return getattr(ctx.helpers, p["fn"])(ctx, **p.get("args", {}))


def judge(p, got, want) -> Verdict:
    if not isinstance(got, dict):
        return Verdict(0.0, "no values")
    keys = p.get("keys", sorted(want))
    labels = p.get("labels", {})
    wrong = [f"{labels.get(k, k)}: expected {want[k]!r}, got {got.get(k)!r}" for k in keys
             if not close(got.get(k), want[k], p.get("rtol", 1e-4), p.get("atol", 1e-5))]
    return Verdict((len(keys) - len(wrong)) / len(keys) if keys else 0.0, "; ".join(wrong))
