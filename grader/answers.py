"""Written answers for manual items, pulled out of the student's notebook for the marker."""
from __future__ import annotations

import re


def _heading(item_id: str) -> re.Pattern:
    i = re.escape(item_id)
    # "### 3d", "**3d.**", "(3d)", "Q4:", "Question 3d", "Answer 3d" at the start of a line
    return re.compile(rf"^\s*(#+\s*|\*\*|__)?\s*(question|answer|q)?\s*\(?{i}\)?(?![\w.]*\d)[\s.:)*_-]", re.I | re.M)


PLACEHOLDER = re.compile(r"^\s*(YOUR ANSWER HERE|TODO)\.?\s*$", re.I)


def extract(nb, item_id: str, limit: int = 4000) -> str:
    text = _extract(nb, item_id, limit)
    return "" if PLACEHOLDER.match(text) else text


def _extract(nb, item_id: str, limit: int) -> str:
    """The text of the cell tagged `answer-<id>`, else of the markdown after the heading
    that names the item, up to the next code cell or heading."""
    if nb is None:
        return ""
    cells = nb.cells
    for c in cells:
        if f"answer-{item_id}" in c.get("metadata", {}).get("tags", []):
            return c.source.strip()[:limit]
    pat = _heading(item_id)
    for i, c in enumerate(cells):
        if c.cell_type != "markdown" or not pat.search(c.source):
            continue
        m = pat.search(c.source)
        line_end = c.source.find("\n", m.end())
        parts = [c.source[line_end:].strip() if line_end >= 0 else ""]
        for nxt in cells[i + 1:]:
            if nxt.cell_type != "markdown" or nxt.source.lstrip().startswith("#"):
                break
            parts.append(nxt.source.strip())
        return "\n\n".join(p for p in parts if p)[:limit]
    return ""
