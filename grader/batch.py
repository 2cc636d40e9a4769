"""Batches: many submissions through the pipeline, each Result written as it finishes,
resumable (a submission already graded with the same hash, assignment version and grader
version is skipped), a local worker pool or Ray."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import queue
import re
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Callable

from . import cells, expectations, fingerprint, pipeline, report, totals
from .config import Assignment
from .result import Result, Status
from .run import sandbox
from .run import slots as slot_lease
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
    doc = report.read_signed(folder / "result.json", folder.parent)
    if doc is None:
        return None
    try:
        r = Result.from_dict(doc)
    except (ValueError, TypeError, KeyError):
        return None
    try:
        sha = sha256_of(path) if path.exists() else ""
    except OSError:
        return None
    if (r.submission_sha256, r.fingerprint) == (sha, fp) and r.status != Status.ERROR:
        return r
    return None


def grade_one(path: Path, name: str, assignment: Assignment, expected: dict, opts, out: Path, fp: str = "",
              prepared: "pipeline.Prepared | None" = None, minutes_late: float | None = None) -> Result:
    try:
        result, nb, submitted = pipeline.grade(path, assignment, expected, opts, name, fingerprint=fp,
                                               prepared=prepared)
    except Exception as e:  # noqa: BLE001 - a batch must survive the grader's own bugs
        traceback.print_exc()
        result, nb, submitted = pipeline.crashed(path, assignment, opts, e), None, None
    totals.apply(result, assignment, minutes_late)
    report.write(result, assignment, out / name, nb, submitted)
    return result


def _local(todo: list[int], paths, labels, late, assignment, expected, opts, out: Path, jobs: int, fp: str,
           done) -> None:
    """`jobs` workers grade while one more submission is prepared ahead (loaded, its kernel
    started), so that kernel start-up overlaps grading; kernels are forked from a warm zygote
    per slot where the sandbox allows (grader/zygote.py). Each running kernel has a slot (its
    sandbox uid) and, on cuda, a GPU of its own. `expected` is a future: kernels start while
    the reference's expectations are computed; workers wait for them before grading."""
    gpus = gpu_queue(opts, jobs)
    # a zygote costs about one cold kernel start: worth it once a slot grades more than one
    pool = pipeline.warm_pool(assignment, opts, Path(tempfile.mkdtemp(prefix="grader-slots-"))) \
        if len(todo) > jobs + 1 else None
    # the jobs' slots (their sandbox uids), never those of a kernel running beside this batch
    leased = slot_lease.take(jobs + 1)
    if pool is not None:
        pool.warm(leased)
    slots: queue.Queue[int] = queue.Queue()
    for k in leased:
        slots.put(k)
    ready: queue.Queue = queue.Queue(maxsize=1)
    finished = threading.Event()
    aborted = threading.Event()     # the expectations failed

    def produce():
        for i in todo:
            slot = slots.get()
            gpu = gpus.get() if gpus is not None else None
            job = dataclasses.replace(opts, slot=slot, **({"gpus": gpu} if gpu is not None else {}))
            try:
                prepared = None if aborted.is_set() else pipeline.prepare(paths[i], assignment, job, labels[i], pool)
            except Exception:  # noqa: BLE001 - grade_one loads it again and records what fails
                traceback.print_exc()
                prepared = None
            ready.put((i, job, prepared, slot, gpu))
        for _ in range(jobs):
            ready.put(None)
        # bwrap dies with the *thread* that started it (PR_SET_PDEATHSIG): this one must outlive
        # every kernel it launched
        finished.wait()

    def work():
        while (item := ready.get()) is not None:
            i, job, prepared, slot, gpu = item
            try:
                values = None if aborted.is_set() else expected.result()
            except Exception:  # noqa: BLE001 - the reference failed: run() raises it, nothing is graded
                aborted.set()
                values = None
            try:
                if values is None:
                    if prepared is not None and prepared.session is not None:
                        prepared.session.close()
                    continue
                try:
                    result = grade_one(paths[i], labels[i], assignment, values, job, out, fp, prepared, late[i])
                except Exception as e:  # noqa: BLE001 - writing the result failed: it is kept, as the grader's error
                    traceback.print_exc()
                    result = pipeline.crashed(paths[i], assignment, job, e)
                    result.submission = labels[i]
                done(i, result)
            finally:
                slots.put(slot)
                if gpu is not None:
                    gpus.put(gpu)

    producer = threading.Thread(target=produce, daemon=True)
    workers = [threading.Thread(target=work, daemon=True) for _ in range(jobs)]
    for t in [producer, *workers]:
        t.start()
    try:
        for t in workers:
            t.join()
    finally:
        if pool is not None:
            pool.close()
        finished.set()
    producer.join()
    slot_lease.give(leased)


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
        expand_dirs: bool = True, times=None) -> list[Result]:
    """Grade `paths` (with expand_dirs, a folder means the submissions inside it; without,
    each path is one submission, a folder included). `times` (grader.times.Times) says how
    late each is; totals and penalties follow grader.totals, for resumed results too."""
    out.mkdir(parents=True, exist_ok=True)
    cells.guard_parser()          # workers parse (and format tracebacks) in threads
    paths = expand(paths) if expand_dirs else [Path(p) for p in paths]
    if not opts.threads:
        # kernels side by side share the cores this job really has instead of each taking them all
        opts = dataclasses.replace(opts, threads=max(1, sandbox.available_cores() // max(1, jobs)))
    labels = names(paths)
    late = [times.minutes_late(p, n) if times is not None else None for p, n in zip(paths, labels)]
    results: dict[int, Result] = {}
    todo = []
    fp = fingerprint.of(assignment, opts.device)
    for i, (p, n) in enumerate(zip(paths, labels)):
        done = _already(out / n, p, fp) if resume else None
        if done:
            if totals.apply(done, assignment, late[i]):   # a new time or rule: rewritten, not regraded
                report.write(done, assignment, out / n)
            results[i] = done
            if on_done:
                on_done(done)
        else:
            todo.append(i)
    if todo:
        # the reference's expectations are computed (cold cache) while the first kernels start
        pool = concurrent.futures.ThreadPoolExecutor(1, "expectations")
        expected = pool.submit(expectations.get, assignment, opts)
        pool.shutdown(wait=False)
        if backend == "ray":
            expected = expected.result()
            from . import distributed
            index = {labels[i]: i for i in todo}
            for name, r in distributed.run([paths[i] for i in todo], [labels[i] for i in todo],
                                           assignment, expected, opts, out, fp):
                if totals.apply(r, assignment, late[index[name]]):
                    report.write(r, assignment, out / name)
                results[index[name]] = r
                if on_done:
                    on_done(r)
        else:
            lock = threading.Lock()

            def finished(i: int, r: Result) -> None:
                with lock:
                    results[i] = r
                    if on_done:
                        on_done(r)
                    report.write_gradebook([results[k] for k in sorted(results)], assignment, out)
            _local(todo, paths, labels, late, assignment, expected, opts, out, max(1, jobs), fp, finished)
            expected.result()         # ReferenceFailed: nothing was graded, the caller says why
    ordered = [results[i] for i in sorted(results)]
    report.write_gradebook(ordered, assignment, out)
    return ordered
