"""Arithmetic expression strings (answers such as "9*NIC*NF + 36*NF**2"), evaluated
safely: numbers, named variables, + - * / // ** and parentheses, nothing else."""
from __future__ import annotations

import ast
import operator
import random

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow, ast.Mod: operator.mod}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def evaluate(expr: str, env: dict[str, float]) -> float:
    tree = ast.parse(expr.replace("^", "**").replace("×", "*").replace("·", "*"), mode="eval")

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool):
            return n.value
        if isinstance(n, ast.Name) and n.id in env:
            return env[n.id]
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            left, right = ev(n.left), ev(n.right)
            if isinstance(n.op, ast.Pow) and abs(right) > 16:
                raise ValueError("exponent too large")
            return _OPS[type(n.op)](left, right)
        if isinstance(n, ast.UnaryOp) and type(n.op) in _UNARY:
            return _UNARY[type(n.op)](ev(n.operand))
        raise ValueError(f"not allowed in an answer expression: {ast.dump(n)[:60]}")

    return float(ev(tree))


def equivalent(a: str, b: str, variables: list[str], points: int = 6, seed: int = 0) -> bool:
    rng = random.Random(seed)
    for _ in range(points):
        env = {v: rng.randint(1, 64) for v in variables}
        try:
            x, y = evaluate(a, env), evaluate(b, env)
        except (ValueError, SyntaxError, ZeroDivisionError, TypeError, OverflowError):
            return False
        if abs(x - y) > 1e-6 * max(1.0, abs(y)):
            return False
    return True
