"""`--backend ray`: the same per-submission function as Ray tasks, so a batch spreads over
a cluster's machines and GPUs. Submissions travel as bytes (a worker need not see the
instructor's disk); Results come back to the driver, which writes every report."""
from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import nbformat

from . import assignment as assignments
from . import pipeline, report
from .result import Result
from .submission import sha256_of


def pack(path: Path) -> tuple[str, bytes]:
    """A submission as (file name, bytes); folders are zipped."""
    path = Path(path)
    if path.is_dir():
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(path.rglob("*")):
                if p.is_file():
                    z.write(p, p.relative_to(path))
        return path.name + ".zip", buf.getvalue()
    try:
        return path.name, path.read_bytes()
    except OSError:
        return path.name, b""


def grade_packed(name: str, filename: str, data: bytes, slug: str, expected: dict, opts: pipeline.Options,
                 fp: str = ""):
    """Runs on a worker: unpack, grade, return the Result and the executed and submitted notebooks as JSON."""
    import ray
    gpus = ray.get_gpu_ids() if ray.is_initialized() else []
    if gpus:
        opts.gpus = ",".join(str(int(g)) for g in gpus)
    tmp = Path(tempfile.mkdtemp(prefix="grader-ray-"))
    try:
        sub = tmp / filename
        sub.write_bytes(data)
        result, nb, submitted = pipeline.grade(sub, assignments.get(slug), expected, opts, name, fingerprint=fp)
        return result.to_dict(), *(nbformat.writes(n) if n is not None else None for n in (nb, submitted))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(paths, names, assignment, expected, opts, out: Path, fp: str = ""):
    import ray
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=1, num_gpus=1 if opts.device == "cuda" else 0)(grade_packed)
    expected_ref = ray.put(expected)
    pending = {}
    for p, n in zip(paths, names):
        filename, data = pack(p)
        pending[task.remote(n, filename, data, assignment.slug, expected_ref, opts, fp)] = (p, n)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        p, n = pending.pop(ready[0])
        try:
            doc, nb_json, sub_json = ray.get(ready[0])
            result = Result.from_dict(doc)
            nb, submitted = (nbformat.reads(j, as_version=4) if j else None for j in (nb_json, sub_json))
        except Exception as e:  # noqa: BLE001 - a lost worker is one submission's failure, not the batch's
            result, nb, submitted = pipeline.crashed(Path(p), assignment, opts, e), None, None
        result.submission = Path(p).name
        try:
            result.submission_sha256 = sha256_of(Path(p))  # as the local backend records it, for resuming
        except OSError:
            pass
        report.write(result, assignment, out / n, nb, submitted)
        yield n, result
