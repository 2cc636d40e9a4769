"""What a check's observe() gets, inside the kernel: the student's definitions, the
reference pieces the probe declares (asked for when first used, dropped after the probe),
the reference's weights for a model of the student's (paired by the grader), the framework
adapter, and the assignment's data and helpers. Never hand a Context to student code.

One bug costs once through one mechanism, `standing_in`: while it is active, the named
definitions are replaced, for the probe and for the student's own code that looks them up
by name, by the reference's (or by an object a helper provides, e.g. a recording wrapper).
A probe declares it in the toml: `stand_in` (always) or `fallback` (only when the probe
fails with the student's own definitions; see runner.run_probe)."""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from pathlib import Path

_ABSENT = object()


class MissingDefinition(Exception):
    pass


class MissingArgument(TypeError):
    """The student's definition lacks an argument of the contract's that this check needs."""


@contextlib.contextmanager
def binding(spaces: list[dict], values: dict):
    """Bind `values` in each namespace for the duration; restore (or remove) them after."""
    saved = [(space, name, space.get(name, _ABSENT)) for space in spaces for name in values]
    try:
        for space, name, _ in saved:
            space[name] = values[name]
        yield
    finally:
        for space, name, old in saved:
            if old is _ABSENT:
                space.pop(name, None)
            else:
                space[name] = old


class Context:
    def __init__(self, ns: dict, plan: dict, observe, pieces=None, seed: int = 0, pinned: dict | None = None):
        self.ns, self.plan, self.o = ns, plan, observe
        self.pinned = dict(ns) if pinned is None else pinned   # the graded definitions, as probing began
        self.fw = importlib.import_module(f"grader.frameworks.{plan['framework']}")
        self.data_dir = Path(plan["data_dir"])
        self.seed = seed
        self.stood_in: list[str] = []      # the names the reference's definitions replaced in this probe
        self._active: dict = {}            # name -> the stand-in in force
        self._pieces = pieces              # runner.Pieces: the reference pieces of this probe
        self.notes: list[str] = []         # what a marker should know (arguments dropped or supplied, retries)
        self.alternate = False             # the retry: numpy for tensors, int64 for int32 labels (and back)
        self.recorded: dict = {}           # the reference's run: the weights reference_weights saw
        self._weights_asked = 0

    # ---- definitions ---------------------------------------------------------------------
    def get(self, name: str):
        """The definition the student's code would see now (the student's, pinned when probing
        began, or a stand-in)."""
        if name in self._active:
            return self._active[name]
        if name not in self.pinned:
            raise MissingDefinition(f"`{name}` is not defined in the submission")
        return self.pinned[name]

    def inline(self, name: str) -> dict | None:
        """What the kernel runs for `name` when the cells that answer its item stand for it
        (grader/probe/lifted.py made it when probing began: their source, parameters, item);
        None for a definition, a stand-in or a missing name."""
        from .lifted import MADE
        made = self.pinned.get(MADE)
        if not isinstance(made, dict) or name not in made or name in self._active:
            return None
        fn, entry = made[name]
        return entry if self.pinned.get(name) is fn else None

    def ref(self, name: str):
        """The reference's definition: only those the probe declares (stand_in, fallback,
        reference); its piece is sent by the grader when first used in this probe."""
        if name not in {*self.o.stand_in, *self.o.fallback, *self.o.reference}:
            raise MissingDefinition(f"the probe uses the reference's `{name}` without declaring it "
                                    "(an authoring error: add it to `reference`)")
        if self._pieces is None:
            raise MissingDefinition("this probe has no access to the reference (an authoring error)")
        return self._pieces.get(name)

    def build(self, name: str, init: dict | None = None):
        """Instantiate a graded definition through the adapter (on the grading device), by
        keyword; see `arguments`."""
        definition = self.get(name)
        return self.fw.build(definition, self.arguments(name, definition, dict(init or {})))

    def call(self, name: str, *args, **kwargs):
        """Call a graded function as the contract names its arguments: by keyword where the
        student's signature takes the contract's names, else positionally in the contract's
        order; the contract's defaults are supplied for what the student requires."""
        import inspect
        fn = self.get(name)
        spec = self.plan.get("contract", {}).get(name, {})
        params = spec.get("params", [])
        given = dict(zip(params, args)) if params else {}
        if len(args) > len(params):
            return fn(*args, **kwargs)
        given.update(kwargs)
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            return fn(*args, **kwargs)
        names = sig.parameters
        given = self._renamed(name, given, names)
        # an optional argument of the contract's that the definition does not take (the course's
        # CalligraphySequence has no `shuffle`) is left out, unless the check needs it; one that
        # **kwargs passed on to where it is refused, too (not noted: the contract allows it)
        optional = [k for k in given if k not in names and k in spec.get("defaults", {}) and k not in self.o.needs]
        takes_any = any(p.kind == p.VAR_KEYWORD for p in names.values())
        if not takes_any:
            for k in optional:
                del given[k]
        if takes_any or all(k in names for k in given):
            try:
                return fn(**self._defaults(name, sig, given))
            except TypeError as e:
                refused = [k for k in optional if k in given and f"'{k}'" in str(e)]
                if not refused:
                    raise
                for k in refused:
                    del given[k]
                return fn(**self._defaults(name, sig, given))
        return fn(*args, **kwargs)

    def arguments(self, name: str, definition, given: dict) -> dict:
        """The keyword arguments to build `definition` with: those its signature takes (an
        argument it lacks is dropped, noted, unless the check `needs` it), plus the
        contract's defaults for arguments it requires that were not given."""
        import inspect
        try:
            sig = inspect.signature(definition)
        except (TypeError, ValueError):
            return given
        params = sig.parameters
        takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
        given = self._renamed(name, given, params)
        out = {}
        for k, v in given.items():
            if k in params or takes_any:
                out[k] = v
            elif k in self.o.needs:
                raise MissingArgument(f"`{name}` takes no `{k}` argument, which this check needs")
            else:
                self.notes.append(f"`{name}` takes no `{k}`: built without it")
        return self._defaults(name, sig, out)

    def _renamed(self, name: str, given: dict, params) -> dict:
        """The contract's keywords under the names the definition uses for them (the toml's
        `keywords`: the course's `stride`, `pad`, `nonlinearity`, `image_dir` are the contract's
        names too, so this is not noted)."""
        groups = [{k, *v} for k, v in self.plan.get("keywords", {}).items()]
        out = {}
        for k, v in given.items():
            other = next((o for g in groups if k in g for o in sorted(g) if o != k and o in params), None)
            if k not in params and other is not None and other not in given:
                out[other] = v
            else:
                out[k] = v
        return out

    def _defaults(self, name: str, sig, given: dict) -> dict:
        defaults = self.plan.get("contract", {}).get(name, {}).get("defaults", {})
        out = dict(given)
        for p in sig.parameters.values():
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in out \
                    and p.name in defaults:
                out[p.name] = defaults[p.name]
                self.notes.append(f"`{name}` requires `{p.name}`: the contract's default {defaults[p.name]!r} was used")
        return out

    # ---- inputs in the form the course's pipeline passes ---------------------------------
    def labels(self, y):
        """Labels as the course's loaders yield them (int32 for the Keras courses, int64 for
        PyTorch's); the retry uses the other width."""
        import numpy as np
        wide = (self.fw.NAME == "torch") != self.alternate
        return np.asarray(y).astype(np.int64 if wide else np.int32)

    def tensor(self, x):
        """A framework tensor (what layers receive in the course's pipeline); numpy on the retry."""
        import numpy as np
        if self.alternate:
            return np.asarray(self.fw.to_numpy(x))
        return self.fw.as_tensor(x)

    @contextlib.contextmanager
    def standing_in(self, replacements: dict):
        """Student code that looks up one of the names gets the replacement instead, in the
        notebook's namespace and in the module that defined the student's version."""
        spaces = [self.ns]
        for name in replacements:
            mod = sys.modules.get(getattr(self.ns.get(name), "__module__", "") or "")
            if mod is not None and mod.__dict__ is not self.ns and mod.__dict__ not in spaces:
                spaces.append(mod.__dict__)
        active = dict(self._active)
        try:
            with binding(spaces, replacements):
                self._active.update(replacements)
                yield
        finally:
            self._active = active

    # ---- the reference's weights -------------------------------------------------------------
    def reference_weights(self, model, inputs: list, transfer: str = "trace", trace: list | None = None) -> dict[str, str]:
        """Give `model` the weights the reference's model had at the same call of the
        reference's own run of this probe, paired by the grader: `trace` op by op in the order
        the parameterised ops ran (by kind and weight shapes), `name` by name else creation
        order, `name-then-trace` the one, else the other (`trace`: the model's trace on
        `inputs` when the caller has it already). In the reference's own run the model keeps
        its weights and they are recorded with its trace (the expectations keep them; they
        never reach a student's kernel). Returns {reference's name: model's name};
        MissingDefinition when the two cannot be paired."""
        if self._pieces is None:
            raise MissingDefinition("the reference's weights cannot be asked for here (an authoring error)")
        n = str(self._weights_asked)
        self._weights_asked += 1
        shapes = {k: [int(s) for s in v.shape] for k, v in self.fw.weight_arrays(model).items()}

        def ask(mode: str):
            nonlocal trace
            if mode == "trace" and trace is None:
                trace = self.fw.trace(model, inputs)
            return self._pieces.weights({"n": n, "transfer": mode, "shapes": shapes,
                                         "trace": trace if mode == "trace" else None})

        if transfer == "name-then-trace":
            try:
                answer, blob = ask("name")
            except MissingDefinition:
                answer, blob = ask("trace")
        else:
            answer, blob = ask(transfer)
        if answer.get("own"):
            if trace is None and transfer != "name":
                trace = self.fw.trace(model, inputs)
            self.recorded[n] = {"weights": self.fw.weight_arrays(model), "trace": trace, "order": list(shapes)}
            return {k: k for k in shapes}
        from .observations import decode
        values = decode(answer.get("values", []), blob)
        self.fw.set_weights(model, dict(zip(answer.get("names", []), values)))
        return dict(answer.get("mapping", {}))

    # ---- the assignment's helpers ----------------------------------------------------------
    @property
    def helpers(self):
        """The assignment's probes.py, loaded once per probing session into a module of its
        own (not looked up in sys.modules, where student code could have planted one)."""
        cache = self.plan.setdefault("_loaded", {})
        if "helpers" not in cache:
            path = Path(self.plan["helpers_path"])
            spec = importlib.util.spec_from_file_location("grader_assignment_probes", path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            cache["helpers"] = mod
        return cache["helpers"]

    def helper(self, name: str):
        fn = getattr(self.helpers, name, None)
        if not callable(fn):
            raise AttributeError(f"probes.py has no helper `{name}` (an authoring error)")
        return fn

    def file(self, name: str):
        """A reference file the probe declared in `files`, as a binary stream (sent by the
        grader when asked; it never touches the kernel's filesystem)."""
        import io
        if name not in self.o.files:
            raise PermissionError(f"the probe did not declare the reference file {name!r} (an authoring error)")
        if self._pieces is None:
            raise PermissionError(f"the reference file {name!r} cannot be read here")
        return io.BytesIO(self._pieces.file(name))
