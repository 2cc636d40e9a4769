"""Expectations: the reference solution run through the same probe plan, cached under the
grading fingerprint (see fingerprint.py)."""
from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from pathlib import Path

from . import fingerprint, pipeline
from .config import Assignment
from .probe import observations


class ReferenceFailed(RuntimeError):
    """The reference solution did not produce an observation: an authoring error."""


BUNDLED = "expectations"      # a bundle's folder of the public expectations, beside assignment.toml


def cache_root() -> Path:
    return Path(os.environ.get("GRADER_CACHE", Path.home() / ".cache" / "grader"))


def key(assignment: Assignment, device: str) -> str:
    return fingerprint.of(assignment, device)


def get(assignment: Assignment, opts: pipeline.Options) -> dict:
    if assignment.reference_path is None:
        found = bundled(assignment)
        if found is None:
            raise ReferenceFailed(f"{assignment.slug}: no reference solution here to compute expectations from")
        return found
    folder = cache_root() / "expectations" / assignment.slug / key(assignment, opts.device)
    cached = read(folder)
    if cached is not None:
        return cached
    folder.parent.mkdir(parents=True, exist_ok=True)
    # one reference run per cache entry: a grader (or a thread) that asks while another is
    # computing it waits for that run instead of starting its own
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = read(folder)
        return cached if cached is not None else _compute(assignment, opts, folder)


def _compute(assignment: Assignment, opts: pipeline.Options, folder: Path) -> dict:
    # the reference's definitions are what is expected, whatever mode the batch runs in
    obs = pipeline.observe(assignment.reference_path, assignment,
                           dataclasses.replace(opts, mode="definitions", visibility=("public", "hidden"), aliases={}),
                           name="reference")
    failed = {k: o.error for k, o in obs.observations.items() if not o.ok}
    if obs.status != pipeline.Status.GRADED or failed or not obs.observations:
        detail = "; ".join(f"{k}: {e}" for k, e in failed.items()) or obs.reason
        raise ReferenceFailed(f"{assignment.slug}: the reference solution failed its own probes: {detail}")
    values = {k: o.value for k, o in obs.observations.items()}
    # what ctx.reference_weights saw in the reference's run: the grader pairs students' models with it
    values.update({f"{k}@recorded": o.recorded for k, o in obs.observations.items() if o.recorded})
    write(folder, values)
    return values


def bundled(assignment: Assignment) -> dict | None:
    """A student bundle's precomputed public expectations (written by `grader release`), or
    None outside a bundle."""
    if assignment.reference_dir is not None:
        return None
    return read(assignment.directory / BUNDLED)


def read(folder: Path) -> dict | None:
    """Stored expectations (the cache, or a student bundle's), or None where there are none."""
    index = folder / "index.json"
    if not index.is_file():
        return None
    return {k: observations.load(folder, k) for k in json.loads(index.read_text())}


def write(folder: Path, values: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, v in values.items():
        observations.dump(v, folder, k)
    (folder / "index.json").write_text(json.dumps(sorted(values)))
