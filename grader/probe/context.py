"""What a check's observe() gets, inside the kernel: the student's definitions, the
reference's (only for probes that need them), the framework adapter, and the assignment's
data and helpers.

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


class Context:
    def __init__(self, ns: dict, plan: dict, observe, reference_loader=None, seed: int = 0):
        self.ns, self.plan, self.o = ns, plan, observe
        self.fw = importlib.import_module(f"grader.frameworks.{plan['framework']}")
        self.data_dir = Path(plan["data_dir"])
        self.seed = seed
        self.stood_in: list[str] = []      # the names the reference's definitions replaced in this probe
        self._reference_loader = reference_loader
        self._reference: dict | None = None

    # ---- definitions ---------------------------------------------------------------------
    def get(self, name: str):
        """The definition the student's code would see now (the student's, or a stand-in)."""
        if name not in self.ns:
            raise MissingDefinition(f"`{name}` is not defined in the submission")
        return self.ns[name]

    def ref(self, name: str):
        """The reference's definition (probes that use it are hidden checks)."""
        space = self.reference
        if name not in space:
            raise MissingDefinition(f"`{name}` is not defined in the reference (an authoring error)")
        return space[name]

    def build(self, name: str, init: dict | None = None):
        """Instantiate a graded definition through the adapter (on the grading device)."""
        return self.fw.build(self.get(name), init or {})

    @property
    def reference(self) -> dict:
        if self._reference is None:
            if self._reference_loader is None:
                raise MissingDefinition("this probe has no access to the reference (an authoring error)")
            self._reference = self._reference_loader()
        return self._reference

    @contextlib.contextmanager
    def standing_in(self, replacements: dict):
        """Student code that looks up one of the names gets the replacement instead, in the
        notebook's namespace and in the module that defined the student's version."""
        spaces = [self.ns]
        for name in replacements:
            mod = sys.modules.get(getattr(self.ns.get(name), "__module__", "") or "")
            if mod is not None and mod.__dict__ is not self.ns and mod.__dict__ not in spaces:
                spaces.append(mod.__dict__)
        saved = [(space, name, space.get(name, _ABSENT)) for space in spaces for name in replacements]
        try:
            for space, name, _ in saved:
                space[name] = replacements[name]
            yield
        finally:
            for space, name, old in saved:
                if old is _ABSENT:
                    space.pop(name, None)
                else:
                    space[name] = old

    # ---- the assignment's helpers ----------------------------------------------------------
    @property
    def helpers(self):
        mod = sys.modules.get("grader_assignment_probes")
        if mod is None:
            path = Path(self.plan["helpers_path"])
            spec = importlib.util.spec_from_file_location("grader_assignment_probes", path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules["grader_assignment_probes"] = mod
            spec.loader.exec_module(mod)
        return mod

    def helper(self, name: str):
        fn = getattr(self.helpers, name, None)
        if not callable(fn):
            raise AttributeError(f"probes.py has no helper `{name}` (an authoring error)")
        return fn

    def file(self, name: str) -> Path:
        """A reference file the probe declared in `files`."""
        if name not in self.o.files:
            raise PermissionError(f"the probe did not declare the reference file {name!r} (an authoring error)")
        return Path(self.plan["files"][name])
