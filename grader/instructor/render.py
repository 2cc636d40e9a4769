"""A notebook's cells as the student left them, as safe HTML for the marker: markdown rendered
(raw HTML escaped, links checked), code highlighted, and the stored outputs (figures, printed
text, tables, tracebacks). Everything here came from the student: nothing is trusted, nothing
runs. Figures are checked to be the images they claim (SVG only ever inside <img>, where it
cannot script); HTML outputs (pandas tables) pass an allow-list sanitizer; the pages also
carry a Content-Security-Policy that allows no script but the app's own."""
from __future__ import annotations

import base64
import html
import re
import struct
from dataclasses import dataclass, field
from typing import Callable

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from ..answers import output_text

_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",), "image/gif": (b"GIF87a", b"GIF89a")}
IMAGE_TYPES = (*_MAGIC, "image/svg+xml")
MAX_TEXT = 200_000          # characters of one printed output shown (a long training log is cut in the middle)
_md = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")
_lexer, _fmt = PythonLexer(), HtmlFormatter(nowrap=True)


@dataclass
class Image:
    mime: str
    data: bytes
    width: int | None = None
    height: int | None = None

    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode()}"


@dataclass
class Cell:
    index: int
    kind: str                        # markdown, code, raw
    html: str                        # the source, rendered
    outputs: list[str] = field(default_factory=list)
    execution_count: int | None = None
    marked: bool = False             # carries the item's tag, marker or heading
    figures: int = 0


# where a figure's <img> points: (cell, output, mime, image) -> src; static pages inline them
ImageSrc = Callable[[int, int, str, Image], str]


def inline(cell: int, output: int, mime: str, image: Image) -> str:
    return image.data_uri()


def image(mime: str, payload) -> Image | None:
    """An output's image, decoded and checked to be what it says (None otherwise)."""
    if mime not in IMAGE_TYPES:
        return None
    text = "".join(payload) if isinstance(payload, list) else payload
    if not isinstance(text, str):
        return None
    if mime == "image/svg+xml":
        data = text.encode()
        return Image(mime, data) if b"<svg" in data[:4096] else None
    try:
        data = base64.b64decode(text, validate=False)
    except ValueError:
        return None
    if not any(data.startswith(m) for m in _MAGIC[mime]):
        return None
    w = h = None
    if mime == "image/png" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
    return Image(mime, data, w, h)


def markdown(source: str, attachments: dict | None = None) -> str:
    """Markdown as HTML, raw HTML escaped; `attachment:` images (Jupyter's pasted figures) inlined."""
    for name, bundle in (attachments or {}).items():
        for mime, payload in (bundle or {}).items():
            img = image(mime, payload)
            if img is not None and mime != "image/svg+xml":
                source = source.replace(f"attachment:{name}", img.data_uri())
                break
    return _md.render(source)


def code(source: str) -> str:
    return highlight(source, _lexer, _fmt)


def _text_block(text: str, cls: str) -> str:
    if len(text) > MAX_TEXT:
        half = MAX_TEXT // 2
        cut = text[half:-half].count("\n")
        text = f"{text[:half]}\n… {cut} lines not shown …\n{text[-half:]}"
    return f'<pre class="{cls}">{html.escape(text)}</pre>'


def output(o, cell: int, n: int, src: ImageSrc) -> tuple[str, int]:
    """(HTML, figures) of one stored output: an image first, then HTML, markdown, text."""
    kind = o.get("output_type")
    if kind == "stream":
        return _text_block(output_text(o), "stream stderr" if o.get("name") == "stderr" else "stream"), 0
    if kind == "error":
        return _text_block(output_text(o), "error"), 0
    data = o.get("data") or {}
    for mime in IMAGE_TYPES:
        if mime in data:
            img = image(mime, data[mime])
            if img is None:
                continue
            size = f' width="{img.width}" height="{img.height}"' if img.width and img.height else ""
            return (f'<img class="figure" loading="lazy" decoding="async" alt="figure (cell {cell})"{size} '
                    f'src="{html.escape(src(cell, n, mime, img))}">'), 1
    if "text/html" in data:
        raw = "".join(data["text/html"]) if isinstance(data["text/html"], list) else str(data["text/html"])
        return f'<div class="html-output">{nh3.clean(raw)}</div>', 0
    if "text/markdown" in data:
        raw = data["text/markdown"]
        return f'<div class="markdown">{markdown("".join(raw) if isinstance(raw, list) else str(raw))}</div>', 0
    text = output_text(o)
    return (_text_block(text, "result"), 0) if text else ("", 0)


def _merged(outputs: list) -> list[tuple[int, dict]]:
    """(index, output), consecutive prints to one stream joined as Jupyter shows them (a
    training log is one block, not one per epoch); the index stays the first's, for images."""
    out: list[tuple[int, dict]] = []
    for n, o in enumerate(outputs):
        prev = out[-1][1] if out else None
        if (prev is not None and o.get("output_type") == "stream" == prev.get("output_type")
                and o.get("name") == prev.get("name")):
            out[-1] = (out[-1][0], {**prev, "text": _text(prev.get("text")) + _text(o.get("text"))})
        else:
            out.append((n, o))
    return out


def _text(v) -> str:
    return "".join(map(str, v)) if isinstance(v, list) else str(v or "")


def cell(nb, i: int, src: ImageSrc = inline, marked: bool = False) -> Cell:
    c = nb.cells[i]
    kind = c.get("cell_type", "raw")
    source = c.get("source", "")
    source = "".join(source) if isinstance(source, list) else str(source)
    if kind == "markdown":
        return Cell(i, kind, markdown(source, c.get("attachments")), marked=marked)
    if kind != "code":
        return Cell(i, kind, f"<pre>{html.escape(source)}</pre>", marked=marked)
    outs, figures = [], 0
    for n, o in _merged(c.get("outputs", []) or []):
        h, f = output(o, i, n, src)
        if h:
            outs.append(h)
            figures += f
    return Cell(i, kind, code(source), outs, c.get("execution_count"), marked, figures)


def stored_image(nb, i: int, n: int, mime: str) -> Image | None:
    """The image the app's /img/ URL names (None if it is not there or not an image)."""
    try:
        o = nb.cells[i].get("outputs", [])[n]
    except (IndexError, AttributeError, TypeError):
        return None
    return image(mime, (o.get("data") or {}).get(mime)) if isinstance(o, dict) else None


def safe_name(name: str) -> bool:
    return bool(re.fullmatch(r"[\w.-]+", name)) and not name.startswith(".")
