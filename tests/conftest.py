"""Shared test helpers. Every assignment's submissions (reference, skeleton, mutants,
alternatives, the attack suite's cases, variants, examples) are graded once per test session,
in one batch per assignment (`graded(slug)`), and asserted on by many tests."""
import os
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch._dynamo  # noqa: F401 - before any TensorFlow import: triton loaded after TF segfaults

from grader import assignment, batch, pipeline
from grader.result import Result

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "assignments"
SLUGS = sorted(p.name for p in CASES.iterdir() if (p / "mutants.toml").is_file())


def mutate(text: str, old: str, new: str) -> str:
    """One bug: `old` must occur exactly once in the reference, so a stale mutant fails loudly."""
    assert text.count(old) == 1, f"mutation anchor occurs {text.count(old)} times: {old!r}"
    return text.replace(old, new)


def cases(slug: str) -> dict:
    return tomllib.loads((CASES / slug / "mutants.toml").read_text())


def variants(slug: str) -> list[Path]:
    """Correct solutions in the styles students write (tests/assignments/<slug>/variants/)."""
    folder = CASES / slug / "variants"
    return sorted(p for p in folder.iterdir() if not p.name.startswith((".", "_"))) if folder.is_dir() else []


def _jobs() -> int:
    """Jobs per session batch: a kernel waits on its channel and the grader between probes, so one
    job more than the cores keeps them busy (on CI's 2 cores three jobs keep both busy where two
    left a third of the time idle); at most one per 2 GiB of available memory (a Keras kernel
    holds about 1.5)."""
    if os.environ.get("GRADER_TEST_JOBS"):
        return max(1, int(os.environ["GRADER_TEST_JOBS"]))
    import psutil

    from grader.run.sandbox import available_cores
    return max(1, min(available_cores() + 1, psutil.virtual_memory().available // (2 << 30)))


JOBS = _jobs()


def grade_all(slug: str, paths, out: Path, jobs: int = JOBS, mode: str = "definitions", **budget):
    a = assignment.get(slug)
    if budget:
        a = a.model_copy(update={"budget": a.budget.model_copy(update=budget)})
    results = batch.run(list(paths), a, out, pipeline.Options(mode=mode, device="cpu"), jobs=jobs, resume=False,
                        expand_dirs=False)
    return a, {r.submission: r for r in results}


@dataclass
class Batch:
    a: object
    results: dict[str, Result]
    out: Path
    names: dict[str, str]           # case name -> submission file name

    def __getitem__(self, case: str) -> Result:
        return self.results[self.names.get(case, case)]


_BATCHES: dict[str, Batch] = {}


def write_mutants(slug: str, folder: Path) -> dict[str, Path]:
    """The mutants and alternatives of mutants.toml, written as files: case name -> path. Each
    edits the reference, or the file `base` names (relative to the case folder, e.g. a variant
    in another style)."""
    a = assignment.get(slug)
    written = {}
    for group in ("mutants", "alternatives"):
        for name, m in cases(slug).get(group, {}).items():
            base = CASES / slug / m["base"] if "base" in m else a.reference_path
            t = base.read_text()
            for old, new in m["edits"]:
                t = mutate(t, old, new)
            written[name] = folder / f"{name}{base.suffix}"
            written[name].write_text(t)
    return written


_GUARD = threading.Lock()
_LOCKS: dict[str, threading.Lock] = {}


def graded(slug: str, tmp_path_factory) -> Batch:
    """The slug's session batch, graded once (by the first caller: a test, or the background
    thread of a full run, which the test then waits for)."""
    with _GUARD:
        lock = _LOCKS.setdefault(slug, threading.Lock())
    with lock:
        if slug not in _BATCHES:
            _BATCHES[slug] = _grade_batch(slug, tmp_path_factory)
    return _BATCHES[slug]


def _grade_batch(slug: str, tmp_path_factory) -> Batch:
    a = assignment.get(slug)
    paths, names = [a.reference_path, a.skeleton_path], {"reference": a.reference_path.name,
                                                         "skeleton": a.skeleton_path.name}
    folder = tmp_path_factory.mktemp(f"{slug}-subs")
    for name, p in write_mutants(slug, folder).items():
        paths.append(p)
        names[name] = p.name
    import attacks  # here: it imports this module
    for name, p in attacks.files(slug, folder).items():
        paths.append(p)
        names[f"attack:{name}"] = p.name
    for p in variants(slug):
        paths.append(p)
        names[p.stem] = p.name
    for name in cases(slug).get("examples", {}):
        paths.append(a.directory / "examples" / name)
    out = tmp_path_factory.mktemp(f"{slug}-out")
    a, res = grade_all(slug, paths, out)
    return Batch(a, res, out, names)


# ---- a full run (GRADER_TEST_BACKGROUND=1, ci/test.sh): the session batches grade in the
# background from the start, one after another, while the tests that do not read them run first
# (kernels on their own leased slots, run/slots.py); the tests that read a batch come after, batch
# by batch, and find it graded, or wait for it. The CPU a test leaves idle (a kernel starting, a
# browser, a subprocess) goes to the batches, and a reader's own kernels fill what a starting batch
# leaves idle.

def _reads_batches(item) -> bool:
    """The test, or a fixture it uses, calls `graded` (directly or through a function of its
    own module): it reads a session batch and runs after the batch is graded. The other tests of
    its module run early, beside the batches, instead of on one core after the last batch."""
    funcs = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info else ()):
        funcs += [d.func for d in defs]
    seen: set = set()
    return any("graded" in _names(fn, seen) for fn in funcs if fn is not None)


def _names(fn, seen: set) -> set:
    """The global names a function's code uses, and those of its own module's functions it calls."""
    import types
    code = getattr(fn, "__code__", None)
    if code is None or code in seen:
        return set()
    seen.add(code)
    todo, names = [code], set()
    while todo:
        c = todo.pop()
        names |= set(c.co_names)
        todo += [k for k in c.co_consts if isinstance(k, types.CodeType)]
    for n in list(names):
        g = getattr(fn, "__globals__", {}).get(n)
        if isinstance(g, types.FunctionType) and g.__module__ == fn.__module__:
            names |= _names(g, seen)
    return names


def _slug_of(item) -> str | None:
    """The batch a reader reads, where it says: its module's SLUG, a `slug` parameter, or the
    assignment of the attack it is parametrized with."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    attack = getattr(item.module, "ATTACKS", {}).get(params.get("name"))
    slug = getattr(item.module, "SLUG", None) or params.get("slug") or (attack[0] if attack else None)
    return slug if slug in SLUGS else None


def _slugs_read(items) -> list[str]:
    """The batches the selected tests read, in the order they read them; a reader that names
    none may read any (all five, after)."""
    named = [_slug_of(it) for it in filter(_reads_batches, items)]
    anyone = None in named
    named = list(dict.fromkeys(n for n in named if n))
    return named + [s for s in SLUGS if s not in named] if anyone else named


_BACKGROUND: list[threading.Thread] = []


def _patches(item) -> bool:
    """The test patches process-wide state (a module's function, an environment variable, the
    working directory) that a batch grading beside it would see: it runs before the batches start."""
    return "monkeypatch" in getattr(item, "fixturenames", ())


_ALONE = threading.Event()     # set when the tests that patch have run: the batches may start


def _background(factory, order: list[str]) -> None:
    _ALONE.wait()
    for slug in order:
        try:
            graded(slug, factory)
        except Exception:  # noqa: BLE001 - the test that reads this batch grades it again and fails there
            import traceback
            traceback.print_exc()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    if os.environ.get("GRADER_TEST_BACKGROUND") != "1" or not any(map(_reads_batches, items)):
        return
    order = _slugs_read(items)
    # each batch's readers as soon as it is graded, while the next one grades (their own kernels
    # fill the cores a batch leaves idle while it starts); those that may read any, last
    # (stable: each group keeps its order)
    rank = {slug: k for k, slug in enumerate(order)}
    items.sort(key=lambda it: (1, rank.get(_slug_of(it), len(order))) if _reads_batches(it)
               else (-1, 0) if _patches(it) else (0, 0))
    t = threading.Thread(target=_background, args=(config._tmp_path_factory, order), name="session-batches",
                         daemon=True)
    _BACKGROUND.append(t)
    t.start()


def pytest_runtest_setup(item):
    if not _ALONE.is_set() and not _patches(item):
        _ALONE.set()


def pytest_sessionfinish(session, exitstatus):
    _ALONE.set()
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return                              # the sandboxes die with this process (bwrap's --die-with-parent)
    for t in _BACKGROUND:                   # a batch no test read (-x stopped early) ends before the run does
        t.join()


@pytest.fixture(scope="session")
def student_bundle(tmp_path_factory) -> Path:
    """Every assignment's student bundle, in one folder (`grader release`: one wheel; the
    expectations are those the batches computed, from the cache)."""
    from grader.instructor import release
    out = tmp_path_factory.mktemp("bundle")
    for a in assignment.all_assignments().values():
        release.release(a, out, pipeline.Options(device="cpu"))
    return out


def auto_items(a):
    return [it for it in a.items if not it.manual]


def explain(result: Result) -> list:
    return [(i.id, [c.message for c in i.checks if not c.passed]) for i in result.items if i.points < i.max_points]


def assert_only_lost(a, result: Result, affected: set[str]):
    """The affected items lose points; every other automatic item keeps all of its points."""
    for it in auto_items(a):
        got = result.item(it.id)
        if it.id in affected:
            assert got.points < it.points, f"{result.submission}: {it.id} should lose points ({got.points}/{it.points})"
        else:
            assert got.points == pytest.approx(it.points), \
                f"{result.submission}: {it.id} should keep its points: {[c.message for c in got.checks]}"
