"""`answer`: a value from the submission's ANSWERS dict, against the reference's.
Hidden by default: the reference's observation *is* the answer."""
from __future__ import annotations

from ..config import JudgeBase, ObserveBase
from ..expressions import equivalent
from . import Malformed, Verdict, close

KIND = "answer"
VISIBILITY = "hidden"


class Observe(ObserveBase):
    key: str


class Judge(JudgeBase):
    compare: str = "value"                          # or "expression": dicts of expression strings
    variables: list[str] = []                       # the expressions' variables
    alternatives: dict[str, list[str]] = {}         # further accepted expressions per key
    rtol: float = 1e-6                              # floats only: integers are compared exactly


def observe(ctx, o: Observe):
    from ..frameworks import NotPlain
    answers = ctx.get("ANSWERS")
    if type(answers) is not dict:
        if isinstance(answers, dict):
            raise NotPlain(f"ANSWERS is a {type(answers).__name__}, not a plain dict")
        raise TypeError("ANSWERS is not a dict")
    if o.key not in answers:
        raise KeyError(f"ANSWERS has no entry {o.key!r}")
    return ctx.fw.plain(dict.__getitem__(answers, o.key))


def judge(o: Observe, j: Judge, got, want) -> Verdict:
    if got is None:
        return Verdict(0.0, "no answer given (None)")
    if j.compare == "expression":
        return _expressions(j, got, want)
    ok = close(got, want, j.rtol)  # tuples arrive as lists on both sides
    return Verdict(1.0 if ok else 0.0, "" if ok else f"got {str(got)[:80]}")


def _expressions(j: Judge, got, want) -> Verdict:
    """Dicts of expression strings: each key compared by evaluation at several points."""
    if not isinstance(got, dict):
        raise Malformed(f"expected a dict of expressions, got {type(got).__name__}")
    wrong = []
    for k in want:
        accepted = [want[k], *j.alternatives.get(k, [])]
        g = got.get(k)
        if not isinstance(g, str) or not any(equivalent(g, w, j.variables) for w in accepted):
            wrong.append(f"{k}: {str(g)[:60]!r} does not evaluate to the expected count")
    return Verdict((len(want) - len(wrong)) / len(want), "; ".join(wrong))
