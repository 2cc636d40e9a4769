"""`answer`: a value from the submission's ANSWERS dict, against the reference's."""
from __future__ import annotations

from . import Verdict, close
from ..expressions import equivalent


def observe(ctx, p):
    answers = ctx.get("ANSWERS")
    if not isinstance(answers, dict):
        raise TypeError("ANSWERS is not a dict")
    key = p["key"]
    if key not in answers and str(key) not in answers:
        raise KeyError(f"ANSWERS has no entry {key!r}")
    return ctx.fw.plain(answers.get(key, answers.get(str(key))))


def judge(p, got, want) -> Verdict:
    if got is None:
        return Verdict(0.0, "no answer given (None)")
    if p.get("compare") == "expression":
        return _expressions(p, got, want)
    ok = close(got, want, p.get("rtol", 1e-6))  # tuples arrive as lists on both sides
    return Verdict(1.0 if ok else 0.0, "" if ok else f"got {got!r}")


def _expressions(p, got, want) -> Verdict:
    """Dicts of expression strings: each key compared by evaluation at several points."""
    if not isinstance(got, dict):
        return Verdict(0.0, f"expected a dict of expressions, got {type(got).__name__}")
    variables = p.get("variables", [])
    alternatives = p.get("alternatives", {})
    keys = list(want)
    wrong = []
    for k in keys:
        accepted = [want[k], *alternatives.get(k, [])]
        g = got.get(k)
        if not isinstance(g, str) or not any(equivalent(g, w, variables) for w in accepted):
            wrong.append(f"{k}: {g!r} does not evaluate to the expected count")
    return Verdict((len(keys) - len(wrong)) / len(keys), "; ".join(wrong))
