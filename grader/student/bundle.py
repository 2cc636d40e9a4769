"""A release bundle from where a student works: the folder `grader release` wrote (MARKER at
its root, a folder per assignment, the grader's wheel), and whether the grader installed here
is the one that made it."""
from __future__ import annotations

import json
from pathlib import Path

from .. import __version__

MARKER = "bundle.json"


def find(start: Path) -> Path | None:
    """The bundle holding `start` (a folder), or None."""
    start = Path(start).resolve()
    return next((d for d in [start, *start.parents] if (d / MARKER).is_file()), None)


def read(root: Path) -> dict:
    try:
        doc = json.loads((Path(root) / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def mismatch(root: Path, framework: str, notebook: bool = False) -> str:
    """'' when the installed grader is the bundle's (or `root` is no bundle); else what differs and the
    command that fixes it."""
    from .. import fingerprint
    doc = read(root)
    version, package = doc.get("grader_version"), doc.get("package")
    if version is None or (version == __version__ and package in (None, fingerprint.package())):
        return ""
    have = __version__ if version != __version__ else f"{__version__} with other code than the bundle's"
    text = (f"This bundle was made by grader {version}, and the grader installed here is {have}: the points "
            "shown here may differ from your instructor's.")
    wheel = doc.get("wheel")
    if not wheel:
        return text + " Ask your instructor for the grader that made this bundle."
    # another version: pip replaces it (with the framework's extra); the same version with other
    # code: only a forced reinstall of the grader alone (not of torch or TensorFlow) replaces it
    pip, path = "%pip" if notebook else "pip", (Path(root) / wheel).resolve()
    command = f'{pip} install "{path}[{framework}]"' if version != __version__ else \
        f'{pip} install --force-reinstall --no-deps "{path}"'
    return f"{text} Install the bundle's grader{' (in a cell, then restart the kernel)' if notebook else ''}:\n" \
        f"    {command}"
