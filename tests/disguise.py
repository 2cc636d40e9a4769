"""Disguised copies of a submission, as a student hides copying: locals, arguments, attributes
and helper functions renamed (the graded names kept, or the copy would lose its marks),
definitions and methods reordered, comments and docstrings stripped and others added, cells
merged or split, indentation changed. Written on purpose without grader/instructor's code:
a test must not share the idea of "a name the student chose" with what it tests."""
from __future__ import annotations

import ast
import builtins
import keyword
import random
from pathlib import Path
from typing import Callable

import nbformat

from grader.notebooks import notebook_from_py

_RESERVED = set(dir(builtins)) | set(keyword.kwlist) | {"self", "cls"}


def cells_of(path: Path) -> list[str]:
    """A .py (one cell per `# %%`) or .ipynb's code cells."""
    nb = notebook_from_py(path.read_text()) if path.suffix == ".py" else nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def _parse(cell: str) -> ast.Module | None:
    try:
        return ast.parse(cell)
    except SyntaxError:
        return None                     # magics: the copy keeps the cell as it is


def _survey(trees: list[ast.Module], keep: set[str]) -> tuple[set[str], set[str], set[str], set[str]]:
    """(names, attributes) the student chose: arguments, locals and module-level variables,
    helper functions and classes, and attributes set on self; then every name in use and the
    functions and classes defined (one walk: the property test calls this often)."""
    imported, names, attrs, used, defined, methods = set(), set(), set(), set(), set(), set()
    for t in trees:
        for n in ast.walk(t):
            if isinstance(n, ast.Name):
                used.add(n.id)
                if isinstance(n.ctx, ast.Store):
                    names.add(n.id)
            elif isinstance(n, ast.arg):
                names.add(n.arg)
            elif isinstance(n, (ast.FunctionDef, ast.ClassDef)):
                defined.add(n.name)
                if not n.name.startswith("__"):
                    names.add(n.name)
                if isinstance(n, ast.ClassDef):
                    methods |= {m.name for m in n.body if isinstance(m, ast.FunctionDef)}
            elif (isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name)
                  and n.value.id == "self"):
                attrs.add(n.attr)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                imported |= {(a.asname or a.name).split(".")[0] for a in n.names}
    # inherited hooks (forward, call, build, training_step) keep their names, as graded names do
    names -= keep | imported | _RESERVED | methods | {n for n in names if n.isupper() or n.startswith("__")}
    attrs -= keep | _RESERVED | methods
    return names, attrs, used, defined


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str], attrs: dict[str, str], callables: set[str]):
        self.names, self.attrs, self.callables = names, attrs, callables

    def visit_Name(self, node):
        node.id = self.names.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.names.get(node.arg, node.arg)
        return node

    def visit_FunctionDef(self, node):
        node.name = self.names.get(node.name, node.name)
        return self.generic_visit(node)

    visit_ClassDef = visit_FunctionDef

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name) and node.value.id == "self":
            node.attr = self.attrs.get(node.attr, node.attr)
        return self.generic_visit(node)

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id in self.callables:   # the student's own function
            for kw in node.keywords:
                kw.arg = self.names.get(kw.arg, kw.arg)
        return self.generic_visit(node)


def _no_docstrings(tree: ast.AST) -> None:
    for n in ast.walk(tree):
        body = getattr(n, "body", None)
        if isinstance(body, list):
            kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                            and isinstance(s.value.value, str))]
            n.body = kept or [ast.Pass()]


def _shuffle_defs(body: list[ast.stmt], shuffle: Callable[[list], list]) -> list[ast.stmt]:
    """The definitions among `body` in another order, the other statements where they were."""
    slots = [i for i, s in enumerate(body) if isinstance(s, (ast.FunctionDef, ast.ClassDef))]
    moved = shuffle([body[i] for i in slots])
    out = list(body)
    for i, s in zip(slots, moved):
        out[i] = s
    for s in out:
        if isinstance(s, ast.ClassDef):
            s.body = _shuffle_defs(s.body, shuffle)
    return out


def disguise(cells: list[str], namer: Callable[[str], str], shuffle: Callable[[list], list], *, keep=(),
             cells_as: str = "split", comments: bool = True, indent: int = 2) -> list[str]:
    """A disguised copy of `cells`. namer(old) proposes a new name (made unique here); shuffle
    returns a permutation of a list; cells_as "split" (a cell per top-level statement),
    "merge" (one cell) or "keep"; comments: add comments and docstrings of its own."""
    trees = [_parse(c) for c in cells]
    parsed = [t for t in trees if t is not None]
    names, attrs, used, callables = _survey(parsed, set(keep))
    taken = used | _RESERVED | set(keep)
    fresh: dict[str, str] = {}
    for old in sorted(names | attrs):
        new = namer(old)
        while not new.isidentifier() or new in taken or keyword.iskeyword(new):
            new += "_"
        taken.add(new)
        fresh[old] = new
    out: list[list[str]] = []           # per original cell, its statements
    for cell, tree in zip(cells, trees):
        if tree is None:
            out.append([cell])
            continue
        _no_docstrings(tree)
        tree = _Rename({k: fresh[k] for k in names}, {k: fresh[k] for k in attrs}, callables).visit(tree)
        tree.body = _shuffle_defs(tree.body, shuffle)
        out.append([_reindent(_commented(ast.unparse(s)) if comments else ast.unparse(s), indent)
                    for s in tree.body])      # ast.unparse: comments and layout gone
    if cells_as == "merge":
        return ["\n\n".join(s for group in out for s in group)]
    if cells_as == "keep":
        return ["\n\n".join(group) for group in out if group]
    return [s for group in out for s in group]


def _commented(text: str) -> str:
    """A comment before each definition and a docstring inside it, as a student pads a copy."""
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip()
        pad = line[:len(line) - len(stripped)]
        if stripped.startswith(("def ", "class ")):
            lines += [f"{pad}# my own version of this part", line, f'{pad}    """Written for this assignment."""']
        else:
            lines.append(line)
    return "\n".join(lines)


def _reindent(text: str, width: int) -> str:
    out = []
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        out.append(" " * ((len(line) - len(stripped)) // 4 * width) + stripped)
    new = "\n".join(out)
    try:
        ast.parse(new)
        return new
    except SyntaxError:          # a multi-line string the indentation was part of
        return text


def seeded(seed: int) -> tuple[Callable[[str], str], Callable[[list], list]]:
    """namer and shuffle from a seed."""
    rng = random.Random(seed)
    words = ["tmp", "val", "res", "layer", "blk", "net", "foo", "item", "data", "thing", "buf", "q", "z"]
    return (lambda old: f"{rng.choice(words)}{rng.randrange(100)}",
            lambda xs: rng.sample(xs, len(xs)))


def write(cells: list[str], path: Path) -> Path:
    """As a notebook (.ipynb) or a Jupytext percent script (.py), by `path`'s suffix."""
    if path.suffix == ".ipynb":
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        nbformat.write(nb, path)
    else:
        path.write_text("".join(f"# %%\n{c}\n\n" for c in cells))
    return path
