"""Written answers for manual items, pulled out of the student's notebook for the marker.

The cells come from grader.locate (tag, marker or heading, as the item's toml says, every
style it names together); the answer is their markdown without the marker or heading line,
or, where the student answered with a run and no words (a training log, a printed accuracy),
what those cells printed when the student ran them. Placeholders left from the skeleton are
not answers."""
from __future__ import annotations

import re

from . import locate

PLACEHOLDER = re.compile(r"^\s*(YOUR ANSWER HERE|TODO)\.?\s*$", re.I | re.M)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def extract(nb, item, limit: int = 4000) -> str:
    """`item`: an assignment's Item (its toml's locate rule applies) or an item id."""
    if nb is None:
        return ""
    found = locate.item(nb, item, every=True) if hasattr(item, "locate") else locate.locate(nb, item, every=True)
    if not found:
        return ""
    text = PLACEHOLDER.sub("", locate.text_of(nb, found, limit)).strip() or printed(nb, found.cells, limit)
    figures = sum(1 for i in found.cells for o in nb.cells[i].get("outputs", [])
                  if any(k.startswith("image/") for k in (o.get("data") or {})))
    cells = f"cell{'s' if len(found.cells) > 1 else ''} {', '.join(map(str, found.cells))}"
    return text or (f"({figures} figure{'s' if figures > 1 else ''} in the notebook, {cells})" if figures else "")


def terminal_text(text: str) -> str:
    """What a terminal would show: ANSI colours dropped, and of a line rewritten with '\\r'
    (progress bars, Keras' epoch lines) its last state; backspaces applied."""
    text = _ANSI.sub("", text)
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        line = line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r")
        while "\x08" in line:
            line = re.sub(r"[^\x08]\x08|^\x08+", "", line, count=1)
        lines.append(line)
    return "\n".join(lines)


def output_text(output) -> str:
    """The text an output showed: a stream, an error, or a result's text/plain."""
    kind = output.get("output_type")
    if kind == "stream":
        return terminal_text(_joined(output.get("text", "")))
    if kind == "error":
        return terminal_text("\n".join(output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"]))
    data = output.get("data") or {}
    if "text/plain" not in data or any(k.startswith("image/") for k in data):   # "<Figure size 640x480 ...>"
        return ""
    return terminal_text(_joined(data["text/plain"]))


def _joined(v) -> str:
    return "".join(v) if isinstance(v, list) else str(v)


def printed(nb, cells: list[int], limit: int = 4000) -> str:
    """What the code cells printed as submitted: stdout and text results (no errors, nor the
    libraries' warnings on stderr)."""
    parts = []
    for i in cells:
        c = nb.cells[i]
        if c.get("cell_type") != "code":
            continue
        text = "".join(output_text(o) for o in c.get("outputs", [])
                       if o.get("output_type") != "error" and o.get("name") != "stderr").strip()
        if text:
            parts.append(text)
    text = "\n\n".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"
