"""Which assignment a submission is, from the names it defines (for `grader check`)."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

from . import assignment as assignments


def _text(path: Path) -> str:
    path = Path(path)
    try:
        if path.is_dir():
            return "\n".join(p.read_text(errors="replace") for p in path.rglob("*") if p.suffix in {".py", ".ipynb"})
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                return "\n".join(z.read(n).decode(errors="replace") for n in z.namelist()
                                 if n.endswith((".py", ".ipynb")))
        return path.read_text(errors="replace")
    except OSError:
        return ""


def beside(path: Path) -> list[Path]:
    """The modules a notebook imports from its own folder (models.py next to asgn6.ipynb): a
    student's self-check takes them with it."""
    path = Path(path)
    return sorted(path.parent.glob("*.py")) if path.is_file() and path.suffix == ".ipynb" else []


def detect(path: Path) -> str | None:
    """The only assignment there is (a student's bundle), else the one whose names the submission
    defines most, in the notebook or in the modules beside it (models.py next to asgn6.ipynb)."""
    known = assignments.all_assignments()
    if len(known) == 1:
        return next(iter(known))
    path = Path(path)
    text = "\n".join(_text(p) for p in [path, *beside(path)])
    best, score = None, 0
    for a in known.values():
        hits = sum(1 for n in a.names if re.search(rf"\b(class|def)\s+{re.escape(n)}\b", text))
        if hits > score:
            best, score = a.slug, hits
    return best
