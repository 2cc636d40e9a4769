"""Where assignments live: a root folder of `<slug>/assignment.toml` (the repository's
`assignments/` by default; a release bundle, or `--assignments DIR` / $GRADER_ASSIGNMENTS),
with the references beside it (`reference/<slug>/`, or $GRADER_REFERENCES; absent from a
student bundle). Nothing else in the engine knows the repository's layout."""
from __future__ import annotations

import os
from pathlib import Path

from .config import Assignment, ConfigError, load

REPO = Path(__file__).resolve().parent.parent


def assignments_root() -> Path:
    env = os.environ.get("GRADER_ASSIGNMENTS")
    return Path(env).resolve() if env else REPO / "assignments"


def references_root() -> Path | None:
    env = os.environ.get("GRADER_REFERENCES")
    if env:
        return Path(env).resolve()
    if (assignments_root() / "bundle.json").is_file():   # a student bundle: no reference anywhere
        return None
    guess = assignments_root().parent / "reference"
    return guess if guess.is_dir() else None


def all_assignments() -> dict[str, Assignment]:
    found = {}
    refs = references_root()
    for toml in sorted(assignments_root().glob("*/assignment.toml")):
        slug = toml.parent.name
        ref = refs / slug if refs is not None and (refs / slug).is_dir() else None
        a = load(toml.parent, ref)
        if a.slug != slug:
            raise ConfigError(f"{toml}: slug {a.slug!r} differs from its folder's name {slug!r}")
        from .probe import pieces
        try:
            pieces.validate(a)
        except ConfigError as e:
            raise ConfigError(f"{toml}: {e}") from None
        found[a.slug] = a
    return found


def get(slug: str) -> Assignment:
    found = all_assignments()
    if slug not in found:
        raise KeyError(f"unknown assignment {slug!r}; known: {', '.join(found) or 'none'} "
                       f"(in {assignments_root()})")
    return found[slug]
