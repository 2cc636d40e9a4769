"""What the marker sees of a graded submission, for the marking app and the static pages alike:
each hand-marked item's answer as the student left it (the cells grader.locate finds, from the
notebook as submitted, with its stored outputs), how it was found or why the locator is unsure,
and what the grader attached (its training curves, generated images). Jinja2 templates in
templates/ turn these into pages; the app adds the marking controls to the same blocks."""
from __future__ import annotations

import functools
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import nbformat
import pandas as pd

from .. import locate, report
from ..config import Assignment, Item
from ..result import ItemResult
from . import render

IMAGES = {".png", ".jpg", ".jpeg", ".gif"}       # never SVG files: opened directly they can script
SIMILARITY = "similarity.csv"                     # written by `grader grade --similarity` (a, b, score, ...)
CSP = ("default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
# the static pages (`grader marksheet`) show the grader's figures beside them and run no script
STATIC_CSP = "default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'"
STATIC = Path(__file__).with_name("static")


@dataclass
class Answer:
    spec: Item
    result: ItemResult
    found: locate.Found
    cells: list[render.Cell] = field(default_factory=list)
    where: str = ""                  # how the cells were found, or why none were
    unsure: bool = False

    @property
    def figures(self) -> int:
        return sum(c.figures for c in self.cells)


@dataclass
class Attachment:
    name: str
    caption: str


@dataclass
class Match:
    k: int                            # the other submission's position in the batch
    label: str
    score: float


def notebook(folder: Path):
    """(the notebook as submitted, a note for the marker): submitted.ipynb, else the executed
    notebook (its sources, without the outputs the student saw), else none."""
    nb = _read(str(folder / report.SUBMITTED), _mtime(folder / report.SUBMITTED))
    if nb is not None:
        return nb, ""
    nb = _read(str(folder / "executed.ipynb"), _mtime(folder / "executed.ipynb"))
    if nb is not None:
        return nb, ("Graded before the grader kept the notebooks as submitted: the sources are shown, "
                    "without the outputs the student saw.")
    return None, "No notebook in this submission (Python files only, or unreadable)."


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


@functools.lru_cache(maxsize=64)
def _read(path: str, mtime: float):
    """A notebook, read once per version of the file (the app's pages and images share it)."""
    if not mtime:
        return None
    try:      # not validated against the schema (a fifth of a second for forty figures): rendered defensively
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        doc = json.loads(text)
        if doc.get("nbformat") != 4:
            doc = nbformat.convert(nbformat.reader.reads(text), 4)
        return nbformat.from_dict(_tidy(doc))
    except Exception:  # noqa: BLE001 - an unreadable notebook is shown as such, never a crash
        return None


def _tidy(nb):
    """The shapes the locator and the renderer read, whatever the file held: text sources,
    dict metadata, a list of text tags, a list of outputs."""
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    for c in cells:
        src = c.get("source", "")
        c["source"] = "".join(map(str, src)) if isinstance(src, list) else str(src)
        c["cell_type"] = c.get("cell_type") if c.get("cell_type") in {"code", "markdown", "raw"} else "raw"
        meta = c.get("metadata") if isinstance(c.get("metadata"), dict) else {}
        tags = meta.get("tags", [])
        meta["tags"] = [str(t) for t in tags] if isinstance(tags, list) else []
        c["metadata"] = meta
        c["outputs"] = [o for o in c.get("outputs", []) if isinstance(o, dict)] if isinstance(c.get("outputs"), list) else []
    nb["cells"] = cells
    return nb


def where(found: locate.Found, spec: Item) -> str:
    labels = ", ".join(spec.locate.labels or (spec.id,))
    if not found:
        return (found.note or f"not found by {' / '.join(spec.locate.style)} ({labels})") + \
            ": the whole notebook is one click away"
    span = ", ".join(str(i) for i in found.cells)
    text = f"found by {found.style} ({labels}) in cell{'s' if len(found.cells) > 1 else ''} {span}"
    return text + (f"; unsure: {found.note}, all candidates shown" if not found.certain else "")


def answers(a: Assignment, result, nb, src: render.ImageSrc = render.inline, only: str | None = None) -> list[Answer]:
    """The hand-marked items' answers in a submission (or only item `only`)."""
    out = []
    for it in result.items:
        if it.kind == "auto" or (only is not None and it.id != only):
            continue
        spec = next((i for i in a.items if i.id == it.id), None) or Item(id=it.id, points=it.max_points, manual=True)
        found = locate.item(nb, spec, every=True) if nb is not None else locate.Found(it.id, note="no notebook")
        cells = [render.cell(nb, i, src, i in found.marked) for i in found.cells]
        out.append(Answer(spec, it, found, cells, where(found, spec), bool(found) and not found.certain))
    return out


def attachments(folder: Path) -> list[Attachment]:
    """The images the grader wrote beside the result (curves.png: its own training runs)."""
    out = []
    for p in sorted(folder.iterdir() if folder.is_dir() else []):
        if p.suffix.lower() in IMAGES and p.is_file() and not p.is_symlink() and render.safe_name(p.name):
            cap = ("the grader's own short training runs of this submission's models; the reference's dashed"
                   if p.name == report.CURVES_PNG else "written by the grader")
            out.append(Attachment(p.name, cap))
    return out


def similar(out: Path, names: dict[str, int], labels: dict[int, str], submission: str, n: int = 3) -> list[Match]:
    """The closest submissions by OUT/similarity.csv (a, b, score; names as grades.csv has
    them), when `grader grade --similarity` wrote one."""
    table = _similarity(str(out / SIMILARITY), _mtime(out / SIMILARITY))
    if table is None:
        return []
    rows = table[((table["a"] == submission) | (table["b"] == submission)) & (table["score"] > 0)]
    rows = rows.sort_values("score", ascending=False)
    found = []
    for a, b, score in rows[["a", "b", "score"]].itertuples(index=False):
        other = b if a == submission else a
        if other in names and len(found) < n:
            found.append(Match(names[other], labels[names[other]], float(score)))
    return found


@functools.lru_cache(maxsize=4)
def _similarity(path: str, mtime: float):
    if not mtime:
        return None
    try:
        t = pd.read_csv(path, dtype={"a": str, "b": str})
        t["score"] = pd.to_numeric(t["score"], errors="coerce")
        return t.dropna(subset=["score"])
    except (OSError, ValueError, KeyError):
        return None


def anchor(item_id: str) -> str:
    """The id of an item's block (`item-<ID>`), safe in a URL fragment."""
    return "item-" + re.sub(r"[^\w.-]", "_", item_id)


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("grader.instructor", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["anchor"] = anchor
    env.filters["pts"] = lambda v: "–" if v is None else f"{v:g}"
    env.globals["csp"] = CSP
    env.globals["inline_css"] = lambda: (STATIC / "mark.css").read_text()
    env.globals["escape"] = html.escape
    return env


def page(template: str, **context) -> str:
    return environment().get_template(template).render(**context)
