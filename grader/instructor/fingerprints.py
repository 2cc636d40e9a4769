"""Code to fingerprints, robust to disguise: Python's own parser normalises, winnowing selects.

A submission's sources (code cells, .py files) are parsed with `ast`, and each definition is
written out as a stream of tokens in which what a student may rename without changing the
program (locals, arguments, their own functions, classes and attributes) is one token `V`,
import aliases are the imported object's own name (`F` for torch.nn.functional becomes
`functional`), strings are `S`, and comments, docstrings, type hints, `pass` and layout are
gone. Library names (`Conv2d`, `.view`, `padding=`) are kept: they are what a program does.

The streams are cut into units (each function or method; a class's own statements; each run
of other top-level statements, across cells and files), so that reordering definitions,
merging or splitting cells moves whole units and changes no k-gram. k-grams of a unit are
hashed with a stable 64-bit hash (the same fingerprints in every run, unlike Python's salted
`hash()`), and winnowing (Schleimer, Wilkerson & Aiken 2003, as MOSS does) keeps the rightmost
smallest hash of every window of `w`: any shared run of at least k + w - 1 tokens is found.

Not copydetect: its Pygments filter turns every name, library ones included, into `V`
(`nn.Conv2d(3, 64)` and `F.relu(x)` look alike, and all deep-learning code resembles all other),
its k-grams are characters, its hash is Python's salted `hash()` (other fingerprints each run)
and its wheel's winnowing is a pure-Python loop; what would be left to take is ten lines.
"""
from __future__ import annotations

import ast
import builtins
import hashlib
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

K = 12          # tokens per k-gram: shorter matches are noise (a line is 8-15 tokens)
W = 8           # winnowing window: every shared run of K + W - 1 tokens is found
MASKED = np.uint64(2**64 - 1)   # a hash that does not count (skeleton, common): never selected
_BUILTINS = set(dir(builtins))


@dataclass
class Source:
    label: str          # "models.py", "asgn6.ipynb [3]" (a notebook's cell, 1-based)
    text: str


@dataclass
class Code:
    """One submission's code as normalised tokens: `tokens[i]` came from line `lines[i]` of
    `sources[where[i]]`; `units` are (start, end) token spans no k-gram crosses."""
    name: str
    sources: list[Source] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    where: list[int] = field(default_factory=list)
    units: list[tuple[int, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # what could not be read (for the report)
    unreadable: bool = False


def _parse(text: str) -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError:
        from ..cells import _transform  # notebook magics and shell escapes as IPython runs them
        return ast.parse(_transform(text))


class _Names(ast.NodeVisitor):
    """What the submission itself binds (renameable) and its import aliases."""

    def __init__(self):
        self.names: set[str] = set()
        self.attrs: set[str] = set()
        self.aliases: dict[str, str] = {}

    def visit_Name(self, node):
        if not isinstance(node.ctx, ast.Load):
            self.names.add(node.id)

    def visit_Attribute(self, node):
        if not isinstance(node.ctx, ast.Load):
            self.attrs.add(node.attr)
        self.generic_visit(node)

    def visit_arg(self, node):
        self.names.add(node.arg)

    def _define(self, node):
        self.names.add(node.name)
        self.attrs.add(node.name)       # methods and a module's definitions are reached as attributes
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = _define

    def visit_ClassDef(self, node):
        for stmt in node.body:          # class attributes are reached as attributes
            for t in getattr(stmt, "targets", [getattr(stmt, "target", None)]):
                if isinstance(t, ast.Name):
                    self.attrs.add(t.id)
        self._define(node)

    def visit_ExceptHandler(self, node):
        if node.name:
            self.names.add(node.name)
        self.generic_visit(node)

    def visit_Import(self, node):
        for a in node.names:
            if a.asname:
                self.aliases[a.asname] = a.name.rsplit(".", 1)[-1]

    visit_ImportFrom = visit_Import


class _Writer:
    """Emits one definition's tokens, pre-order, with the line each came from."""

    def __init__(self, names: _Names, code: Code, source: int):
        self.n, self.code, self.source = names, code, source

    def tok(self, t: str, line: int) -> None:
        self.code.tokens.append(t)
        self.code.lines.append(line)
        self.code.where.append(self.source)

    def name(self, ident: str, line: int, attr: bool = False) -> None:
        bound = self.n.attrs if attr else self.n.names
        if ident in bound and ident not in self.n.aliases:
            self.tok("V", line)
        else:
            self.tok(("." if attr else "") + self.n.aliases.get(ident, ident), line)

    def user_callee(self, f: ast.expr) -> bool:
        return ((isinstance(f, ast.Name) and f.id in self.n.names and f.id not in _BUILTINS)
                or (isinstance(f, ast.Attribute) and f.attr in self.n.attrs))

    def body(self, stmts: list[ast.stmt], line: int) -> None:
        for s in stmts:
            self.node(s, line)

    def node(self, node, line: int) -> None:
        line = getattr(node, "lineno", line)
        if isinstance(node, ast.expr_context):
            return
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return                      # docstrings and strings used as comments
        if isinstance(node, (ast.Pass, ast.Global, ast.Nonlocal)):
            return
        if isinstance(node, ast.Name):
            return self.name(node.id, line)
        if isinstance(node, ast.Attribute):
            self.node(node.value, line)
            return self.name(node.attr, line, attr=True)
        if isinstance(node, ast.Constant):
            return self.tok("S" if isinstance(node.value, (str, bytes)) else repr(node.value), line)
        if isinstance(node, ast.JoinedStr):
            return self.tok("S", line)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.tok(type(node).__name__, line)
            self.body(node.decorator_list, line)
            self.node(node.args, line)      # names and annotations dropped: they come and go
            return self.body(node.body, line)
        if isinstance(node, ast.ClassDef):
            self.tok("ClassDef", line)
            self.body(node.decorator_list + node.bases + node.keywords, line)
            return self.body([s for s in node.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                             ast.ClassDef))], line)
        if isinstance(node, ast.AnnAssign):
            self.tok("Assign", line)
            self.node(node.target, line)
            return self.node(node.value, line) if node.value is not None else None
        if isinstance(node, ast.Call):
            self.tok("Call", line)
            self.node(node.func, line)
            self.body(node.args, line)
            user = self.user_callee(node.func)
            for kw in node.keywords:
                self.tok("**" if kw.arg is None else ("V=" if user else kw.arg + "="), line)
                self.node(kw.value, line)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            self.tok("import", line)
            if isinstance(node, ast.ImportFrom):
                self.tok(node.module or ".", line)
            for a in node.names:
                self.tok(a.name.rsplit(".", 1)[-1] if a.asname else a.name, line)
            return
        if isinstance(node, ast.arguments):
            for a in node.posonlyargs + node.args + [node.vararg] + node.kwonlyargs + [node.kwarg]:
                if a is not None:
                    self.tok("V", line)
            return self.body([d for d in node.defaults + node.kw_defaults if d is not None], line)
        self.tok(type(node).__name__, line)
        for child in ast.iter_child_nodes(node):
            self.node(child, line)


def _units(stmts: list[ast.stmt]):
    """(statement, whole) in unit order: each def alone; a class's own statements, then its
    methods each alone; other statements run together until the next definition."""
    for s in stmts:
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield s, True
        elif isinstance(s, ast.ClassDef):
            yield s, True               # the writer skips the class's definitions ...
            yield from _units([b for b in s.body if isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                   ast.ClassDef))])
        else:
            yield s, False


def normalise(name: str, sources: list[Source]) -> Code:
    """The submission's sources as one Code (a source that does not parse is left out and named)."""
    code = Code(name, sources)
    trees: list[tuple[int, ast.Module]] = []
    for i, src in enumerate(sources):
        try:
            trees.append((i, _parse(src.text)))
        except Exception as e:  # noqa: BLE001 - SyntaxError, RecursionError, IPython's own: the cell is named
            code.problems.append(f"{src.label} does not parse ({type(e).__name__}: "
                                 f"{getattr(e, 'msg', str(e))[:80]}, line {getattr(e, 'lineno', '?')})")
    names = _Names()
    for i, tree in list(trees):
        try:
            names.visit(tree)
        except RecursionError:
            code.problems.append(f"{sources[i].label} nests too deep to read")
            trees.remove((i, tree))
    names.names -= set(names.aliases)
    start = 0                            # the open run of plain statements
    for i, tree in trees:
        writer = _Writer(names, code, i)
        for stmt, whole in _units(tree.body):
            if whole and len(code.tokens) > start:
                code.units.append((start, len(code.tokens)))
            begin = len(code.tokens)
            try:
                writer.node(stmt, stmt.lineno)
            except RecursionError:
                code.problems.append(f"{sources[i].label}: line {stmt.lineno} nests too deep to read")
                del code.tokens[begin:], code.lines[begin:], code.where[begin:]
            if whole:
                if len(code.tokens) > begin:
                    code.units.append((begin, len(code.tokens)))
                start = len(code.tokens)
    if len(code.tokens) > start:
        code.units.append((start, len(code.tokens)))
    return code


# ---- hashing and winnowing ---------------------------------------------------------------------

_TOKEN_IDS: dict[str, int] = {}


def _token_id(t: str) -> int:
    v = _TOKEN_IDS.get(t)
    if v is None:
        v = _TOKEN_IDS[t] = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
    return v


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: k-gram hashes spread evenly, so the window minimum is fair."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def kgrams(code: Code, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """Every k-gram's hash and its first token's index, no k-gram crossing a unit."""
    n = len(code.tokens) - k + 1
    if n <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    ids = np.fromiter((_token_id(t) for t in code.tokens), dtype=np.uint64, count=len(code.tokens))
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * np.uint64(0x100000001B3) + ids[j:j + n]
    unit = np.repeat(np.arange(len(code.units)), [b - a for a, b in code.units])
    starts = np.flatnonzero(unit[:n] == unit[k - 1:])
    return _mix(h[starts]), starts


def winnow(hashes: np.ndarray, starts: np.ndarray, code: Code, w: int = W, k: int = K) -> np.ndarray:
    """Indexes (into hashes) of the selected fingerprints: per unit, the rightmost smallest hash
    of each window of w; a MASKED hash is never kept."""
    chosen = []
    unit_of = np.searchsorted([a for a, _ in code.units], starts, side="right")
    bounds = np.flatnonzero(np.diff(unit_of)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(hashes)]):
        seg = hashes[lo:hi]
        if len(seg) <= w:
            picks = np.array([len(seg) - 1 - int(np.argmin(seg[::-1]))])
        else:
            rev = sliding_window_view(seg, w)[:, ::-1]
            picks = np.unique(np.arange(len(rev)) + (w - 1) - np.argmin(rev, axis=1))
        picks = picks + lo
        chosen.append(picks[hashes[picks] != MASKED])
    return np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
