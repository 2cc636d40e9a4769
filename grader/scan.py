"""A static scan of the submission's source for constructs that can tamper with grading:
frame inspection, gc walks, ctypes, signals, /proc, imports of the grader, writes to the
attributes of torch/numpy/TensorFlow/Keras, trace and audit hooks, exec of built strings,
IPython input hooks. A hit adds a review entry with its evidence; alone it zeroes nothing,
because honest code calls `gc.collect()` and patches `np.set_printoptions` too."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

FRAMEWORKS = {"torch", "numpy", "tensorflow", "keras", "jax", "builtins", "IPython", "ipykernel", "grader"}
CALLS = {
    ("sys", "_getframe"): "frame inspection", ("sys", "_current_frames"): "frame inspection",
    ("inspect", "currentframe"): "frame inspection", ("inspect", "stack"): "frame inspection",
    ("inspect", "getouterframes"): "frame inspection", ("inspect", "trace"): "frame inspection",
    ("traceback", "walk_stack"): "frame inspection", ("traceback", "walk_tb"): "frame inspection",
    ("gc", "get_objects"): "gc walk", ("gc", "get_referrers"): "gc walk", ("gc", "get_referents"): "gc walk",
    ("sys", "settrace"): "trace hook", ("sys", "setprofile"): "trace hook", ("threading", "settrace"): "trace hook",
    ("threading", "setprofile"): "trace hook", ("sys", "addaudithook"): "audit hook",
    ("os", "kill"): "signals", ("os", "killpg"): "signals", ("signal", "signal"): "signals",
    ("signal", "setitimer"): "signals", ("signal", "pthread_kill"): "signals",
    ("os", "system"): "processes", ("os", "fork"): "processes", ("os", "execv"): "processes",
    ("subprocess", "Popen"): "processes", ("subprocess", "run"): "processes",
    ("socket", "socket"): "network", ("socket", "create_connection"): "network",
}
ATTRS = {"f_back": "frame inspection", "f_locals": "frame inspection", "f_globals": "frame inspection",
         "tb_frame": "frame inspection", "gi_frame": "frame inspection", "cr_frame": "frame inspection",
         "input_transformers_post": "IPython input hooks", "input_transformers_cleanup": "IPython input hooks",
         "ast_transformers": "IPython input hooks", "__code__": "code objects"}
MODULES = {"ctypes": "ctypes", "_ctypes": "ctypes", "grader": "imports the grader", "_signal": "signals",
           "gc": None, "signal": "signals"}


@dataclass
class Hit:
    construct: str
    cell: int            # index of the notebook cell (or -1 for a file)
    line: int
    code: str

    def evidence(self) -> str:
        where = f"cell {self.cell}, line {self.line}" if self.cell >= 0 else f"line {self.line}"
        return f"{self.construct} at {where}: {self.code[:120]}"


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def scan_source(source: str, cell: int = -1) -> list[Hit]:
    """The tampering constructs in one cell or file (IPython syntax is transformed first)."""
    from .cells import _transform, parse
    try:
        code = _transform(source)
    except Exception:  # noqa: BLE001 - scanning is best effort; the source is the student's
        code = source
    try:
        tree = parse(code)
    except SyntaxError:
        return []
    lines = code.splitlines()
    aliases: dict[str, str] = {}          # local name -> module it stands for
    hits: list[Hit] = []

    def hit(construct: str, node) -> None:
        n = getattr(node, "lineno", 1)
        hits.append(Hit(construct, cell, n, lines[n - 1].strip() if 0 < n <= len(lines) else ""))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                root = a.name.split(".")[0]
                aliases[a.asname or root] = a.name if a.asname else root
                if MODULES.get(root):
                    hit(MODULES[root], node)
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            if MODULES.get(root):
                hit(MODULES[root], node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            head, _, tail = name.partition(".")
            full = f"{aliases.get(head, head)}.{tail}" if tail else aliases.get(head, head)
            parts = full.split(".")
            key = (parts[-2], parts[-1]) if len(parts) >= 2 else ("", parts[0])
            if key in CALLS:
                hit(CALLS[key], node)
            elif parts[-1] in {"exec", "eval", "compile"} and node.args and not isinstance(node.args[0], ast.Constant):
                hit("exec of a built string", node)
            elif parts[-1] == "setattr" and node.args and _module_root(node.args[0], aliases) in FRAMEWORKS:
                hit("writes to a library's attributes", node)
        elif isinstance(node, ast.Attribute) and node.attr in ATTRS:
            hit(ATTRS[node.attr], node)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                if isinstance(t, (ast.Attribute, ast.Subscript)) and _module_root(t, aliases) in FRAMEWORKS:
                    hit("writes to a library's attributes", node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.search(r"/proc/(self|\d+|1/)", node.value):
            hit("/proc", node)
    return hits


def _module_root(node, aliases: dict) -> str:
    """The top-level module an attribute chain starts from (np.x.y -> numpy), or ""."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    if isinstance(node, ast.Name):
        if node.id == "__builtins__":
            return "builtins"
        return aliases.get(node.id, "").split(".")[0]
    return ""


def scan(notebook, extra_sources: dict[str, str] | None = None) -> list[Hit]:
    """Every code cell of the notebook, and the submission's other Python files."""
    hits = []
    if notebook is not None:
        for i, c in enumerate(notebook.cells):
            if c.get("cell_type") == "code":
                hits += scan_source(c.source, i)
    for _, text in sorted((extra_sources or {}).items()):
        hits += scan_source(text)
    return hits
