"""The student bundle: what a student gets to check their own work, with no answer in it.

    grader release SLUG --out DIR

writes DIR/<slug>/ with the skeleton, the public data and helpers (the pretrained weights
students are given included), an assignment.toml holding only the public checks (an item
whose checks are all hidden is marked `later`: graded by the instructor), the reference's
observations for those public probes, precomputed (DIR/<slug>/expectations/), and the
contract (the graded names' kinds and signatures, as the skeleton has them). No reference
source, no hidden check, no hidden expectation, no example submission (they are mutants of
the reference), no reference script. DIR/ holds the wheel of the grader that made it (the
README installs it: the package index's `grader` is someone else's), and DIR/bundle.json
its version and content. `grader --assignments DIR check my.ipynb`, or `grader.check("2a")`
in a notebook inside DIR, then runs the public checks with the grader package only."""
from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import tomli_w

from .. import __version__, expectations, fingerprint, names
from ..config import Assignment
from ..student.bundle import MARKER
from . import wheel


class ReleaseError(ValueError):
    pass


def public_toml(assignment: Assignment) -> dict:
    """The assignment's toml with the hidden checks (and their probes) taken out."""
    raw = tomllib.loads(assignment.toml_path.read_text())
    for key in ("skeleton_sources", "examples"):
        raw.pop(key, None)
    public = {c.probe for c in assignment.checks if c.visibility == "public"}
    for c in assignment.checks:
        if c.visibility == "public" and c.needs_reference:
            raise ReleaseError(f"{assignment.slug}: the public check {c.id} needs reference code in the kernel; "
                               "mark it hidden")
    raw["probes"] = {k: v for k, v in raw.get("probes", {}).items() if k in public}
    if not raw["probes"]:
        raw.pop("probes")
    items = []
    for it_raw, it in zip(raw["items"], assignment.items):
        it_raw = dict(it_raw)
        if not it.manual:
            kept = [c_raw for c_raw, c in zip(it_raw.get("checks", []), it.checks) if c.visibility == "public"]
            it_raw["checks"] = kept
            hidden = sum(c.weight for c in it.checks if c.visibility != "public")
            if not kept:
                it_raw["later"] = True
            elif hidden:
                it_raw["hidden_weight"] = hidden     # the public checks keep their shares of the item
        items.append(it_raw)
    raw["items"] = items
    return raw


def release(assignment: Assignment, out: Path, opts) -> Path:
    """Write the bundle of one assignment under out/<slug>/; returns that folder."""
    if assignment.reference_path is None:
        raise ReleaseError(f"{assignment.slug}: releasing needs the reference (to precompute the public expectations)")
    raw = public_toml(assignment)
    want = expectations.get(assignment, opts)
    try:
        built = wheel.build()
    except wheel.WheelError as e:
        raise ReleaseError(f"the grader's wheel for the bundle: {e}") from None
    target = out / assignment.slug
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    src = assignment.directory
    if (src / "data").is_dir():
        shutil.copytree(src / "data", target / "data")
    for p in sorted(src.glob("*.py")):
        shutil.copy2(p, target / p.name)
    skel = assignment.skeleton_path
    if skel.is_dir():
        shutil.copytree(skel, target / assignment.skeleton, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        (target / assignment.skeleton).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(skel, target / assignment.skeleton)
    (target / "assignment.toml").write_text(tomli_w.dumps(raw))
    (target / names.CONTRACT).write_text(json.dumps(names.contract(assignment), indent=1))
    folder = target / expectations.BUNDLED
    expectations.write(folder, {k: want[k] for k in {c.probe for c in assignment.checks if c.visibility == "public"}})
    (folder / "meta.json").write_text(json.dumps({"grader_version": __version__, "engine": fingerprint.engine(),
                                                  "device": opts.device}))
    for stale in out.glob("*.whl"):
        if stale.name != built.name:
            stale.unlink()
    shutil.copy2(built, out / built.name)
    shipped = {p.name: tomllib.loads((p / "assignment.toml").read_text()) for p in sorted(out.iterdir())
               if (p / "assignment.toml").is_file()}
    (out / MARKER).write_text(json.dumps({"grader_version": __version__, "package": fingerprint.package(),
                                          "wheel": built.name, "assignments": sorted(shipped)}, indent=1))
    (out / "README.md").write_text(readme(built.name, shipped))
    return target


def readme(wheel_name: str, shipped: dict[str, dict]) -> str:
    """The bundle's README: install the bundle's own grader (with the framework's extra), then
    check from the command line or from inside the notebook, naming the items checked here."""
    frameworks = sorted({raw["framework"] for raw in shipped.values()})
    installs = "\n".join(f'    pip install "./{wheel_name}[{fw}]"    # '
                         + ", ".join(s for s, raw in shipped.items() if raw["framework"] == fw) for fw in frameworks)
    items = "\n".join(f"- {s}: " + (", ".join(it["id"] for it in raw["items"] if it.get("checks")) or "none")
                      for s, raw in shipped.items())
    return f"""# Self-check

Install the grader this bundle was made with (its wheel is in this folder; the package index's
`grader` is an unrelated project), with your assignment's framework, from this folder:

{installs}

Then check your notebook from the command line, in this folder:

    grader --assignments . check path/to/your_notebook.ipynb

or from inside your notebook, when it is in this folder (or after `grader.init("path/to/this/folder")`,
e.g. on Colab after uploading this folder):

    import grader
    grader.check("2a")     # one item's public checks, on your notebook's current definitions
    grader.check_all()     # every public check

The items with public checks:

{items}

Only the public checks run here; the other items are graded by your instructor.
"""
