"""Inline answers, kernel side: a contract function made of the cells that answer its item
(grader/inline.py sends their code). `pin` puts one in place of each missing function; calling
it runs the cells in a copy of the notebook's namespace with their free variables bound by role
to the call's arguments:

- `model`: every free variable the cells use as a model (called, or given `.predict`, `.fit`,
  `.evaluate`, `.compile`, `.load_weights`, `.sample`, ...) or whose value is one;
- data sets (`dataset`, `train_ds`, `val_ds`, ...): the free variables the cells use as data
  sets (iterated, indexed, given to fit/evaluate), by split: `val`, `test` or `train` in the
  name, else by use (fit's first argument trains, `validation_data` validates, evaluate tests);
- `img`: the free variables holding an image; and the data sets become data sets of that
  image alone, so that whatever the cells take from the test set is it;
- `seed` seeds every generator first; `epochs` caps each fit the cells start on a bound model
  (the cells' own epochs otherwise: the grader's data sets are small); other arguments (sample
  counts) are the cells' own.

A model-like free variable that no argument binds gets a stub whose fit trains nothing.
Paths the cells name (string constants, string free variables) map to the assignment's
fixtures by their last part (the toml's `[inline] paths`). What the cells leave is picked by
`returns`: `numbers` (every number assigned, printed or shown), `optimizer`, `history`, `model`,
or `array:<dims>` (the last value assigned of that shape). The code runs under the name of an
IPython cell, so the armed library treats it as the student's."""
from __future__ import annotations

import ast
import contextlib
import fnmatch
import functools
import importlib
import inspect
import io
import re

import numpy as np

from .context import binding

MODEL_USES = {".predict", ".fit", ".evaluate", ".compile", ".load_weights", ".sample", ".predict_on_batch",
              ".forward", ".eval", ".to", ".parameters", ".optimizer", ".summary", ".save_weights",
              ".get_weights", ".set_weights", ".layers", ".device", ".calc_likelihood", ".hparams",
              ".load_state_dict", ".state_dict", ".train_on_batch", ".test_on_batch"}
DATA_USES = {"iter", "arg:fit", "arg:evaluate", "arg:predict", "validation_data"}
_DATA_NAME = re.compile(r"(^|_)(ds|dataset|data|set|loader|seq|sequence|gen|generator)(_|$)|_ds$|^ds", re.I)
_MODEL_NAME = re.compile(r"model|cnn|net", re.I)
_IMAGE_NAME = re.compile(r"^(img|image|x_img|cond|condition)", re.I)
_LAST = "_grader_inline_last"
# where pin() records the functions it made of cells, in the pinned definitions (out of the
# student's reach; a notebook name of the same spelling is overwritten): a helper asks the
# Context (`ctx.inline(name)`), never an attribute of the function, which student code could set
MADE = "<functions made of cells>"
_ABSENT = object()


def _names_of(cls) -> set[str]:
    try:
        return {c.__name__ for c in type(cls).__mro__} if not isinstance(cls, type) else set()
    except TypeError:
        return set()


def is_model(v) -> bool:
    return bool(_names_of(v) & {"Layer", "Module", "Model", "Operation"})


def is_data(v) -> bool:
    return bool(_names_of(v) & {"Sequence", "PyDataset", "Dataset", "DatasetV2", "DataLoader", "IterableDataset"})


def _tensor_like(v) -> bool:
    return hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, (str, bytes, type))


# ---- what the cells do with their names ----------------------------------------------------------

def analyse(tree: ast.Module) -> tuple[list[str], dict[str, set[str]], list[str]]:
    """(free variables in order of first use, how each name is used, names assigned, in the
    order of their last assignment).
    A name is free when it is read before the cells assign it at top level (or never assigned)."""
    first_load: dict[str, int] = {}
    first_store: dict[str, int] = {}
    assigned: list[str] = []
    uses: dict[str, set[str]] = {}
    order = 0

    def note(name, use):
        uses.setdefault(name, set()).add(use)

    class V(ast.NodeVisitor):
        def __init__(self):
            self.depth = 0      # inside a def / lambda: stores are local

        def visit_Name(self, node):
            nonlocal order
            order += 1
            if isinstance(node.ctx, ast.Load):
                first_load.setdefault(node.id, order)
            elif self.depth == 0:
                first_store.setdefault(node.id, order)
                if node.id in assigned:             # in the order of their last assignment
                    assigned.remove(node.id)
                assigned.append(node.id)

        def _scoped(self, node):
            self.depth += 1
            self.generic_visit(node)
            self.depth -= 1

        def visit_FunctionDef(self, node):
            nonlocal order
            order += 1
            if self.depth == 0:
                first_store.setdefault(node.name, order)
            for d in node.decorator_list:
                self.visit(d)
            self.depth += 1
            for s in node.body:
                self.visit(s)
            self.depth -= 1

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_Lambda(self, node):
            self._scoped(node)

        def visit_ClassDef(self, node):
            nonlocal order
            order += 1
            if self.depth == 0:
                first_store.setdefault(node.name, order)
            self._scoped(node)

        def visit_Import(self, node):
            nonlocal order
            for a in node.names:
                order += 1
                if self.depth == 0:
                    first_store.setdefault((a.asname or a.name).split(".")[0], order)

        visit_ImportFrom = visit_Import

        def visit_For(self, node):
            # the target is stored before the body reads it, after the iterable is read
            self.visit(node.iter)
            self.visit(node.target)
            for s in node.body + node.orelse:
                self.visit(s)

        def visit_comprehension(self, node):
            self.visit(node.iter)
            self.depth += 1
            self.visit(node.target)
            self.depth -= 1
            for c in node.ifs:
                self.visit(c)

        def visit_ListComp(self, node):
            for g in node.generators:
                self.visit_comprehension(g)
            self.depth += 1
            self.visit(node.elt)
            self.depth -= 1

        visit_SetComp = visit_GeneratorExp = visit_ListComp

        def visit_DictComp(self, node):
            for g in node.generators:
                self.visit_comprehension(g)
            self.depth += 1
            self.visit(node.key)
            self.visit(node.value)
            self.depth -= 1

    V().visit(tree)
    locals_ = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            locals_ |= {p.arg for p in a.posonlyargs + a.args + a.kwonlyargs}
            locals_ |= {p.arg for p in (a.vararg, a.kwarg) if p is not None}
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    locals_.add(sub.id)
        elif isinstance(node, ast.comprehension):
            locals_ |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            note(node.value.id, "." + node.attr)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            note(node.value.id, "index")
        elif isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.iter, ast.Name):
            note(node.iter.id, "iter")
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                note(f.id, "call")
                if f.id in {"iter", "len", "enumerate", "list", "next"} and node.args and \
                        isinstance(node.args[0], ast.Name):
                    note(node.args[0].id, "iter")
            called = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if _LOADS.search(called):
                for a in [*node.args, *(k.value for k in node.keywords)]:
                    if isinstance(a, ast.Name):
                        note(a.id, "arg:load")
            if isinstance(f, ast.Attribute) and f.attr in {"fit", "evaluate", "predict"}:
                if node.args and isinstance(node.args[0], ast.Name):
                    note(node.args[0].id, f"arg:{f.attr}")
                for k in node.keywords:
                    if isinstance(k.value, ast.Name):
                        if k.arg == "validation_data":
                            note(k.value.id, "validation_data")
                        elif k.arg in {"x", "generator"}:
                            note(k.value.id, f"arg:{f.attr}")
    free = [n for n, at in sorted(first_load.items(), key=lambda kv: kv[1])
            if (n not in first_store or first_load[n] < first_store[n]) and not (n in locals_ and n not in first_store
                                                                                and not _global_use(tree, n))]
    return free, uses, assigned


def _global_use(tree, name) -> bool:
    """Whether `name` is read at top level (outside every def, lambda and comprehension)."""
    class V(ast.NodeVisitor):
        found = False

        def visit_Name(self, node):
            if node.id == name and isinstance(node.ctx, ast.Load):
                V.found = True

        def visit_FunctionDef(self, node):
            pass

        visit_AsyncFunctionDef = visit_Lambda = visit_ListComp = visit_SetComp = visit_GeneratorExp = \
            visit_DictComp = visit_FunctionDef
    V().visit(tree)
    return V.found


# ---- roles ---------------------------------------------------------------------------------------

def _is_callable_kind(v) -> bool:
    return inspect.ismodule(v) or inspect.isclass(v) or inspect.isroutine(v) or isinstance(v, functools.partial)


def role(name: str, used: set[str], value) -> str:
    """model, data, image, path or "" for a free variable, from its value and its uses."""
    if value is not _ABSENT:
        if _is_callable_kind(value):
            return ""
        if is_model(value):
            return "model"
        if is_data(value):
            return "data"
        if isinstance(value, str):
            return "path"
        if _tensor_like(value):
            shape = tuple(getattr(value, "shape", ()))
            return "image" if len(shape) >= 2 and (_IMAGE_NAME.match(name) or shape[-2:] == (28, 28)) else ""
        if isinstance(value, (int, float, bool, list, tuple, dict)) or value is None:
            return ""
    if used & MODEL_USES or ("call" in used and _MODEL_NAME.search(name)):
        return "model"
    if used & DATA_USES or (_DATA_NAME.search(name) and used & {"index", "iter"}):
        return "data"
    if _IMAGE_NAME.match(name):
        return "image"
    return ""


def split(name: str, used: set[str]) -> str:
    n = name.lower()
    if "val" in n:
        return "val"
    if "test" in n:
        return "test"
    if "train" in n:
        return "train"
    if "arg:fit" in used:
        return "train"
    if "validation_data" in used:
        return "val"
    return "test"


def param_role(p: str) -> str:
    q = p.lower()
    if q == "model":
        return "model"
    if q in {"img", "image"}:
        return "image"
    if q in {"seed", "epochs"}:
        return q
    if _DATA_NAME.search(q):
        return "data:" + ("val" if "val" in q else "train" if "train" in q else "test")
    return ""


# ---- grader-controlled stand-ins for what the cells read -----------------------------------------

class _History:
    """What a fit that trains nothing returns."""
    def __init__(self):
        self.history, self.epoch, self.params = {}, [], {}


class StubModel:
    """A model for a model variable no argument binds: it records what it is compiled with and
    trains nothing (make_optimizer's cells compile and fit a model the grader does not measure)."""
    def __init__(self):
        self.optimizer, self.loss = None, None

    def compile(self, optimizer=None, loss=None, *args, **kwargs):
        self.optimizer, self.loss = optimizer, loss

    def fit(self, *args, **kwargs):
        return _History()

    def evaluate(self, *args, **kwargs):
        return 0.0

    def predict(self, x, *args, **kwargs):
        return np.zeros(np.shape(x), np.float32)

    def __call__(self, x, *args, **kwargs):
        return np.zeros(np.shape(x), np.float32)

    def summary(self, *args, **kwargs):
        return None

    def load_weights(self, *args, **kwargs):
        return None


class StubData:
    """A data set for a data-set variable no argument binds (a stub model's fit ignores it)."""
    def __len__(self):
        return 0

    def __iter__(self):
        return iter(())

    def __getitem__(self, i):
        raise IndexError(i)


class ImageData:
    """A data set (or loader) of one image: every item, every batch is it (torch layout
    (1, C, H, W) given; items are (C, H, W) with label 0, batches (B, C, H, W))."""
    def __init__(self, img, batch: int = 0, size: int = 1000):
        self.img, self.batch, self.size = img, batch, size

    def __len__(self):
        return self.size

    def _item(self):
        x = self.img[0] if len(getattr(self.img, "shape", ())) == 4 else self.img
        return x.clone() if hasattr(x, "clone") else np.array(x), 0

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._item() for _ in range(*i.indices(self.size))]
        if self.batch:
            return self._batch()
        return self._item()

    def _batch(self):
        x = self.img if len(getattr(self.img, "shape", ())) == 4 else self.img[None]
        reps = (self.batch,) + (1,) * (len(x.shape) - 1)
        xs = x.repeat(*reps) if hasattr(x, "repeat") and hasattr(x, "clone") else np.tile(x, reps)
        try:
            import torch
            labels = torch.zeros(self.batch, dtype=torch.long)
        except ImportError:
            labels = np.zeros(self.batch, np.int64)
        return xs, labels

    def __iter__(self):
        for _ in range(min(self.size, 64)):
            yield self._batch() if self.batch else self._item()


# ---- paths ---------------------------------------------------------------------------------------

_FILE = re.compile(r"\.\w{1,8}$")
_LOADS = re.compile(r"load", re.I)


def map_path(s: str, paths: dict, file_ok: bool = True) -> str | None:
    """The fixture a path of the cells stands for (by its last part), or None. A path is a
    string with two parts or more (`pa2/train`, `/content/drive/.../test`), a relative folder
    (`./pa2`, `pa2/`) or a file name; a fragment (`/train`, added to a folder) is not one. Files (`*.h5`) only where the cells
    load them (`file_ok`): a path they write to (a checkpoint) stays theirs."""
    if not isinstance(s, str) or not paths:
        return None
    parts = [p for p in s.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts:
        return None
    is_file = bool(_FILE.search(parts[-1]))
    if is_file and not file_ok:
        return None
    relative = not s.startswith(("/", "\\")) and (s.startswith(("./", "../")) or s.endswith("/") or is_file)
    if len(parts) < 2 and not relative:
        return None
    for pattern, target in paths.items():
        if fnmatch.fnmatch(parts[-1], pattern):
            return target
    return None


class _Paths(ast.NodeTransformer):
    """The cells' string constants that name a fixture, replaced by its path (inside a load
    call, file names too)."""
    def __init__(self, paths):
        self.paths, self.loading = paths, 0

    def visit_Call(self, node):
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        load = bool(_LOADS.search(name)) or name == "File"
        self.loading += load
        node = self.generic_visit(node)
        self.loading -= load
        return node

    def visit_Constant(self, node):
        new = map_path(node.value, self.paths, self.loading > 0) if isinstance(node.value, str) else None
        return ast.copy_location(ast.Constant(new), node) if new else node

    def visit_JoinedStr(self, node):
        tail = node.values[-1] if node.values else None
        new = map_path("x/" + tail.value, self.paths, self.loading > 0) \
            if isinstance(tail, ast.Constant) and isinstance(tail.value, str) else None
        return ast.copy_location(ast.Constant(new), node) if new else self.generic_visit(node)


# ---- running the cells ---------------------------------------------------------------------------

class InlineError(Exception):
    """The cells could not be run as the function, or left nothing of what it returns."""


@contextlib.contextmanager
def _wrapped(models: list, epochs, paths: dict, record: dict):
    """On the bound models (grader-made objects), for the run: each fit capped at `epochs` and
    silent, its History recorded; each load_weights given the fixture for the path it names."""
    done = []
    for m in models:
        if id(m) in {id(x) for x, _ in done} or isinstance(m, StubModel):
            continue
        fit = getattr(m, "fit", None)
        load = getattr(m, "load_weights", None)
        patch = {}
        if callable(fit) and epochs is not None:
            def capped(*args, _fit=fit, **kwargs):
                try:
                    ba = inspect.signature(_fit).bind_partial(*args, **kwargs)
                    asked = ba.arguments.get("epochs", 1)
                    ba.arguments["epochs"] = max(1, min(int(asked), int(epochs)))
                    ba.arguments["initial_epoch"] = 0
                    ba.arguments["verbose"] = 0
                    record.setdefault("epochs_asked", []).append(asked)
                    out = _fit(*ba.args, **ba.kwargs)
                except TypeError:
                    out = _fit(*args, **kwargs)
                record.setdefault("fits", []).append(out)
                return out
            patch["fit"] = capped
        if callable(load) and paths:
            def mapped(path, *args, _load=load, **kwargs):
                target = map_path(str(path), paths) or str(path)
                record.setdefault("loads", []).append(str(path))
                return _load(target, *args, **kwargs)
            patch["load_weights"] = mapped
        for k, v in patch.items():
            object.__setattr__(m, k, v)
        done.append((m, list(patch)))
    try:
        yield
    finally:
        for m, keys in done:
            for k in keys:
                try:
                    object.__delattr__(m, k)
                except AttributeError:
                    pass


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")


MAX_NUMBERS = 64         # more numbers than this and none of them can be taken as the cells' answer


def _measured(value, fw):
    """A value the cells left as numpy, when it is one the grader can measure: exactly a
    tensor, an array or a number (or a list of them); None for a value of another kind (a
    symbolic tensor, a string, a model). One that looks plain but is refused (a subclass, a
    torch mode intercepting) raises NotPlain: the probe is void."""
    from ..frameworks import NotPlain
    try:
        return np.asarray(fw.to_numpy(value))
    except NotPlain:
        if fw.looks_plain(value):
            raise
        return None
    except Exception:  # noqa: BLE001 - not numeric (a list of other things, a ragged list)
        return None


def _numbers(value, fw, out: list) -> None:
    if value is None or type(value) is bool:
        return
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple) and len(value) <= 16:
        for v in value:
            _numbers(v, fw, out)
        return
    if type(value) is dict and len(value) <= 16:
        for v in value.values():
            _numbers(v, fw, out)
        return
    if not (_tensor_like(value) or isinstance(value, (int, float, np.generic))):
        return
    a = _measured(value, fw)
    if a is not None and a.dtype.kind in "biuf" and a.size <= 16:
        out.extend(a.astype(np.float64).reshape(-1).tolist())


def _as_array(value, fw):
    if isinstance(value, (str, bytes, dict)) or value is None or is_model(value) or is_data(value):
        return None
    if not (_tensor_like(value) or isinstance(value, (list, tuple))):
        return None
    a = _measured(value, fw)
    return a if a is not None and a.dtype.kind in "biuf" else None


def _fits(shape: tuple, dims: list) -> tuple | None:
    """The shape as `dims` wants it (dropping or adding unit axes), or None."""
    want = [None if d == "*" else int(d) for d in dims]
    core = [s for s in shape]
    if len(core) == len(want) and all(w is None or w == s for w, s in zip(want, core)):
        return tuple(core)
    # a unit axis more or less: (256, 1) / (1, 256) for (256,), (n, 32, 32) for (n, 32, 32, 1)
    squeezed = [s for s in core if s != 1]
    for cand in (squeezed, core + [1], [core[0], 1, *core[1:]] if core else core):
        if len(cand) == len(want) and all(w is None or w == s for w, s in zip(want, cand)):
            return tuple(cand)
    return None


def pick(returns: str, env: dict, assigned: list, record: dict, fw, bound: dict):
    """What the cells left, as the function returns it."""
    values = [env[n] for n in assigned if n in env] + ([env[_LAST]] if env.get(_LAST) is not None else [])
    if returns == "numbers":
        out: list = []
        for v in values:
            _numbers(v, fw, out)
        for m in _NUMBER.finditer(record.get("printed", "")):
            out.append(float(m.group(0)))
        if not out:
            raise InlineError("the cells computed no number")
        if len(set(out)) > MAX_NUMBERS:
            # the judge takes the number nearest its own: out of many, that proves nothing
            raise InlineError(f"the cells computed or printed {len(set(out))} different numbers (more than "
                              f"{MAX_NUMBERS}): which one is the answer cannot be told")
        return np.asarray(out, np.float64)
    if returns == "optimizer":
        # the one a model was compiled with, else the last one the cells made
        models = [v for v in values if is_model(v)] + list(bound.get("models", []))
        used = [m.optimizer for m in models if "Optimizer" in _names_of(getattr(m, "optimizer", None))]
        made = [v for v in values if "Optimizer" in _names_of(v)]
        if not used and not made:
            raise InlineError("the cells made no optimizer")
        return (used or made)[-1]
    if returns == "history":
        hist = [v for v in values if "History" in _names_of(v)] + list(record.get("fits", []))
        if not hist:
            raise InlineError("the cells trained nothing (no History)")
        return record["fits"][-1] if record.get("fits") else hist[-1]
    if returns == "model":
        models = [v for v in values if is_model(v)]
        return models[-1] if models else (bound.get("models") or [None])[0]
    dims = returns.split(":", 1)[1].split(",")
    found = []
    for v in values:
        a = _as_array(v, fw)
        if a is None:
            continue
        shape = _fits(tuple(a.shape), dims)
        if shape is not None:
            found.append(a.reshape(shape))
    if not found:
        raise InlineError(f"the cells left no array of shape ({', '.join(dims)})")
    if len(dims) == 1:          # a distribution, rather than the values it is over (an arange)
        dist = [a for a in found if np.isfinite(a).all() and a.min() >= -1e-6 and abs(float(a.sum()) - 1) < 1e-2]
        return (dist or found)[-1]
    whole = [a for a in found if np.all(a == np.round(a))]      # images or samples, not probabilities
    return (whole or found)[-1]


def run(entry: dict, ns: dict, plan: dict, call: dict) -> object:
    """Run the cells of `entry` with the call's arguments (param -> value) bound by role."""
    fw = importlib.import_module(f"grader.frameworks.{plan['framework']}")
    paths = plan.get("inline", {}).get("paths", {})
    try:
        tree = ast.parse(entry["source"])
    except SyntaxError as e:
        raise InlineError(f"the cells do not parse: {e.msg} (line {e.lineno})") from None
    tree = ast.fix_missing_locations(_Paths(paths).visit(tree))
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        tree.body[-1] = ast.copy_location(ast.Assign([ast.Name(_LAST, ast.Store())], last.value), last)
        ast.fix_missing_locations(tree)
    free, uses, assigned = analyse(tree)
    by_role: dict[str, object] = {}
    for p, v in call.items():
        r = param_role(p)
        if r:
            by_role[r] = v
    bind, models = {}, []
    image = by_role.get("image")
    for name in free:
        value = ns.get(name, _ABSENT)
        r = role(name, uses.get(name, set()), value)
        if r == "model":
            m = by_role.get("model")
            if m is None:
                m = value if isinstance(value, StubModel) else StubModel()
            bind[name] = m
            models.append(m)
        elif r == "data":
            if image is not None:
                loader = "DataLoader" in _names_of(value) or "loader" in name.lower()
                bind[name] = ImageData(image, batch=getattr(value, "batch_size", 0) or 1 if loader else 0)
                continue
            s = split(name, uses.get(name, set()))
            order = {"test": ["test", "val", "train"], "val": ["val", "test", "train"], "train": ["train", "val", "test"]}
            bind[name] = next((by_role[f"data:{w}"] for w in order[s] if f"data:{w}" in by_role), None)
            if bind[name] is None:
                bind[name] = value if value is not _ABSENT else StubData()
        elif r == "image" and image is not None:
            bind[name] = image
        elif r == "path":
            target = map_path(value, paths, file_ok="arg:load" in uses.get(name, set()))
            if target:
                bind[name] = target
    env = dict(ns)
    env.update(bind)
    env.pop(_LAST, None)
    record: dict = {}
    seed = by_role.get("seed")
    fw.seed(int(seed) if isinstance(seed, (int, np.integer)) else int(plan.get("seed", 0)))
    code = compile(tree, f"<ipython-input-inline-{entry['item']}>", "exec")
    printed = io.StringIO()
    failed = None
    with binding([ns], {k: v for k, v in bind.items() if k in ns or k in free}), \
            _wrapped(models, by_role.get("epochs", None), paths, record), \
            contextlib.redirect_stdout(printed):
        try:
            exec(code, env)  # noqa: S102 - the student's own cells, in the armed kernel
        except Exception as e:  # noqa: BLE001 - the student's cells may raise anything
            failed = e
    record["printed"] = printed.getvalue()[-20000:]
    if failed is not None and not (entry["returns"] == "optimizer" and all(isinstance(m, StubModel) for m in models)):
        raise failed
    # an optimizer made before the cells failed on what the stub model could not give them (a
    # History to print) is still the one they made
    return pick(entry["returns"], env, assigned + [k for k in (_LAST,) if k in env], record, fw,
                {"models": models})


def roles(entry: dict, ns: dict) -> dict[str, str]:
    """free variable -> its role, for a helper that needs to know what the cells will read
    (e.g. whether they bring their own model)."""
    try:
        free, uses, _ = analyse(ast.parse(entry["source"]))
    except SyntaxError:
        return {}
    return {n: role(n, uses.get(n, set()), ns.get(n, _ABSENT)) for n in free}


def lifted(name: str, entry: dict, ns: dict, plan: dict):
    """The function the cells stand for, with the contract's parameters. With `repeat`, a call
    asking for n results runs the cells again (on the next seeds) until it has n (samples)."""
    params = list(entry.get("params", []))

    def fn(*args, **kwargs):
        call = dict(zip(params, args))
        call.update({k: v for k, v in kwargs.items() if k in params})
        rep = entry.get("repeat")
        want = call.get(rep) if rep else None
        parts: list = []
        for k in range(max(1, int(want) if isinstance(want, (int, np.integer)) else 1)):
            again = {**call, "seed": int(call.get("seed") or 0) + k} if k and "seed" in call else call
            out = run(entry, ns, {**plan, "seed": int(plan.get("seed", 0)) + k}, again)
            if not isinstance(want, (int, np.integer)) or not hasattr(out, "shape") or not len(getattr(out, "shape")):
                return out
            parts.append(out)
            if sum(len(p) for p in parts) >= want:
                break
        return np.concatenate(parts)[:want]

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = f"the cells {entry.get('cells')} that answer {entry.get('item')}"
    fn.__signature__ = inspect.Signature([inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                          for p in params])
    return fn


# ---- pinning --------------------------------------------------------------------------------------

def derive(base, flags: str, values: dict | None = None):
    """(the derived class, the flag, its value, the base's own value) for `base`'s one boolean
    parameter named like `flags`: the values the notebook passes where it builds each model
    (grader/inline.flag_values), else the default turned the other way; None without one such
    parameter. The base's own value is None when it is the default."""
    try:
        sig = inspect.signature(base)
    except (TypeError, ValueError):
        return None
    hits = [p for p in sig.parameters.values() if re.search(flags, p.name, re.I) and isinstance(p.default, bool)]
    if len(hits) != 1:
        return None
    flag, default = hits[0].name, hits[0].default
    values = values or {}
    own = values.get("base", {}).get(flag)
    other = values.get("derived", {}).get(flag)
    if other is None:
        other = not (default if own is None else own)
    if own is None and other == default:          # the notebook builds the other model with the default
        own = not default
    if own == other:
        own = None
    return functools.partial(base, **{flag: other}), flag, other, (None if own in (None, default) else own)


def pin(pinned: dict, ns: dict, plan: dict) -> list[dict]:
    """For the graded names still missing: a class derived by a flag of another, and the
    functions the marked cells stand for. Returns notes for the review column."""
    notes = []
    spec = plan.get("inline") or {}
    made: dict = {}
    pinned[MADE] = made
    for name, d in spec.get("derived", {}).items():
        if name in pinned or d["base"] not in pinned:
            continue
        base = pinned[d["base"]]
        got = derive(base, d["flags"], d.get("values"))
        if got:
            derived, flag, value, own = got
            pinned[name] = derived
            notes.append({"name": name, "note": f"`{d['base']}({flag}={value})` graded as `{name}` (a flag of "
                                                f"`{d['base']}`)"})
            if own is not None:                   # the notebook's own model is the base with the flag set
                pinned[d["base"]] = functools.partial(base, **{flag: own})
                notes.append({"name": d["base"], "note": f"`{d['base']}({flag}={own})` graded as `{d['base']}` "
                                                        "(the setting the notebook builds its model with)"})
    for name, entry in spec.get("functions", {}).items():
        if name in pinned:
            continue
        pinned[name] = lifted(name, entry, ns, plan)
        made[name] = (pinned[name], entry)
        if entry.get("note"):                     # the locator was unsure which cells answer the item
            cells = ", ".join(str(c) for c in entry.get("cells", []))
            notes.append({"name": name, "note": f"`{name}` graded from the cells {cells} for {entry['item']}: "
                                                f"{entry['note']}"})
    return notes
