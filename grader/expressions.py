"""Arithmetic expression strings (answers such as "9*NIC*NF + 36*NF**2"), evaluated in the
grader's own process, so bounded: numbers, named variables, + - * / // % ** and parentheses,
nothing else; at most 1,000 characters and 400 syntax nodes (room for a count written out layer
by layer, "9*NIC*32*32*NF + 9*NF*16*16*2*NF + ..."); every intermediate value finite and
below 1e30 in size (a nested power is refused before it is computed, not after). NaN and
infinities are never equal to anything."""
from __future__ import annotations

import ast
import math
import operator
import random

MAX_LENGTH = 1000
MAX_NODES = 400
MAX_VALUE = 1e30
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow, ast.Mod: operator.mod}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def _bounded(v):
    if isinstance(v, complex) or not math.isfinite(v) or abs(v) > MAX_VALUE:
        raise ValueError("a value out of range")
    return v


def evaluate(expr: str, env: dict[str, float]) -> float:
    if not isinstance(expr, str) or len(expr) > MAX_LENGTH:
        raise ValueError(f"not an expression of at most {MAX_LENGTH} characters")
    from .cells import parse
    tree = parse(expr.replace("^", "**").replace("×", "*").replace("·", "*"), mode="eval")
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ValueError("expression too long")

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool):
            return _bounded(n.value)
        if isinstance(n, ast.Name) and n.id in env:
            return _bounded(env[n.id])
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            left, right = ev(n.left), ev(n.right)
            if isinstance(n.op, ast.Pow):
                if abs(right) > 16:
                    raise ValueError("exponent too large")
                if left and abs(right) * math.log10(abs(left)) > math.log10(MAX_VALUE):
                    raise ValueError("a power out of range")
            return _bounded(_OPS[type(n.op)](left, right))
        if isinstance(n, ast.UnaryOp) and type(n.op) in _UNARY:
            return _bounded(_UNARY[type(n.op)](ev(n.operand)))
        raise ValueError(f"not allowed in an answer expression: {ast.dump(n)[:60]}")

    return float(ev(tree))


def equivalent(a: str, b: str, variables: list[str], points: int = 6, seed: int = 0) -> bool:
    rng = random.Random(seed)
    for _ in range(points):
        env = {v: rng.randint(1, 64) for v in variables}
        try:
            x, y = evaluate(a, env), evaluate(b, env)
        except (ValueError, SyntaxError, ZeroDivisionError, TypeError, OverflowError, RecursionError):
            return False
        if not (math.isfinite(x) and math.isfinite(y)) or abs(x - y) > 1e-6 * max(1.0, abs(y)):
            return False
    return True
