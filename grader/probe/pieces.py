"""Reference pieces, grader side: the reference sliced into what one probe may bring into a
kernel. A piece of a name is its definition's source with what it needs to run: the imports,
the non-graded helpers and constants it uses (transitively), and the reference's own
definitions of the graded names it builds on (mnist's PixelCNN brings its convolution
classes). Never `ANSWERS`, never a graded definition nothing in the piece uses. The kernel
asks for pieces one name at a time (runner.py); this module answers from the reference's
definition cells, as the kernel would have run them."""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from ..config import Assignment

SECRET = {"ANSWERS"}


@dataclass
class _Statement:
    source: str
    defines: set[str]
    uses: set[str]
    imports: bool


@dataclass
class Reference:
    """The reference's definition cells, one top-level statement at a time."""
    statements: list[_Statement]
    graded: set[str]
    defined_by: dict[str, list[int]] = field(default_factory=dict)

    def closure(self, names) -> tuple[list[int], set[str]]:
        """(statement indices, in the reference's order, graded names they define) that
        `names` need; KeyError for a name the reference does not define or may not send."""
        todo, seen, stmts = list(names), set(), set()
        for n in todo:
            if n in SECRET:
                raise KeyError(f"`{n}` is never sent to a kernel")
            if n not in self.defined_by:
                raise KeyError(f"`{n}` is not defined in the reference")
        while todo:
            n = todo.pop()
            if n in seen or n in SECRET:
                continue
            seen.add(n)
            for i in self.defined_by.get(n, []):
                if i not in stmts:
                    stmts.add(i)
                    todo += [u for u in self.statements[i].uses if u in self.defined_by and u not in seen]
        stmts |= {i for i, s in enumerate(self.statements) if s.imports}
        return sorted(stmts), {n for n in seen if n in self.graded}

    def source(self, indices) -> str:
        return "\n".join(self.statements[i].source for i in indices)


def _free(source: str) -> set[str]:
    """The global names a top-level statement reads (its own functions' locals excluded)."""
    import symtable

    def walk(table, out):
        for s in table.get_symbols():
            if s.is_referenced() and (s.is_global() or (table.get_type() == "module" and not s.is_assigned())):
                out.add(s.get_name())
        for child in table.get_children():
            walk(child, out)
        return out

    return walk(symtable.symtable(source, "reference", "exec"), set()) - set(dir(builtins))


def _defines(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names}
    out = set()
    targets = stmt.targets if isinstance(stmt, ast.Assign) else \
        [stmt.target] if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) else []
    for t in targets:
        out |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
    return out


def parse(text: str, suffix: str, graded) -> Reference:
    """The reference's source (.py percent format or .ipynb) as statements."""
    import nbformat

    from .. import cells as cellplan
    from ..notebooks import notebook_from_py

    nb = notebook_from_py(text) if suffix == ".py" else nbformat.reads(text, as_version=4)
    statements: list[_Statement] = []
    for cp in cellplan.plan(nb, "definitions"):
        if not cp.source:
            continue
        code = cellplan._transform(cp.source)
        tree = cellplan.parse(code)
        lines = code.splitlines()
        for stmt in tree.body:
            seg = cellplan.statement_source(lines, stmt)
            imports = isinstance(stmt, (ast.Import, ast.ImportFrom)) or (
                isinstance(stmt, ast.Try) and all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in stmt.body))
            defines = _defines(stmt)
            if isinstance(stmt, ast.Try) and imports:
                defines = set().union(*(_defines(s) for s in stmt.body))
            statements.append(_Statement(seg, defines, set() if imports else _free(seg) - defines, imports))
    defined_by: dict[str, list[int]] = {}
    for i, s in enumerate(statements):
        if s.imports:
            continue
        for n in s.defines:
            defined_by.setdefault(n, []).append(i)
    return Reference(statements, set(graded), defined_by)


_CACHE: dict = {}


def of(assignment: Assignment) -> Reference | None:
    """The assignment's reference as pieces (parsed once per process), or None without one."""
    path = assignment.reference_path
    if path is None:
        return None
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _CACHE:
        _CACHE[key] = parse(path.read_text(), path.suffix, assignment.names)
    return _CACHE[key]


def declared(observe) -> set[str]:
    """The reference definitions a probe declares (and may ask for)."""
    return {*observe.stand_in, *observe.fallback, *observe.reference}


def may_hold(assignment: Assignment, observe) -> set[str]:
    """The graded names whose reference version may enter the kernel while the probe runs:
    what it declares and the graded names those pieces build on."""
    ref = of(assignment)
    names = declared(observe)
    if ref is None or not names:
        return {n for n in names if n in assignment.names}
    try:
        return ref.closure(names)[1]
    except KeyError:
        return {n for n in names if n in assignment.names}


def grades(assignment: Assignment, kind_module, observe) -> set[str]:
    """The graded names whose behaviour a probe judges: `grades` in the toml, else the kind's
    target, else every graded name the probe does not bring in from the reference."""
    if observe.grades:
        return set(observe.grades)
    target = getattr(observe, "target", None)
    if isinstance(target, str) and target:
        return {target}
    build = getattr(observe, "build", None)
    if isinstance(build, str) and build:
        return {build}
    return set(assignment.names) - may_hold(assignment, observe) - SECRET


def validate(assignment: Assignment) -> None:
    """Authoring errors, when the assignment loads: a probe may not bring in the reference's
    version of a name it grades, nor declare a name the reference does not define (or ANSWERS)."""
    from .. import checks
    from ..config import ConfigError
    ref = of(assignment)
    for key, p in assignment.plan().items():
        o = p["observe"]
        names = declared(o)
        if names & SECRET:
            raise ConfigError(f"probes.{key}: `ANSWERS` never enters a kernel")
        if ref is not None:
            unknown = sorted(n for n in names if n not in ref.defined_by)
            if unknown:
                raise ConfigError(f"probes.{key}: the reference does not define `{unknown[0]}`")
        both = grades(assignment, checks.get(p["kind"]), o) & may_hold(assignment, o)
        if both:
            raise ConfigError(f"probes.{key}: it grades {', '.join(sorted(both))}, whose reference version it "
                              "would bring into the kernel")
