"""The graded names: what the contract fixes of each (kind, base classes, parameters and their
defaults, read from the reference's source and the toml's [signatures]), and what a
submission's source does with them (definitions given twice; related code where a name is
missing). The kernel uses the contract to resolve a missing name (an alias, or a unique
candidate with the same base class and a compatible signature) and to call definitions by
keyword with the contract's defaults; nothing here is secret (the contract is public)."""
from __future__ import annotations

import ast
import difflib
import json
import re

from .config import Assignment

CONTRACT = "contract.json"      # in a student bundle's assignment folder


def _literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


def _params(fn: ast.FunctionDef, skip_self: bool) -> tuple[list[str], dict]:
    a = fn.args
    names = [p.arg for p in a.posonlyargs + a.args]
    defaults = dict(zip(names[len(names) - len(a.defaults):], (_literal(d) for d in a.defaults)))
    names += [p.arg for p in a.kwonlyargs]
    defaults.update({p.arg: _literal(d) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None})
    if skip_self and names:
        names = names[1:]
    return names, {k: v for k, v in defaults.items() if v is not None or k in names}


def reference_code(assignment: Assignment) -> str:
    """The reference's code cells, joined."""
    if assignment.reference_path is None:
        return ""
    import nbformat

    from .notebooks import notebook_from_py
    p = assignment.reference_path
    nb = notebook_from_py(p.read_text()) if p.suffix == ".py" else nbformat.read(p, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def contract(assignment: Assignment, source: str | None = None) -> dict[str, dict]:
    """name -> {"kind": "class"|"function", "bases": [dotted names], "params": [...],
    "defaults": {...}} for every graded name the reference defines. A student bundle has no
    reference: `grader release` stores its contract there (CONTRACT; the skeleton's signatures
    are the same), so that `check` resolves names and calls definitions as `grade` does."""
    from .cells import parse
    if source is None and assignment.reference_path is None and (assignment.directory / CONTRACT).is_file():
        return json.loads((assignment.directory / CONTRACT).read_text())
    text = reference_code(assignment) if source is None else source
    out: dict[str, dict] = {}
    try:
        tree = parse(text)
    except SyntaxError:
        tree = ast.Module(body=[], type_ignores=[])
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in assignment.names:
            init = next((b for b in node.body if isinstance(b, ast.FunctionDef) and b.name == "__init__"), None)
            params, defaults = _params(init, True) if init else ([], {})
            out[node.name] = {"kind": "class", "bases": [ast.unparse(b) for b in node.bases],
                              "params": params, "defaults": defaults}
        elif isinstance(node, ast.FunctionDef) and node.name in assignment.names:
            params, defaults = _params(node, False)
            out[node.name] = {"kind": "function", "bases": [], "params": params, "defaults": defaults}
    for name, f in assignment.inline.functions.items():      # answered by cells, or by a function
        if name in assignment.names:
            out.setdefault(name, {"kind": "function", "bases": [], "params": list(f.params), "defaults": {}})
    for name, extra in assignment.signatures.items():
        out.setdefault(name, {"kind": "class", "bases": [], "params": list(extra), "defaults": {}})
        out[name]["defaults"] = {**out[name]["defaults"], **extra}
    return out


def contract_names(assignment: Assignment) -> list[str]:
    return [n for n in assignment.names if n != "ANSWERS"]


# ---- what the submission's source does with the graded names ---------------------------------

_DEF = re.compile(r"^\s*(class|def)\s+(\w+)", re.M)


def definitions(notebook) -> dict[str, list[int]]:
    """name -> the cells that define it at top level (class, def, or assignment)."""
    found: dict[str, list[int]] = {}
    if notebook is None:
        return found
    for i, c in enumerate(notebook.cells):
        if c.get("cell_type") != "code":
            continue
        try:
            from .cells import _transform, parse
            tree = parse(_transform(c.source))
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            names = []
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            for n in names:
                found.setdefault(n, []).append(i)
    return found


def redefined(notebook, graded: list[str]) -> dict[str, list[int]]:
    """Graded names defined more than once: the last definition is what the probes see."""
    return {n: cells for n, cells in definitions(notebook).items() if n in graded and len(cells) > 1}


def related(notebook, sources: dict[str, str], missing: list[str]) -> dict[str, list[str]]:
    """For each missing graded name, definitions in the submission with a similar name."""
    defined = set(definitions(notebook))
    for text in sources.values():
        defined |= {m.group(2) for m in _DEF.finditer(text)}
    out = {}
    for name in missing:
        close = difflib.get_close_matches(name, sorted(defined), n=3, cutoff=0.6)
        close += [d for d in sorted(defined) if d not in close and (name.lower() in d.lower() or d.lower() in name.lower())]
        if close:
            out[name] = close[:3]
    return out
