"""Which cells to run, and how much of each, in `definitions` mode.

Tagged notebooks (`train`/`report` tags) are trusted: tagged cells are skipped, the others
run whole. Untagged notebooks (a Colab export with its training loop, `!pip install` and
`%matplotlib` at top level) go through an AST filter that keeps what defines things
(imports, classes, functions, cheap assignments such as ANSWERS) and drops what does work
(loops, `with` blocks, training/plotting/sampling calls, shell escapes)."""
from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass

SKIP_TAGS = {"train", "report", "skip-grading"}
HEAVY = re.compile(r"fit|train(?!able)|sampl|generat|evaluat|predict|download|urlretriev|savefig|show|plot|imshow|"
                   r"mount|infer|experiment|epoch|loop|run_|summary|display|tensorboard|^cuda$", re.I)
SAFE_CALL = re.compile(r"seed|filterwarnings|simplefilter|^append$|^insert$|set_printoptions|deterministic|"
                       r"enable_numpy_behavior|set_floatx|setLevel|basicConfig|^register|^set_default|"
                       r"set_num_threads|disable_warnings|^update$|^build$", re.I)   # build: a Keras model's weights
_SHELL_CELL_MAGICS = {"bash", "sh", "shell", "script", "system", "html", "javascript", "js", "latex", "markdown", "svg"}
_TRANSPARENT_CELL_MAGICS = {"time", "capture", "timeit", "prun"}


@dataclass
class CellPlan:
    index: int
    source: str | None  # None: skip
    note: str = ""  # why skipped or trimmed


def _callee(node: ast.Call) -> str:
    f = node.func
    while isinstance(f, ast.Call):
        f = f.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return ""


def _is_ipython_call(node: ast.Call) -> bool:
    f = node.func
    return (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Call)
            and _callee(f.value) == "get_ipython" and f.attr in {"system", "run_line_magic", "run_cell_magic", "getoutput"})


def _has_heavy_call(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and (HEAVY.search(_callee(sub)) or _is_ipython_call(sub)):
            return True
    return False


def keep_statement(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                         ast.Global, ast.Pass)):
        return True
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Delete, ast.Assert)):
        return not _has_heavy_call(stmt)
    if isinstance(stmt, ast.If):
        test = ast.unparse(stmt.test)
        if "__name__" in test and "__main__" in test:
            return False
        return all(keep_statement(s) for s in stmt.body + stmt.orelse) and not _has_heavy_call(stmt.test)
    if isinstance(stmt, ast.Try):
        return all(keep_statement(s) for s in stmt.body)
    if isinstance(stmt, ast.Expr):
        v = stmt.value
        if isinstance(v, ast.Constant):
            return True
        if isinstance(v, ast.Call) and not _is_ipython_call(v):
            return bool(SAFE_CALL.search(_callee(v))) and not _has_heavy_call(v)
        return False
    return False  # for/while/with/async, raise at top level of a notebook cell, match, ...


_PARSE = threading.RLock()


def guard_parser() -> None:
    """Every `ast.parse` of this process takes the parser lock, not only ours: the traceback
    module (Python 3.11 parses source lines to place its carets), ast.literal_eval and
    libraries parse too, and one of them racing a batch worker's parse fails a whole
    submission. Called by the grading process (batch.run), never in a kernel."""
    if getattr(ast.parse, "_grader_locked", False):
        return
    original = ast.parse

    def locked(*args, **kwargs):
        with _PARSE:
            return original(*args, **kwargs)

    locked._grader_locked = True
    ast.parse = locked


def parse(code: str, mode: str = "exec") -> ast.AST:
    """ast.parse, one thread at a time: CPython 3.11's parser is not safe when threads of one
    process parse at once (batches grade in threads), it fails with "AST constructor
    recursion depth mismatch"."""
    with _PARSE:
        return ast.parse(code, mode=mode)


def _transform(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager
    with _PARSE:
        return TransformerManager().transform_cell(source)


def statement_source(lines: list[str], stmt: ast.stmt) -> str:
    """A top-level statement's own lines of a parsed cell, its decorators included."""
    start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
    return "\n".join(lines[start - 1: stmt.end_lineno])


def _guard_imports(seg: str, stmt: ast.stmt) -> str:
    """A missing optional module (google.colab, wandb) must not stop the cell's definitions."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)) and "\n" not in seg.strip():
        return f"try:\n    {seg.strip()}\nexcept ModuleNotFoundError as _grader_e:\n    print('skipped import:', _grader_e)"
    return seg


def filter_source(source: str) -> tuple[str | None, str]:
    """The part of one cell worth running for grading, and a note on what was dropped."""
    lines = source.splitlines()
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split()[0] if len(first) > 2 else ""
        if magic in _SHELL_CELL_MAGICS:
            return None, f"%%{magic} cell"
        if magic == "writefile":
            return source, ""
        if magic in _TRANSPARENT_CELL_MAGICS:
            source = "\n".join(lines[1:])
        else:
            return None, f"%%{magic} cell"
    try:
        code = _transform(source)
        tree = parse(code)
    except SyntaxError as e:
        return source, f"syntax error at line {e.lineno}"  # run it anyway: the error is the student's record
    code_lines = code.splitlines()
    kept, dropped = [], 0
    for stmt in tree.body:
        seg = statement_source(code_lines, stmt)
        if keep_statement(stmt):
            kept.append(_guard_imports(seg, stmt))
        else:
            dropped += 1
    if not kept:
        return None, "no definitions"
    return "\n".join(kept), (f"{dropped} top-level statement(s) skipped" if dropped else "")


def definitions_of(source: str, bound: set[str] | frozenset = frozenset()) -> str | None:
    """A cell's imports, functions and classes only (None when it has none). An import of a
    name in `bound` (what earlier cells bound at top level) is left out: run in order, the
    notebook's earlier code had used the earlier binding (a late `from IPython.display import
    Image` must not replace PIL's `Image` that a data set class uses); the cell's own run, as
    the item's function, still imports it in its copy of the namespace."""
    try:
        code = _transform(source)
        tree = parse(code)
    except SyntaxError:
        return None
    lines = code.splitlines()
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    kept = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)) and bound:
            names = [a for a in stmt.names if (a.asname or a.name.split(".")[0]) not in bound]
            if len(names) < len(stmt.names):
                if names:
                    kept.append(_guard_imports(ast.unparse(type(stmt)(**{**vars(stmt), "names": names})), stmt))
                continue
        if isinstance(stmt, keep):
            kept.append(_guard_imports(statement_source(lines, stmt), stmt))
    return "\n".join(kept) or None


def bound_names(source: str) -> set[str]:
    """The names a cell binds at top level (imports, definitions, assignments)."""
    try:
        tree = parse(_transform(source))
    except (SyntaxError, ValueError):
        return set()
    out: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            out.update(a.asname or a.name.split(".")[0] for a in stmt.names)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(stmt.name)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            out.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return out


def plan(nb, mode: str = "definitions", lean: set[int] | frozenset = frozenset()) -> list[CellPlan]:
    """`lean`: cells that answer an item inline (grader/inline.py): the probes run them as the
    item's function; at top level only their definitions run (not a model they build or train)."""
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if mode == "full":
        return [CellPlan(i, c.source) for i, c in code_cells]
    tagged = any(SKIP_TAGS & set(c.metadata.get("tags", [])) for _, c in code_cells)
    out, bound = [], set()
    for i, c in code_cells:
        tags = SKIP_TAGS & set(c.metadata.get("tags", []))
        if tags:
            out.append(CellPlan(i, None, f"tagged {', '.join(sorted(tags))}"))
        elif i in lean:
            src = definitions_of(c.source, bound)
            out.append(CellPlan(i, src, "answers an item: graded by running it as the item's function"
                                + ("" if src else "; no definitions")))
        elif tagged:
            src = c.source
            # even in a tagged notebook, shell escapes (pip installs) are not run
            if any(l.lstrip().startswith(("!", "%pip", "%conda")) for l in src.splitlines()):
                src = "\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("!", "%pip", "%conda")))
            out.append(CellPlan(i, src))
        else:
            src, note = filter_source(c.source)
            out.append(CellPlan(i, src, note))
        if lean:                                 # only cells that answer an item inline need it
            bound |= bound_names(c.source)
    return out
