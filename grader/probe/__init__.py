"""Probe stage: run the assignment's probe plan in the submission's live kernel.

Each probe is its own cell with its own time limit, so one hanging or crashing probe costs
only the checks that use it; a dead kernel is restarted (and the notebook's definitions
replayed) by the session before the next probe."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..assignment import Assignment, CheckSpec
from . import observations


@dataclass
class Observation:
    value: object = None
    error: str = ""  # why there is no value, in words a student can act on

    @property
    def ok(self) -> bool:
        return not self.error


def probe_key(check: CheckSpec) -> str:
    return check.params.get("probe") or check.id.replace("/", "__").replace(" ", "_")


def probes(assignment: Assignment) -> dict[str, dict]:
    """probe key -> {kind, params}: shared probes from [probes.<key>], the rest per check."""
    shared = assignment.probes
    plan = {}
    for c in assignment.checks:
        key = probe_key(c)
        if "probe" in c.params:
            if key not in shared:
                raise ValueError(f"{c.id}: no [probes.{key}] table")
            plan[key] = shared[key]
        else:
            plan[key] = {"kind": c.kind, "params": c.params}
    return plan


def write_plan(assignment: Assignment, private: Path, seed: int = 0) -> Path:
    ref = private / "reference"
    if ref.exists():
        shutil.rmtree(ref)
    shutil.copytree(assignment.reference_dir, ref, ignore=shutil.ignore_patterns("__pycache__"))
    out = private / "observations"
    out.mkdir(exist_ok=True)
    plan = {
        "framework": assignment.framework,
        "reference_path": str(ref / assignment.reference.name),
        "helpers_path": str(assignment.directory / "probes.py"),
        "data_dir": str(assignment.directory / "data"),
        "out_dir": str(out),
        "seed": seed,
        "probes": probes(assignment),
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
        timeout = float(probe["params"].get("timeout_s", assignment.budget.probe_timeout_s))
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
            found[key] = Observation(value=doc["value"])
    return found
