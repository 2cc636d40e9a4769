"""Probe stage: run the assignment's probe plan in the submission's live kernel.

Each probe is its own cell with its own time limit, so one hanging or crashing probe costs
only the checks that use it; a dead kernel is restarted (and the notebook's definitions
replayed) by the session before the next probe."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Assignment
from . import observations


@dataclass
class Observation:
    value: object = None
    error: str = ""  # why there is no value, in words a student can act on
    stood_in: list = field(default_factory=list)  # reference definitions that replaced the student's

    @property
    def ok(self) -> bool:
        return not self.error


def probes(assignment: Assignment) -> dict[str, dict]:
    """probe key -> {kind, observe}: only observe parameters go to the kernel."""
    return {k: {"kind": v["kind"], "observe": v["observe"].model_dump(mode="json")}
            for k, v in assignment.plan().items()}


def write_plan(assignment: Assignment, private: Path, seed: int = 0) -> Path:
    ref = private / "reference"
    if ref.exists():
        shutil.rmtree(ref)
    shutil.copytree(assignment.reference_dir, ref, ignore=shutil.ignore_patterns("__pycache__"))
    helpers = assignment.helpers_path
    out = private / "observations"
    out.mkdir(exist_ok=True)
    plan = {
        "framework": assignment.framework,
        "reference_path": str(ref / assignment.reference),
        "helpers_path": str(helpers) if helpers else "",
        "data_dir": str(assignment.directory / "data"),
        "out_dir": str(out),
        "seed": seed,
        "probes": probes(assignment),
        "files": {f: str(ref / f) for p in assignment.plan().values() for f in p["observe"].files},
    }
    path = private / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _error_text(err: dict) -> str:
    text = f"{err.get('type', 'Error')}: {err.get('message', '')}".rstrip(": ")
    if err.get("type") == "MissingDefinition":
        text = err.get("message", "")
    return text + (f" ({err['where']})" if err.get("where") else "")


def collect(session, assignment: Assignment, seed: int = 0) -> dict[str, Observation]:
    """Run every probe; returns probe key -> Observation."""
    private = session.private
    plan_path = write_plan(assignment, private, seed)
    plan = json.loads(plan_path.read_text())
    out_dir = Path(plan["out_dir"])
    found = {}
    for key, probe in plan["probes"].items():
        timeout = float(probe["observe"].get("timeout_s") or assignment.budget.probe_timeout_s)
        code = f"import grader.probe.runner as _grader_probe\n_grader_probe.run(globals(), {str(plan_path)!r}, {key!r})"
        outcome = session.run(code, timeout)
        try:
            doc = observations.load(out_dir, key)
        except (ValueError, OSError) as e:
            if outcome.status == "timeout":
                found[key] = Observation(error=f"timed out after {timeout:.0f} s")
            elif outcome.status == "crashed":
                found[key] = Observation(error=f"the kernel died while this was checked ({outcome.evalue})")
            else:
                found[key] = Observation(error=f"the probe left no result ({e})")
            continue
        if not isinstance(doc, dict) or ("value" not in doc and "error" not in doc):
            found[key] = Observation(error="malformed observation")
        elif "error" in doc:
            err = doc["error"] if isinstance(doc["error"], dict) else {"message": str(doc["error"])}
            if outcome.status == "timeout":
                found[key] = Observation(error=f"timed out after {timeout:.0f} s")
            else:
                found[key] = Observation(error=_error_text(err))
        else:
            stood = doc.get("stood_in") if isinstance(doc.get("stood_in"), list) else []
            found[key] = Observation(value=doc["value"], stood_in=[str(n)[:60] for n in stood[:8]])
    return found
