"""Probe stage, grader side: send the probe plan to the armed library in the submission's
kernel and collect one authenticated observation per probe (see channel.py, armed.py).

All probes of a submission run in one request, in the grader's order: those that need no
reference piece first, then the others by what they may bring in. A probe that passes its
time cap is stopped inside the kernel; one that does not stop, or a kernel that dies, costs
only the probes not yet done: the kernel is restarted (its cells replayed) and the rest are
asked for again. Only the probe's parameters travel with the request: never an expected
value or a tolerance. While a probe runs the kernel may ask for what it declares (a
reference piece, a reference file) and for the reference's weights of a model (paired here
with the reference's run); the grader answers only those, and remembers which graded names'
reference pieces the kernel has held: a kernel that has held a piece of what the next probe
grades is replaced first (the kernel stops there by itself; running on is tampering)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import inline as inline_plan
from ..config import Assignment
from . import observations, pieces

GRACE_S = 20.0          # past a probe's cap before the kernel is killed
PUBLIC_SEED = 1000      # public checks draw other inputs than hidden ones (seed + this)


@dataclass
class Observation:
    value: object = None
    error: str = ""  # why there is no value, in words a student can act on
    stood_in: list = field(default_factory=list)  # reference definitions that replaced the student's
    recorded: dict = field(default_factory=dict)  # the reference's run: weights ctx.reference_weights saw
    integrity: list = field(default_factory=list)  # what was blocked or changed during this probe (evidence)
    seconds: float = 0.0
    notes: list = field(default_factory=list)  # arguments dropped or supplied, retries with the other input form

    @property
    def ok(self) -> bool:
        return not self.error


def _error_text(err: dict) -> str:
    text = f"{err.get('type', 'Error')}: {err.get('message', '')}".rstrip(": ")
    if err.get("type") == "MissingDefinition":
        text = str(err.get("message", ""))
    return (text + (f" ({err['where']})" if err.get("where") else ""))[:400]


def workspace_modules(files: Path, entry_dir: Path) -> list[str]:
    """Importable module names of the submission's Python files, relative to the entry's folder."""
    out = []
    for p in sorted(entry_dir.rglob("*.py")):
        rel = p.relative_to(entry_dir).with_suffix("")
        if any(part.startswith((".", "__MACOSX")) for part in rel.parts) or rel.name == "__init__":
            rel = rel.parent if rel.name == "__init__" else None
        if rel is not None and str(rel) != "." and all(part.isidentifier() for part in rel.parts):
            out.append(".".join(rel.parts))
    return out


def _module_name(entry: Path, base: Path) -> str:
    """The entry file's module name, relative to `base` ("" for a notebook)."""
    if entry.suffix != ".py" or not entry.is_relative_to(base):
        return ""
    return ".".join(entry.relative_to(base).with_suffix("").parts)


def package_base(files: Path, entry_dir: Path) -> Path:
    """Where the submission's own imports are rooted: the entry's folder, or, when that folder is
    inside a package (an `__init__.py` beside the entry), the folder that holds the package, so
    that its modules import each other by the package's name (`from pkg.config import ...`)."""
    base = entry_dir
    while base != files and (base / "__init__.py").is_file() and base.parent.is_relative_to(files):
        base = base.parent
    return base


_CONTRACTS: dict = {}


def contract(assignment: Assignment) -> dict:
    from .. import names
    key = (assignment.slug, str(assignment.reference_path))
    if key not in _CONTRACTS:
        _CONTRACTS[key] = names.contract(assignment)
    return _CONTRACTS[key]


def plan(assignment: Assignment, session, seed: int = 0, visibility: set[str] | None = None,
         aliases: dict | None = None) -> dict:
    """The kernel's plan: probe kinds and observe parameters, inside paths, names to pin and
    what the contract says of them (kinds, bases, signatures: public), aliases."""
    from .. import checks
    pol = session.policy
    probes = {}
    for key, p in assignment.plan(visibility).items():
        o = p["observe"]
        probes[key] = {"kind": p["kind"], "observe": o.model_dump(mode="json"), "timeout_s": o.timeout_s,
                       "seed": seed + (PUBLIC_SEED if p["visibility"] == "public" else 0),
                       "grades": sorted(pieces.grades(assignment, checks.get(p["kind"]), o))}
    helpers = assignment.helpers_path
    data_dir = pol.inside(assignment.directory / "data") if (assignment.directory / "data").is_dir() else ""
    base = package_base(session.files, session.cwd)
    return {
        "framework": assignment.framework,
        "data_dir": data_dir,
        "helpers_path": pol.inside(helpers) if helpers else "",
        "seed": seed,
        "timeout_s": assignment.budget.probe_timeout_s,
        "names": sorted({*assignment.names, "ANSWERS"}),
        "modules": [m for m in workspace_modules(session.files, base)
                    if m != _module_name(session.files / session.sub.entry, base)],          # the entry's cells have run
        "import_roots": [pol.inside(base)] if base != session.cwd else [],
        "contract": contract(assignment),
        "aliases": {k: sorted({*assignment.aliases.get(k, ()), *(aliases or {}).get(k, ())})
                    for k in {*assignment.aliases, *(aliases or {})}},
        "keywords": {k: list(v) for k, v in assignment.keywords.items()},
        "given": list(assignment.given),
        "inline": inline_plan.plan(assignment, session.sub.notebook, data_dir),
        "probes": probes,
    }


def order(assignment: Assignment, keys: list[str]) -> list[str]:
    """Probes that bring no reference piece first, then by how many graded names' pieces they
    may bring in (so that what a kernel holds grows), the toml's order otherwise."""
    plan = assignment.plan()
    size = {k: len(pieces.may_hold(assignment, plan[k]["observe"])) for k in keys}
    return sorted(keys, key=lambda k: (size[k], keys.index(k)))


class Answers:
    """The grader's side of a kernel's questions during probing: what each probe may have
    (its declared pieces and files), the statements already sent per probe, and the graded
    names whose reference pieces the kernel has held since it started."""

    MAX_ASKS = 64

    def __init__(self, assignment: Assignment | None, expected: dict | None, plan: dict | None = None):
        self.a, self.expected = assignment, expected
        self.ref = pieces.of(assignment) if assignment is not None else None
        self.plan = plan if plan is not None else assignment.plan()
        self.held: set[str] = set()
        self.sent: dict[str, set] = {}
        self.asks: dict[str, int] = {}

    def answer(self, key: str, header: dict, data: bytes) -> tuple[dict, bytes]:
        self.asks[key] = self.asks.get(key, 0) + 1
        if self.asks[key] > self.MAX_ASKS:
            return {"type": "answer", "error": "too many questions from one probe"}, b""
        o = self.plan[key]["observe"]
        what = header.get("what")
        try:
            if what == "piece":
                return self._piece(key, o, str(header.get("name", ""))), b""
            if what == "file":
                name = str(header.get("name", ""))
                if name not in o.files or self.a is None or self.a.reference_dir is None:
                    raise KeyError(f"the probe did not declare the reference file {name!r}")
                return {"type": "answer"}, (self.a.reference_dir / name).read_bytes()
            if what == "weights":
                return self._weights(key, header)
        except (KeyError, ValueError, TypeError, OSError) as e:
            return {"type": "answer", "error": str(e.args[0] if e.args else e)[:300]}, b""
        return {"type": "answer", "error": f"unknown question {what!r}"}, b""

    def _piece(self, key: str, o, name: str) -> dict:
        if name not in pieces.declared(o):
            raise KeyError(f"the probe did not declare the reference's `{name}`")
        if self.ref is None:
            raise KeyError("no reference here")
        indices, graded = self.ref.closure([name])
        sent = self.sent.setdefault(key, set())
        new = [i for i in indices if i not in sent]
        sent.update(new)
        self.held |= graded
        return {"type": "answer", "source": self.ref.source(new), "graded": sorted(graded)}

    def _weights(self, key: str, header: dict) -> tuple[dict, bytes]:
        from .. import graph
        if self.expected is None:                   # the reference's own run: it keeps its weights
            return {"type": "answer", "own": True}, b""
        recorded = (self.expected.get(f"{key}@recorded") or {}).get(str(header.get("n")))
        if not isinstance(recorded, dict):
            raise KeyError("the reference's run recorded no weights for this call (an authoring error)")
        shapes = header.get("shapes")
        if not isinstance(shapes, dict) or len(shapes) > 100_000:
            raise ValueError("malformed weight names")
        theirs = {str(k): [int(d) for d in v] for k, v in shapes.items()}
        ours = recorded["weights"]
        mine = {k: list(ours[k].shape) for k in recorded.get("order") or list(ours)}
        transfer = header.get("transfer")
        pairs = None
        if transfer in ("name", "name-then-trace"):
            try:
                pairs = graph.pair_by_name(mine, theirs)
            except ValueError:
                if transfer == "name":
                    raise
        if pairs is None:
            try:
                pairs = graph.pair_weights(recorded["trace"], header.get("trace"))
            except graph.InvalidGraph as e:
                raise ValueError(f"the trace is malformed: {e}") from None
        mapping: dict[str, str] = {}
        values: dict[str, object] = {}
        for a, b in pairs:
            if a not in ours or b not in theirs:
                raise ValueError(f"cannot pair the weights: `{a if a not in ours else b}` is not a tracked weight")
            if list(ours[a].shape) != theirs[b]:
                raise ValueError(f"cannot pair the weights: `{b}` has shape {tuple(theirs[b])}, "
                                 f"expected {tuple(ours[a].shape)} (like `{a}`)")
            mapping.setdefault(a, b)
            values.setdefault(b, ours[a])
        doc, blob = observations.encode(list(values.values()))
        return {"type": "answer", "mapping": mapping, "names": list(values), "values": doc}, blob


def collect(session, assignment: Assignment, seed: int = 0, visibility: set[str] | None = None,
            aliases: dict | None = None, expected: dict | None = None) -> dict[str, Observation]:
    """Run every probe; returns probe key -> Observation. `expected`: the reference's
    observations (None while they are being computed: the reference's own run)."""
    kplan = plan(assignment, session, seed, visibility, aliases)
    todo = order(assignment, list(kplan["probes"]))
    found: dict[str, Observation] = {}
    answers = Answers(assignment, expected)
    while todo:
        if not session.ensure_alive():
            for key in todo:
                found[key] = Observation(error="the kernel died and could not be restarted")
            break
        ch = session.channel
        ch.send({"type": "probe", "plan": kplan, "keys": todo})
        current, started = None, time.monotonic()
        while True:
            cap = (float(kplan["probes"][current]["timeout_s"] or kplan["timeout_s"]) + GRACE_S) if current else 300.0
            frame = ch.next(started + cap - time.monotonic())
            if frame is None:
                if ch.closed.is_set() and ch.problem:
                    why = "the grading channel was tampered with"
                elif ch.closed.is_set():
                    why = "the kernel died while this was checked"
                else:
                    why = f"timed out after {cap - GRACE_S:.0f} s"
                    session.kill_reason = why
                if current is not None:
                    found[current] = Observation(error=why, integrity=[ch.problem] if ch.problem else [])
                    todo.remove(current)
                if ch.problem:
                    for key in todo:
                        found[key] = Observation(error=why, integrity=[ch.problem])
                    todo = []
                answers.held = set()
                session.restart() if todo else None
                break
            header, data = frame
            kind = header.get("type")
            if kind == "begin" and header.get("key") in todo:
                current, started = header["key"], time.monotonic()
                kept = answers.held & set(kplan["probes"][current]["grades"])
                if kept:
                    # the kernel should have stopped: it holds a reference piece of what this probe grades
                    found[current] = Observation(error="the probe could not be run", integrity=[
                        f"the kernel ran a probe after holding the reference's {', '.join(sorted(kept))}"])
                    todo.remove(current)
                    session.kill_reason = "the kernel ran on past what it may hold"
                    answers.held = set()
                    session.restart() if todo else None
                    break
            elif kind == "ask" and current is not None and header.get("key") == current:
                reply, blob = answers.answer(current, header, data)
                ch.send(reply, blob)
            elif kind == "result" and header.get("key") in todo:
                key = header["key"]
                integrity = [str(v)[:300] for v in header.get("violations", [])[:10]] + \
                    [f"changed during probing: {c}" for c in header.get("changed", [])[:20]]
                found[key] = _observation(header.get("doc"), data, integrity, header.get("seconds", 0.0))
                todo.remove(key)
                current = None
            elif kind == "done":
                if header.get("stopped") in todo:
                    # a fresh kernel for the rest: this one has held a piece of what comes next
                    answers.held = set()
                    session.restart()
                break
            elif kind == "failed":
                for key in todo:
                    found[key] = Observation(error="the probe library failed in the kernel; your instructor "
                                                   "will look at it", integrity=[str(header.get("error"))[:300]])
                todo = []
                break
    return found


def _observation(doc, blob: bytes, integrity: list, seconds) -> Observation:
    try:
        doc = observations.decode(doc, blob)
    except (ValueError, TypeError, OSError) as e:
        return Observation(error=f"the probe's result was not usable ({e})", integrity=integrity)
    secs = float(seconds) if isinstance(seconds, (int, float)) else 0.0
    if not isinstance(doc, dict) or ("value" not in doc and "error" not in doc):
        return Observation(error="malformed observation", integrity=integrity, seconds=secs)
    if "error" in doc:
        err = doc["error"] if isinstance(doc["error"], dict) else {"message": str(doc["error"])}
        return Observation(error=_error_text(err), integrity=integrity, seconds=secs)
    stood = doc.get("stood_in") if isinstance(doc.get("stood_in"), list) else []
    notes = doc.get("notes") if isinstance(doc.get("notes"), list) else []
    recorded = doc.get("recorded") if isinstance(doc.get("recorded"), dict) else {}
    return Observation(value=doc["value"], stood_in=[str(n)[:60] for n in stood[:8]], integrity=integrity,
                       seconds=secs, notes=[str(n)[:200] for n in notes[:10]], recorded=recorded)
