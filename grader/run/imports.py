"""Nothing the grader imports in a kernel comes from the submission's files, and nothing from
there runs as bytecode.

The student's cells import from the workspace before the installed packages (the working
directory goes before site-packages, as in Jupyter), so a package the submission ships under
a library's name (`PIL/`, `sympy.py`, `debugpy.py`) would stand in for that library wherever
it is first imported after the kernel starts: the grader's helpers import some lazily, and so
do the libraries themselves (torch's first optimizer step imports torch._dynamo, sympy,
optree, ...; ipykernel imports debugpy when it starts). Three layers, all in the kernel,
all in place before the first student cell:

- `protect()` imports what the grader's kernel side needs (the list `needed()` computes in the
  grader: every module that the probe library, the checks, the framework's adapter and the
  assignment's helpers import, at top level or lazily);
- a meta-path finder resolves every top-level import that is not made by student code in
  the environment first (the interpreter's path as it was when the kernel armed, read-only
  in the sandbox), the workspace only for what the environment lacks (the submission's own
  modules, which the grader imports by name too);
- a path hook gives every folder outside the environment (the workspace, /tmp) a finder that
  loads source only: no `__pycache__`, no sourceless `.pyc`, no extension module, no zip.

`check()` runs when probing starts (armed.py): the finder and the hook are put back first if
a cell moved them, modules preloaded here are put back if a cell replaced them in
sys.modules, and a module from the workspace that holds a library's name is dropped from
sys.modules (the student's own code keeps its reference), so that the grader's and the
libraries' later imports get the library."""
from __future__ import annotations

import ast
import functools
import os
import sys
from pathlib import Path

GRADER = Path(__file__).resolve().parents[1]
# what the kernel imports first, besides the checks and the framework's adapter
ENTRY = ("run/kernel.py", "run/imports.py", "probe/armed.py", "probe/runner.py", "probe/context.py",
         "probe/observations.py", "probe/channel.py")
OTHER_FRAMEWORK = {"torch": {"tensorflow", "keras", "tf_keras"},
                   "keras": {"torch", "torchvision", "lightning", "pytorch_lightning", "lightning_fabric"}}
STUDENT_PREFIXES = ("/tmp/ipykernel_", "<ipython-input-", "/tmp/__autograph_generated_file")
IMPORT_MACHINERY = ("<frozen importlib._bootstrap", "/importlib/__init__.py")


# ---- the grader's side: what to import before the first student cell -----------------------

def _imports(path: Path, package: str) -> list[tuple[str, list[str]]]:
    """(module, names) of every import statement in a file, anywhere in it; relative imports
    resolved against `package`."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            out.append((module, [a.name for a in node.names if a.name != "*"]))
    return out


def _grader_file(module: str) -> Path | None:
    parts = module.split(".")[1:]
    for p in (GRADER.joinpath(*parts).with_suffix(".py"), GRADER.joinpath(*parts, "__init__.py")):
        if parts and p.is_file():
            return p
    return GRADER / "__init__.py" if not parts else None


@functools.lru_cache(maxsize=16)
def needed(framework: str, helpers: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Every module outside the grader package that the kernel side of the grader imports
    (following the grader's own modules from the kernel's entry points, the checks and the
    framework's adapter), and that the assignment's helper files import; never the other
    framework."""
    todo = [GRADER / e for e in ENTRY] + sorted((GRADER / "checks").glob("*.py")) + \
        [GRADER / "frameworks" / "__init__.py", GRADER / "frameworks" / f"{framework}.py"]
    files = {p: "grader." + ".".join(p.relative_to(GRADER).with_suffix("").parts).removesuffix(".__init__")
             for p in todo}
    files.update({Path(h): "" for h in helpers})
    seen, found = set(), []
    queue = list(files.items())
    while queue:
        path, module = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for name, names in _imports(path, package):
            for target in [name, *(f"{name}.{n}" for n in names)]:
                if target.split(".")[0] == "grader":
                    f = _grader_file(target)
                    if f is not None and f not in seen:
                        queue.append((f, target))
                elif target and target.split(".")[0] not in OTHER_FRAMEWORK.get(framework, set()):
                    found.append(target)
    return tuple(dict.fromkeys(sorted(found)))


def for_kernel(framework: str, read_only) -> tuple[str, ...]:
    """`needed()` for a kernel that sees these (host path, inside path) mounts: the helper
    files among them are the assignment's."""
    return needed(framework, tuple(sorted(h for h, _ in read_only if str(h).endswith(".py"))))


# ---- inside the kernel ----------------------------------------------------------------------

def protect(modules: list[str], workspace: str) -> None:
    """Import `modules`, then install the finder and the path hook (see the module's
    docstring). Runs before ipykernel starts, while the workspace is not on sys.path."""
    import importlib
    import importlib.machinery as machinery

    for m in modules:
        if m and m not in sys.modules:
            try:
                importlib.import_module(m)
            except BaseException:  # noqa: BLE001 - a name that is not a module, or an optional library
                pass
    preloaded = {m: sys.modules[m] for m in modules if m in sys.modules}
    workspace = workspace.rstrip("/") + "/"
    env = [p for p in sys.path if p and not (os.path.abspath(p) + "/").startswith(workspace)]
    env_roots = tuple(os.path.abspath(p) for p in env)
    students = (workspace, *STUDENT_PREFIXES)
    path_finder, file_finder, source_loader = machinery.PathFinder, machinery.FileFinder, machinery.SourceFileLoader
    getframe = sys._getframe

    def in_env(path: str) -> bool:
        return any(path == r or path.startswith(r + "/") for r in env_roots)

    def by_student() -> bool:
        """Whether the import statement being resolved is in the student's code (the first
        frame below the import machinery's own)."""
        f = getframe(2)
        while f is not None and f.f_code.co_filename.startswith(IMPORT_MACHINERY[0]) or \
                f is not None and f.f_code.co_filename.endswith(IMPORT_MACHINERY[1]):
            f = f.f_back
        return f is not None and f.f_code.co_filename.startswith(students)

    def find_spec(name, path=None, target=None):
        if path is not None or by_student():
            return None              # a submodule (its package's own path), or the student's own import
        return path_finder.find_spec(name, env)     # None: the environment lacks it, the usual order decides

    class SourceOnly(source_loader):
        """Compiles the file it loads; never reads a cached .pyc."""

        def get_code(self, fullname):
            path = self.get_filename(fullname)
            return self.source_to_code(self.get_data(path), path)

    class Nothing:
        @staticmethod
        def find_spec(name, target=None):
            return None

    def hook(entry: str):
        p = os.path.abspath(entry or os.getcwd())
        if in_env(p):
            raise ImportError("the environment's own finders")
        if os.path.isfile(p):
            return Nothing()     # no imports from an archive the submission brought
        return file_finder(p, (SourceOnly, machinery.SOURCE_SUFFIXES))

    guard = type("GraderImports", (), {"find_spec": staticmethod(find_spec)})()

    def install() -> list[str]:
        """The finder first on sys.meta_path, the hook first on sys.path_hooks; the names of
        those that were not."""
        moved = []
        if not sys.meta_path or sys.meta_path[0] is not guard:
            moved.append("sys.meta_path")
            sys.meta_path[:] = [guard, *(f for f in sys.meta_path if f is not guard)]
        if not sys.path_hooks or sys.path_hooks[0] is not hook:
            moved.append("sys.path_hooks")
            sys.path_hooks[:] = [hook, *(h for h in sys.path_hooks if h is not hook)]
            for entry in [e for e in sys.path_importer_cache if not in_env(os.path.abspath(e or os.getcwd()))]:
                del sys.path_importer_cache[entry]     # made without the hook
        return moved

    def _check() -> list[str]:
        """Put the import machinery back; what a cell changed, for the review column."""
        changed = install()
        for name, mod in preloaded.items():
            if sys.modules.get(name) is not mod:
                sys.modules[name] = mod
                changed.append(f"sys.modules[{name!r}]")
        for name, mod in list(sys.modules.items()):
            origin = getattr(mod, "__file__", None)
            if "." in name or not isinstance(origin, str) or in_env(os.path.abspath(origin)):
                continue
            if path_finder.find_spec(name, env) is not None:      # a library's name, from the submission
                for sub in [n for n in sys.modules if n == name or n.startswith(name + ".")]:
                    sys.modules.pop(sub, None)
                changed.append(f"{name} (the submission's {os.path.basename(origin)} holds a library's name)")
        return changed

    install()
    globals()["check"] = _check       # armed.py takes this one when it arms


def check() -> list[str]:
    """See protect() (which replaces this one); [] where the kernel did not call it."""
    return []
