"""Runs inside the student's kernel, called by the armed library (armed.py): pins the graded
definitions and runs one probe at a time. Probes see the plan (which definitions, inputs,
weights), never an expected value or a tolerance."""
from __future__ import annotations

import contextlib
import io
import sys
import traceback
from pathlib import Path

from ..frameworks import NotPlain
from . import lifted
from .context import Context, MissingDefinition


class ProbeTimeout(BaseException):
    """Raised in the probe thread when a probe passes its time cap (a BaseException, so that
    a student's `except Exception` cannot swallow it)."""


class Pieces:
    """The reference pieces of one probe, asked for by name when first used (runner.py's
    `ask`: the grader answers only what the probe declares) and executed into one namespace
    of the probe's own, which `drop` empties when the probe ends."""

    def __init__(self, ask=None):
        self._ask = ask
        self.space: dict = {"__name__": "grader_reference", "__builtins__": __builtins__}
        self.files: dict[str, bytes] = {}

    def get(self, name: str):
        if name not in self.space:
            if self._ask is None:
                raise MissingDefinition("this probe has no access to the reference (an authoring error)")
            answer, _ = self._ask("piece", {"name": name})
            if answer.get("error"):
                raise MissingDefinition(str(answer["error"])[:300])
            exec(compile(str(answer.get("source", "")), "reference", "exec"), self.space)
            del answer
        if name not in self.space:
            raise MissingDefinition(f"`{name}` is not defined in the reference (an authoring error)")
        return self.space[name]

    def file(self, name: str) -> bytes:
        if name not in self.files:
            if self._ask is None:
                raise PermissionError(f"the reference file {name!r} cannot be read here")
            answer, data = self._ask("file", {"name": name})
            if answer.get("error"):
                raise PermissionError(str(answer["error"])[:300])
            self.files[name] = data
        return self.files[name]

    def weights(self, question: dict) -> tuple[dict, bytes]:
        if self._ask is None:
            raise MissingDefinition("the reference's weights cannot be asked for here (an authoring error)")
        answer, data = self._ask("weights", question)
        if answer.get("error"):
            raise MissingDefinition(str(answer["error"])[:300])
        return answer, data

    def drop(self) -> None:
        self.space.clear()
        self.files.clear()


def describe(exc: BaseException) -> dict:
    """An exception as one line a student can act on: type, first line, where in their code."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = ""
    for fr in reversed(tb):
        if "/grader/" not in fr.filename and "site-packages" not in fr.filename and "/lib/python" not in fr.filename:
            where = f"line {fr.lineno} of {Path(fr.filename).name}" if fr.filename else ""
            break
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = "MissingDefinition" if isinstance(exc, MissingDefinition) else type(exc).__name__
    return {"type": kind, "message": msg[:300], "where": where}


def _workspace_modules(workspace: str) -> list:
    """Modules the submission brought (a package or companion files), already imported."""
    root = workspace.rstrip("/") + "/"
    return [m for m in list(sys.modules.values())
            if isinstance(getattr(m, "__file__", None), str) and m.__file__.startswith(root)]


def _students(obj, workspace: str) -> bool:
    """Defined by the submission (the notebook or a file of its own), not imported from a library."""
    mod = sys.modules.get(getattr(obj, "__module__", "") or "")
    f = getattr(mod, "__file__", None)
    return getattr(obj, "__module__", "") == "__main__" or (isinstance(f, str) and f.startswith(workspace))


def compatible(obj, spec: dict, workspace: str) -> bool:
    """Could `obj` be the contract's definition under another name: the same kind, a base class
    of the same name, and a signature that takes the contract's required arguments?"""
    import inspect
    if not _students(obj, workspace):
        return False
    if spec["kind"] == "class":
        if not isinstance(obj, type):
            return False
        wanted = {b.rsplit(".", 1)[-1] for b in spec.get("bases", [])}
        if wanted and not wanted & {c.__name__ for c in obj.__mro__[1:]}:
            return False
    elif not inspect.isfunction(obj):
        return False
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    required = [p for p in spec.get("params", []) if p not in spec.get("defaults", {})]
    positional = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    var = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
    must = [p for p in positional if p.default is p.empty]
    return (len(positional) >= len(required) or var) and len(must) <= len(spec.get("params", [])) + 1


def pin(ns: dict, plan: dict, workspace: str) -> tuple[dict, list[dict]]:
    """The definitions as they are when probing starts (later rebinding does not change what
    is graded): the notebook's namespace; contract names the notebook lacks from the
    submission's own modules (a package layout), imported if need be; else an alias (the
    toml's, or --alias), else the one candidate with the contract's base class and a
    compatible signature. Returns (pinned, notes for the review column)."""
    pinned = dict(ns)
    notes: list[dict] = []
    missing = [n for n in plan["names"] if n not in pinned]
    if missing:
        for root in plan.get("import_roots", []):          # a package's parent: `from pkg.x import y` works
            if root not in sys.path:
                sys.path.append(root)
        for name in plan.get("modules", []):
            if name not in sys.modules:
                try:
                    __import__(name)
                except Exception as e:  # noqa: BLE001 - a module of the student's that does not import
                    notes.append({"name": name, "note": f"the submission's module {name} did not import "
                                                        f"({type(e).__name__}: {str(e)[:120]})"})
                    continue
        for mod in _workspace_modules(workspace):
            for n in missing:
                if n not in pinned and n in vars(mod):
                    pinned[n] = vars(mod)[n]
                    notes.append({"name": n, "note": f"found in the module {mod.__name__}"})
    contract, aliases = plan.get("contract", {}), plan.get("aliases", {})
    graded = set(plan["names"])
    for n in [m for m in plan["names"] if m not in pinned]:       # aliases first: they are certain
        hits = [a for a in aliases.get(n, []) if a in pinned]
        if len(hits) == 1:
            pinned[n] = pinned[hits[0]]
            notes.append({"name": n, "note": f"`{hits[0]}` graded as `{n}` (an alias)"})
    notes += lifted.pin(pinned, ns, plan)                      # a flag of another class; marked cells
    given = set(plan.get("given", []))                         # the course's helpers are no one's answer
    for n in [m for m in plan["names"] if m not in pinned]:
        if n not in contract:
            continue
        taken = {id(pinned[g]) for g in graded if g in pinned}
        cands = sorted(k for k, v in pinned.items() if k not in graded and not k.startswith("_") and k not in given
                       and id(v) not in taken and compatible(v, contract[n], workspace))
        if len(cands) == 1:
            pinned[n] = pinned[cands[0]]
            notes.append({"name": n, "note": f"`{cands[0]}` graded as `{n}` (the one definition of its kind)"})
        elif cands:
            notes.append({"name": n, "note": f"`{n}` is missing; several candidates ({', '.join(cands[:4])}), "
                                             "none chosen"})
    return pinned, notes


def run_probe(pinned: dict, ns: dict, plan: dict, key: str, ask=None) -> dict:
    """One probe: {"value", "stood_in", "notes", "recorded"} or {"error"}, with "violations"
    when a value that came out of student code was not plain. With `fallback`, a probe that
    fails on the student's own definitions is run again with each named one replaced by the
    reference's, in turn; the first run that succeeds is kept. Reference pieces come from the
    grader through `ask` when first used and are dropped when the probe ends."""
    from grader import checks

    probe = plan["probes"][key]
    module = checks.get(probe["kind"])
    o = module.Observe.model_validate(probe["observe"])
    pieces = Pieces(ask)
    try:
        return _attempts(pinned, ns, plan, probe, module, o, pieces)
    finally:
        pieces.drop()


def _attempts(pinned, ns, plan, probe, module, o, pieces) -> dict:
    # the student's own first; on a type or value error once more with the other input form
    # (tensor <-> numpy, int32 <-> int64 labels); then each fallback in turn
    attempts = [([], False), ([], True)] + [([n], False) for n in o.fallback]
    error: BaseException | None = None
    retry_error = ""
    for names, alternate in attempts:
        if alternate and not _form_error(error):
            continue
        ctx = Context(ns, plan, o, pieces, probe.get("seed", plan.get("seed", 0)), pinned=pinned)
        ctx.alternate = alternate
        if alternate:
            retry_error = f"{type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"
        sink = io.StringIO()
        try:
            ctx.fw.seed(ctx.seed)
            replacing = {n: ctx.ref(n) for n in (*o.stand_in, *names)}
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), ctx.standing_in(replacing):
                ctx.stood_in = list(names)
                value = module.observe(ctx, o)
            if alternate:
                ctx.notes.append(f"retried with the other input form after {retry_error}")
            return {"value": value, "stood_in": list(names), "notes": ctx.notes[:10], "recorded": ctx.recorded}
        except NotPlain as e:
            # a value out of student code that is not what the framework computes: the probe is void
            return {"error": describe(e), "violations": [f"not a plain value: {str(e)[:200]}"]}
        except Exception as e:  # noqa: BLE001 - the student's code may raise anything
            if not alternate:
                error = e
    return {"error": describe(error)}


def _form_error(e: BaseException | None) -> bool:
    """An error the other input form may cure (a dtype, a numpy array where a tensor was
    expected, or the reverse)."""
    if e is None or isinstance(e, MissingDefinition):
        return False
    return isinstance(e, (TypeError, ValueError)) or type(e).__name__ in {"InvalidArgumentError", "UnimplementedError"}
