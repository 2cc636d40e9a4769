"""Probe stage, grader side: send the probe plan to the armed library in the submission's
kernel and collect one authenticated observation per probe (see channel.py, armed.py).

All probes of a submission run in one request. A probe that passes its time cap is stopped
inside the kernel; one that does not stop, or a kernel that dies, costs only the probes not
yet done: the kernel is restarted (its cells replayed) and the rest are asked for again.
Only the probe's parameters and the definitions it needs travel to the kernel: never an
expected value or a tolerance, and the reference only for the probes that stand it in."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import inline as inline_plan
from ..config import Assignment
from . import observations

GRACE_S = 20.0          # past a probe's cap before the kernel is killed
PUBLIC_SEED = 1000      # public checks draw other inputs than hidden ones (seed + this)


@dataclass
class Observation:
    value: object = None
    error: str = ""  # why there is no value, in words a student can act on
    stood_in: list = field(default_factory=list)  # reference definitions that replaced the student's
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
    pol = session.policy
    probes = {}
    for key, p in assignment.plan(visibility).items():
        o = p["observe"]
        probes[key] = {"kind": p["kind"], "observe": o.model_dump(mode="json"), "timeout_s": o.timeout_s,
                       "seed": seed + (PUBLIC_SEED if p["visibility"] == "public" else 0)}
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


def payload(assignment: Assignment, keys: list[str]) -> tuple[dict | None, list, bytes]:
    """The reference (only when a requested probe needs it) and the reference files probes declared."""
    checks = [c for c in assignment.checks if c.probe in keys]
    reference = None
    if any(c.needs_reference for c in checks) and assignment.reference_path is not None:
        reference = {"text": assignment.reference_path.read_text(), "suffix": assignment.reference_path.suffix}
    names = sorted({f for c in checks for f in c.observe.files})
    blobs = [(n, (assignment.reference_dir / n).read_bytes()) for n in names]
    return reference, [(n, len(b)) for n, b in blobs], b"".join(b for _, b in blobs)


def collect(session, assignment: Assignment, seed: int = 0, visibility: set[str] | None = None,
            aliases: dict | None = None) -> dict[str, Observation]:
    """Run every probe; returns probe key -> Observation."""
    kplan = plan(assignment, session, seed, visibility, aliases)
    todo = list(kplan["probes"])
    found: dict[str, Observation] = {}
    while todo:
        if not session.ensure_alive():
            for key in todo:
                found[key] = Observation(error="the kernel died and could not be restarted")
            break
        reference, files, blob = payload(assignment, todo)
        ch = session.channel
        ch.send({"type": "probe", "plan": kplan, "keys": todo, "reference": reference, "files": files}, blob)
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
                session.restart() if todo else None
                break
            header, data = frame
            kind = header.get("type")
            if kind == "begin" and header.get("key") in todo:
                current, started = header["key"], time.monotonic()
            elif kind == "result" and header.get("key") in todo:
                key = header["key"]
                integrity = [str(v)[:300] for v in header.get("violations", [])[:10]] + \
                    [f"changed during probing: {c}" for c in header.get("changed", [])[:20]]
                found[key] = _observation(header.get("doc"), data, integrity, header.get("seconds", 0.0))
                todo.remove(key)
                current = None
            elif kind == "done":
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
    return Observation(value=doc["value"], stood_in=[str(n)[:60] for n in stood[:8]], integrity=integrity,
                       seconds=secs, notes=[str(n)[:200] for n in notes[:10]])
