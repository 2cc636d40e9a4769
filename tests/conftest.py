import dataclasses
from pathlib import Path

import pytest

from grader import assignment, batch, pipeline

ROOT = Path(__file__).resolve().parent.parent


def mutate(text: str, old: str, new: str) -> str:
    """One bug: `old` must occur exactly once in the reference, so a stale mutant fails loudly."""
    assert text.count(old) == 1, f"mutation anchor occurs {text.count(old)} times: {old!r}"
    return text.replace(old, new)


def grade_all(slug: str, paths, out: Path, jobs: int = 2, mode: str = "definitions", **budget):
    a = assignment.get(slug)
    if budget:
        a = dataclasses.replace(a, budget=dataclasses.replace(a.budget, **budget))
    results = batch.run(list(paths), a, out, pipeline.Options(mode=mode, device="cpu"), jobs=jobs, resume=False,
                        expand_dirs=False)
    return a, {r.submission: r for r in results}


def auto_items(a):
    return [it for it in a.items if not it.manual]


def assert_only_lost(a, result, affected: set[str]):
    """The affected items lose points; every other automatic item keeps all of its points."""
    for it in auto_items(a):
        got = result.item(it.id)
        if it.id in affected:
            assert got.points < it.points, f"{result.submission}: {it.id} should lose points ({got.points}/{it.points})"
        else:
            assert got.points == pytest.approx(it.points), \
                f"{result.submission}: {it.id} should keep its points: {[c.message for c in got.checks]}"


def write_mutants(d: Path, text: str, mutants: dict, alternative=()) -> list[Path]:
    """Each mutant of the reference `text` as d/<name>.py, and d/alternative.py when an
    alternative correct solution's edits are given. A mutant is (old, new, affected) or
    ([(old, new), ...], affected)."""
    paths = []
    for name, spec in mutants.items():
        edits = spec[0] if isinstance(spec[0], list) else [spec[:2]]
        t = text
        for old, new in edits:
            t = mutate(t, old, new)
        paths.append(d / f"{name}.py")
        paths[-1].write_text(t)
    if alternative:
        t = text
        for old, new in alternative:
            t = mutate(t, old, new)
        paths.append(d / "alternative.py")
        paths[-1].write_text(t)
    return paths
