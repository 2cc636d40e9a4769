"""Notebooks from Python files and back: the public authoring API that the reference's
scripts use to write example submissions (grader/datasets is the other one). A `.py` file in
Jupytext's percent format is one notebook cell per `# %%` marker."""
from __future__ import annotations

import re

import nbformat

_CELL_MARK = re.compile(r"^# %%(?P<md> \[markdown\])?(?P<rest>.*)$")
_TAGS = re.compile(r"tags\s*=\s*\[([^\]]*)\]")


def notebook_from_py(text: str) -> nbformat.NotebookNode:
    """A .py file becomes a notebook: one cell, or one per `# %%` marker (Jupytext percent
    format, with `tags=[...]` and `[markdown]` honoured)."""
    nb = nbformat.v4.new_notebook()
    cells: list[tuple[str, list[str], list[str]]] = []  # (type, tags, lines)
    current = ("code", [], [])
    for line in text.splitlines():
        m = _CELL_MARK.match(line)
        if m:
            if current[2] and any(l.strip() for l in current[2]):
                cells.append(current)
            tags_m = _TAGS.search(m.group("rest") or "")
            tags = [t.strip().strip("'\"") for t in tags_m.group(1).split(",") if t.strip()] if tags_m else []
            current = ("markdown" if m.group("md") else "code", tags, [])
        else:
            current[2].append(line)
    if any(l.strip() for l in current[2]):
        cells.append(current)
    for kind, tags, lines in cells:
        if kind == "markdown":
            src = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in lines).strip("\n")
            cell = nbformat.v4.new_markdown_cell(src)
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines).strip("\n"))
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def notebook_text(nb) -> str:
    """A notebook as a student's file: a python3 kernelspec and stable cell ids."""
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i}"
    return nbformat.writes(nb)


def as_colab(nb, strip_tags: bool = True):
    """Dress a notebook as a Colab export (for example submissions): a Drive mount first,
    and, as students' notebooks have, no cell tags."""
    nb.cells.insert(0, nbformat.v4.new_code_cell("from google.colab import drive\ndrive.mount('/content/drive')"))
    if strip_tags:
        for c in nb.cells:
            c.metadata.pop("tags", None)
    return nb


