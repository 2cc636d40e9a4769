"""Batches: many submissions through the pipeline, each Result written as it finishes,
resumable (a submission already graded with the same hash, assignment version and grader
version is skipped), a local worker pool or Ray."""
from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

from . import __version__, expectations, fingerprint, pipeline, report
from .config import Assignment
from .result import Result, Status
from .submission import sha256_of

SUBMISSION_SUFFIXES = {".ipynb", ".py", ".zip"}


def expand(paths: list[Path]) -> list[Path]:
    """A directory means every submission inside it: its notebooks, modules, zips and
    sub-folders (a sub-folder is one student's folder submission)."""
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += sorted(c for c in p.iterdir() if (c.is_dir() or c.suffix in SUBMISSION_SUFFIXES)
                          and not c.name.startswith((".", "__")))
        else:
            out.append(p)
    return out


def names(paths: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        base = re.sub(r"[^\w.-]+", "_", p.stem if p.is_file() else p.name) or "submission"
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.append(base if n == 0 else f"{base}-{n + 1}")
    return out


def _already(folder: Path, path: Path, fp: str) -> Result | None:
    """A result already written for this very submission under the same grading fingerprint
    (results the grader could not finish for its own reasons are graded again)."""
    f = folder / "result.json"
    if not f.is_file():
        return None
    try:
        r = Result.from_dict(json.loads(f.read_text()))
    except (ValueError, TypeError, KeyError):
        return None
    try:
        sha = sha256_of(path) if path.exists() else ""
    except OSError:
        return None
    if (r.submission_sha256, r.fingerprint) == (sha, fp) and r.status != Status.ERROR:
        return r
    return None


def crashed_result(path: Path, assignment: Assignment, opts, err: BaseException) -> Result:
    """The grader's own failure on one submission is recorded (status error: not the
    student's fault, graded again on the next run), never lost, and the batch goes on."""
    from .judge import judge
    reason = "the grader failed on this submission; your instructor has been told"
    judged = judge(assignment, {}, {}, None, reason=reason)
    r = Result(assignment=assignment.slug, submission=path.name, submission_sha256="", grader_version=__version__,
               device=opts.device, status=Status.ERROR, reason=reason, items=judged.items,
               auto_max=assignment.auto_max, manual_max=assignment.manual_max, bonus_max=assignment.bonus_max,
               assignment_version=assignment.version)
    r.flag("the grader failed", evidence=f"{type(err).__name__}: {err}"[:500])
    return r


def grade_one(path: Path, name: str, assignment: Assignment, expected: dict, opts, out: Path,
              gpus: "queue.Queue[str] | None" = None, fp: str = "") -> Result:
    folder = out / name
    gpu = gpus.get() if gpus is not None else None
    try:
        job_opts = dataclasses.replace(opts, gpus=gpu) if gpu is not None else opts
        result, nb = pipeline.grade(path, assignment, expected, job_opts, name, fingerprint=fp)
    except Exception as e:  # noqa: BLE001 - a batch must survive the grader's own bugs
        traceback.print_exc()
        result, nb = crashed_result(path, assignment, opts, e), None
    finally:
        if gpu is not None:
            gpus.put(gpu)
    report.write(result, assignment, folder, nb)
    return result


def gpu_queue(opts, jobs: int) -> "queue.Queue[str] | None":
    """One GPU per running submission, handed out through CUDA_VISIBLE_DEVICES."""
    if opts.device != "cuda":
        return None
    try:
        import torch
        n = torch.cuda.device_count()
    except ImportError:
        n = 0
    q: queue.Queue[str] = queue.Queue()
    for i in range(max(1, n)):
        q.put(str(i))
    return q


def run(paths: list[Path], assignment: Assignment, out: Path, opts, jobs: int = 1, backend: str = "local",
        resume: bool = True, on_done: Callable[[Result], None] | None = None,
        expand_dirs: bool = True) -> list[Result]:
    """Grade `paths` (with expand_dirs, a folder means the submissions inside it; without,
    each path is one submission, a folder included)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = expand(paths) if expand_dirs else [Path(p) for p in paths]
    if jobs > 1 and not opts.threads:
        # kernels side by side share the cores instead of each taking them all
        opts = dataclasses.replace(opts, threads=max(1, (os.cpu_count() or 1) // jobs))
    labels = names(paths)
    opts.hide = sorted({*opts.hide, str(out.resolve()), str(expectations.cache_root()),
                        *[str(p.resolve()) for p in paths]})
    results: dict[int, Result] = {}
    todo = []
    fp = fingerprint.of(assignment, opts.device)
    for i, (p, n) in enumerate(zip(paths, labels)):
        done = _already(out / n, p, fp) if resume else None
        if done:
            results[i] = done
            if on_done:
                on_done(done)
        else:
            todo.append(i)
    if todo:
        expected = expectations.get(assignment, opts)
        if backend == "ray":
            from . import distributed
            index = {labels[i]: i for i in todo}
            for name, r in distributed.run([paths[i] for i in todo], [labels[i] for i in todo],
                                           assignment, expected, opts, out, fp):
                results[index[name]] = r
                if on_done:
                    on_done(r)
        else:
            gpus = gpu_queue(opts, jobs)
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                futures = {pool.submit(grade_one, paths[i], labels[i], assignment, expected, opts, out, gpus, fp): i
                           for i in todo}
                for f in as_completed(futures):
                    results[futures[f]] = f.result()
                    if on_done:
                        on_done(results[futures[f]])
                    report.write_gradebook([results[k] for k in sorted(results)], assignment, out)
    ordered = [results[i] for i in sorted(results)]
    report.write_gradebook(ordered, assignment, out)
    return ordered
