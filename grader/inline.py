"""Inline answers, grader side: the contract's functions that a notebook answers in the cells
marking an item instead of in a definition (the course's `### [C9: ...]` cells, a "Question 3
(c)" heading, a tag in our skeleton).

For each function the toml's `[inline.functions]` names, the item's cells are found
(grader/locate.py) and their code is sent to the kernel as one source, without what only
makes sense in the student's session (shell escapes and magics, a Drive mount, plots). The
kernel runs it as the function (grader/probe/lifted.py): free variables bound by role to the
function's arguments, training capped, what the cells leave picked by `returns`. Nothing here
is secret: it is the student's own code."""
from __future__ import annotations

import ast
import re

from . import cells as cellplan
from . import locate
from .config import Assignment

_DROP_CALLS = re.compile(r"^(show|imshow|plot|figure|savefig|display|title|suptitle|xlabel|ylabel|legend|bar|hist|"
                         r"axis|tight_layout|colorbar|grid|xticks|yticks|set_title|set_axis_off|subplot|clf|close|"
                         r"mount|download|summary|plot_model)$")
_COLAB = ("google.colab", "google")


def _drops(stmt: ast.stmt) -> bool:
    """A top-level statement that only makes sense in the student's session."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        mods = [stmt.module or ""] if isinstance(stmt, ast.ImportFrom) else [a.name for a in stmt.names]
        return any(m == c or m.startswith(c + ".") for m in mods for c in _COLAB)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        return cellplan._is_ipython_call(call) or bool(_DROP_CALLS.match(cellplan._callee(call)))
    if isinstance(stmt, (ast.Assign, ast.Expr)):
        value = stmt.value
        return isinstance(value, ast.Call) and cellplan._is_ipython_call(value)
    return False


def cell_code(source: str) -> str:
    """One code cell's source as the kernel runs it for an item: IPython syntax turned into
    Python, then the statements `_drops` names removed. A cell that does not parse is kept as
    it is (running it reports the student's error)."""
    lines = source.splitlines()
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split()[0] if len(first) > 2 else ""
        if magic not in cellplan._TRANSPARENT_CELL_MAGICS:
            return ""
        source = "\n".join(lines[1:])
    try:
        code = cellplan._transform(source)
        tree = cellplan.parse(code)
    except SyntaxError:
        return source
    code_lines = code.splitlines()
    kept = []
    for stmt in tree.body:
        if _drops(stmt):
            continue
        kept.append(cellplan.statement_source(code_lines, stmt))
    return "\n".join(kept)


def has_code(source: str) -> bool:
    """Whether the cells hold anything of the student's: a statement other than `pass`, `...`,
    a docstring or `raise NotImplementedError` (an unfilled skeleton's marked cell has none)."""
    try:
        tree = cellplan.parse(source)
    except SyntaxError:
        return bool(source.strip())
    for stmt in tree.body:
        if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            continue
        if isinstance(stmt, ast.Raise) and "NotImplementedError" in ast.unparse(stmt):
            continue
        return True
    return False


def item_cells(assignment: Assignment, nb, item_id: str) -> tuple[list[int], str]:
    """The code cells that answer an item (in notebook order) and the locator's doubt, if any."""
    if nb is None:
        return [], ""
    found = locate.item(nb, assignment.item(item_id))
    return [i for i in found.cells if nb.cells[i].get("cell_type") == "code"], found.note


def entries(assignment: Assignment, nb) -> dict[str, dict]:
    """name -> what the kernel needs to run an item's cells as that function, for every
    inline function whose item's cells are found and hold code."""
    out: dict[str, dict] = {}
    for name, f in assignment.inline.functions.items():
        cells, note = item_cells(assignment, nb, f.item)
        if not cells:
            continue
        source = "\n\n".join(c for c in (cell_code(nb.cells[i].source) for i in cells) if c.strip())
        if not has_code(source):
            continue
        out[name] = {"item": f.item, "cells": cells, "source": source, "params": list(f.params),
                     "returns": f.returns, "repeat": f.repeat, "note": note}
    return out


def plan(assignment: Assignment, nb, data_dir: str) -> dict:
    """The kernel plan's `inline` part: the functions above, the fixture paths the cells'
    paths map to (inside the sandbox), the derived classes."""
    root = data_dir.rstrip("/")
    return {"functions": entries(assignment, nb),
            "paths": {k: f"{root}/{v}" for k, v in assignment.inline.paths.items()} if root else {},
            "derived": {k: {**d.model_dump(), "values": flag_values(assignment, nb, k)}
                        for k, d in assignment.inline.derived.items()}}


def _trees(nb):
    """(cell index, parsed code) of every code cell that parses."""
    for i, c in enumerate(nb.cells if nb is not None else []):
        if c.get("cell_type") != "code":
            continue
        try:
            yield i, cellplan.parse(cellplan._transform(c.source))
        except (SyntaxError, ValueError):
            continue


_OTHER = re.compile(r"non_?causal|noncausal|leak|cheat|q2|question_?2|nc$", re.I)


def flag_values(assignment: Assignment, nb, name: str) -> dict:
    """How the notebook itself sets the flag of a derived class's base: the value it passes
    where it builds the other model (a variable named like `noncausal_model`, or a cell that
    answers the derived class's item) and the value it passes elsewhere. {} when it never
    passes the flag; the kernel then turns the base's default the other way."""
    d = assignment.inline.derived[name]
    item = next((c.item for c in assignment.checks if getattr(c.observe, "target", None) == name), "")
    other_cells = set(item_cells(assignment, nb, item)[0]) if item and nb is not None else set()
    seen: dict[str, set] = {"derived": set(), "base": set()}
    for i, tree in _trees(nb):
        targets = {id(n.value): " ".join(ast.unparse(t) for t in n.targets)
                   for n in ast.walk(tree) if isinstance(n, ast.Assign)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and cellplan._callee(node) == d.base):
                continue
            for k in node.keywords:
                if k.arg and re.search(d.flags, k.arg, re.I) and isinstance(k.value, ast.Constant) \
                        and isinstance(k.value.value, bool):
                    other = i in other_cells or bool(_OTHER.search(targets.get(id(node), "")))
                    seen["derived" if other else "base"].add((k.arg, k.value.value))
    out = {}
    for role in ("derived", "base"):
        if len(seen[role]) == 1:
            out[role] = dict(seen[role])
    return out


def derived(assignment: Assignment, nb) -> set[str]:
    """The derived classes a notebook answers by a flag of their base (its `__init__` has one
    boolean parameter named like the toml's `flags`; the kernel's grader/probe/lifted.derive)."""
    out: set[str] = set()
    if not assignment.inline.derived:
        return out
    for _, tree in _trees(nb):
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for name, d in assignment.inline.derived.items():
                init = next((b for b in node.body if isinstance(b, ast.FunctionDef) and b.name == "__init__"), None)
                if node.name != d.base or init is None:
                    continue
                a = init.args
                params = a.args[len(a.args) - len(a.defaults):] + a.kwonlyargs
                values = list(a.defaults) + list(a.kw_defaults)
                flags = [p.arg for p, v in zip(params, values) if isinstance(v, ast.Constant)
                         and isinstance(v.value, bool) and re.search(d.flags, p.arg, re.I)]
                if len(flags) == 1:
                    out.add(name)
    return out
