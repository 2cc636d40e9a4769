"""Where a notebook answers an item: the cells that carry it, found the three ways courses mark
them, so that inline work can be graded and hand-marked answers shown to the marker.

- **tag**: a cell tagged `item-<ID>` or `answer-<ID>` (our skeletons);
- **marker**: a bracketed label at the start of a line, in a code comment or a markdown line:
  `### [C9: Qualitative Evaluation]`, `# [C2]`, `# [Q4]/[Q5] train ...`, `[C12+Q9]`, `**[Q5]**`
  (the HKUST notebooks). Every cell that carries the label belongs to the item, and so do the
  cells after it up to the next marker or markdown heading (a markdown heading `### [C1]` is
  followed by the code cell that answers it);
- **heading**: a markdown heading (or a bold line, or a short bold label opening a paragraph)
  that names the item by the handout's section number or question: `## 4.2`, `### Question 3c`,
  `**(c)**`, `**(d)** The middle pixel ...`, `Q4:`; a label `Part B > Question 2`
  asks for a "Question 2" heading inside a "Part B" one (the UofT notebooks). The item runs to the
  next heading of the same or a higher level. A code cell whose first line is such a comment
  (`# 3c: ...`) is found too, when no markdown heading names the item.

The assignment's toml may say per item which styles apply and what the labels are
(`locate = { style = ["marker"], labels = ["C9"] }`); by default every style is tried, in the
order above, with the item's own id as the label. Where the locator is unsure (several places
name the item, or only another style than the toml's found it) it says so, with the candidates."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

STYLES = ("tag", "marker", "heading")
MAX_SPAN = 12          # cells an item may run over past its last marked cell


@dataclass
class Found:
    item: str
    cells: list[int] = field(default_factory=list)    # the item's cells: marked ones and those that follow
    marked: list[int] = field(default_factory=list)   # the cells that carry the tag, marker or heading
    style: str = ""                                   # how it was found: tag, marker, heading ("" = not found)
    certain: bool = False
    note: str = ""                                    # why the locator is unsure

    def __bool__(self) -> bool:
        return bool(self.cells)


# ---- markers ------------------------------------------------------------------------------------

# one bracketed group at the start of a line: "[C9: title]", "[Q4]", "[C12+Q9]", "[ 3c ]"
_BRACKET = re.compile(r"\[\s*([A-Za-z]*\d+(?:\.\d+)*[a-z]?(?:\s*[+,/&]\s*[A-Za-z]*\d+(?:\.\d+)*[a-z]?)*)\s*(?::[^\]]*)?\]")
_MARKER_LINE = re.compile(r"^[ \t]*(?:#+|\*\*|__|>)?[ \t]*((?:\[[^\]\n]*\][ \t]*(?:[/,&+]|and)?[ \t]*)+)", re.M)


def markers(text: str, markdown: bool = False) -> list[str]:
    """The item labels a cell's text carries as markers, in order. In markdown, a heading
    names its items anywhere on its line too (`### Generation [C9]: ...`, `## 4.1 Data [C1], [C2]`)."""
    out: list[str] = []
    lines = [m.group(1) for m in _MARKER_LINE.finditer(text)]
    if markdown:
        lines = [m.group(0) for m in _MD_HEADING.finditer(text)] + lines
    for line in lines:
        for group in _BRACKET.finditer(line):
            out += [s for s in re.split(r"\s*[+,/&]\s*", group.group(1)) if s and s not in out]
    return out


# ---- headings -----------------------------------------------------------------------------------

_MD_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
_BOLD_LINE = re.compile(r"^[ \t]*(?:\*\*|__)(.+?)(?:\*\*|__)[ \t]*[.:]?[ \t]*$", re.M)
# a short bold label that opens a paragraph: "**(d)** The middle pixel given ..."
_BOLD_LEAD = re.compile(r"^[ \t]*(?:\*\*|__)([^*_\n]{1,40}?)(?:\*\*|__)[ \t]*[.:)]?[ \t]+\S.*$", re.M)
_WORDS = r"(?:question|exercise|problem|task|part|answer|q)"


def _names(text: str, label: str) -> bool:
    """Whether a heading's text starts by naming `label` ("4.2", "Question 3c", "(c)", "Q4:"),
    and not a longer number ("4.21", "4.2.1"); a heading that lists several ("4.2, 5.2, 6.2
    Training runs") names each of them."""
    t = re.sub(r"[*_`]", "", text).strip().lower()
    while True:
        if _starts_with(t, label):
            return True
        m = _LISTED.match(t)
        if not m:
            return False
        t = t[m.end():]


def _starts_with(t: str, label: str) -> bool:
    lab = re.escape(label.strip().lower())
    if re.match(rf"^{_WORDS}?\s*\.?\s*\(?{lab}\)?(?![\w]|\.\d)", t):
        return True
    # "Question 3 (c)" for "3c", "3.c" or "3(c)"
    m = re.match(r"^(\d+)\s*[.(]?\s*([a-z])\)?$", label.strip().lower())
    return bool(m) and bool(re.match(rf"^{_WORDS}?\s*{m.group(1)}\s*[.(]?\s*\(?{m.group(2)}\)(?![\w])", t))


# one numbered label and a separator at the start of a heading that lists several
_LISTED = re.compile(rf"^{_WORDS}?\s*\.?\s*\(?\d+(?:\.\d+)*[a-z]?\)?\s*(?:,|&|/|\band\b)\s*")
_SECTION = re.compile(rf"^{_WORDS}?\s*\.?\s*\(?(\d+(?:\.\d+)*)(?:\.?([a-z])(?![a-z0-9])|\s*\(([a-z])\))?")


def section(text: str) -> str | None:
    """The section number a heading (or label) starts with, as '4.2', '4.2.1' or '3c'; None
    for a heading that names none ("Discussion", "(c)")."""
    m = _SECTION.match(re.sub(r"[*_`]", "", text).strip().lower())
    return m.group(1) + (m.group(2) or m.group(3) or "") if m else None


def _another_section(text: str, number: str | None) -> bool:
    """A heading that starts another numbered section than `number` (not one inside it)."""
    sec = section(text)
    return number is not None and sec is not None and sec != number and not sec.startswith(number + ".")


_LABEL = re.compile(rf"^{_WORDS}?\s*\.?\s*(\(?(?:\d+(?:\.\d+)*\s*\(?[a-z]?|[a-z])\)?)(?![\w])")


def _label(text: str) -> str | None:
    m = _LABEL.match(re.sub(r"[*_`]", "", text).strip().lower())
    return m.group(0).strip() if m and m.group(1).strip("()") else None


def _shape(text: str) -> str | None:
    """The form of the label a heading opens with ("(c)" -> "(a)", "3c" -> "1a", "4.2" -> "1.1"),
    or None."""
    lab = _label(text)
    return re.sub(r"\d+", "1", re.sub(r"[a-z]", "a", lab)) if lab else None


def _sibling(text: str, other: str) -> bool:
    """Whether `other` opens with another label of the same form as `text`'s ("(c)" and "(d)"):
    an item's span ends at its next sibling, at whatever level that is written."""
    shape = _shape(text)
    return shape is not None and _shape(other) == shape and _label(other) != _label(text)


def headings(nb) -> list[tuple[int, int, str]]:
    """(cell, level, text) of every markdown heading, bold line and short bold label opening a
    paragraph (`**(d)** ...`), in order; the bold ones rank below every '#' level."""
    out = []
    for i, c in enumerate(nb.cells):
        if c.get("cell_type") != "markdown":
            continue
        found = [(m.start(), len(m.group(1)), m.group(2)) for m in _MD_HEADING.finditer(c.source)]
        found += [(m.start(), 7, m.group(1)) for m in _BOLD_LINE.finditer(c.source)]
        found += [(m.start(), 7, m.group(1)) for m in _BOLD_LEAD.finditer(c.source)]
        out += [(i, level, text) for _, level, text in sorted(found)]
    return out


def _comment_heading(source: str) -> str:
    first = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return first.lstrip("#").strip() if first.startswith("#") and not first.startswith("#!") else ""


# ---- the item's cells ---------------------------------------------------------------------------

def _follow(nb, start: int, stop) -> list[int]:
    """Cells after `start` up to (not including) the first for which stop(i) holds."""
    out = []
    for j in range(start + 1, min(len(nb.cells), start + 1 + MAX_SPAN)):
        if stop(j):
            break
        out.append(j)
    return out


def _is_heading_cell(c) -> bool:
    return c.get("cell_type") == "markdown" and bool(_MD_HEADING.search(c.source))


def _is_tagged(c) -> bool:
    return any(t.startswith(("item-", "answer-")) for t in c.get("metadata", {}).get("tags", []))


def by_tag(nb, labels: list[str]) -> list[int]:
    wanted = {f"{p}-{lab}" for lab in labels for p in ("item", "answer")}
    return [i for i, c in enumerate(nb.cells) if wanted & set(c.get("metadata", {}).get("tags", []))]


def by_marker(nb, labels: list[str]) -> tuple[list[int], list[int]]:
    wanted = {lab.lower() for lab in labels}
    carried = [markers(c.source, c.get("cell_type") == "markdown") for c in nb.cells]
    marked = [i for i, ms in enumerate(carried) if wanted & {m.lower() for m in ms}]
    cells: list[int] = []
    for i in marked:
        cells.append(i)
        cells += _follow(nb, i, lambda j: bool(carried[j]) or _is_heading_cell(nb.cells[j]) or _is_tagged(nb.cells[j]))
    return sorted(set(cells)), marked


def by_heading(nb, label: str) -> list[tuple[list[int], int]]:
    """Each place a heading names `label` (optionally `Ancestor > label`): (cells, heading cell)."""
    parts = [p.strip() for p in label.split(">")]
    name, ancestors = parts[-1], parts[:-1]
    hs = headings(nb)
    places = []
    for k, (cell, level, text) in enumerate(hs):
        if not _names(text, name):
            continue
        if ancestors:
            above = [h for h in hs[:k] if h[1] < level]
            enclosing = []
            for h in above:                       # the chain of open headings above this one
                while enclosing and enclosing[-1][1] >= h[1]:
                    enclosing.pop()
                enclosing.append(h)
            if not all(any(_names(t, a) for _, _, t in enclosing) for a in ancestors):
                continue
        number = section(name)
        end = next((h[0] for h in hs[k + 1:] if h[0] > cell and (h[1] <= level or _another_section(h[2], number)
                                                                  or _sibling(text, h[2]))),
                   None)
        stop = (lambda j, end=end: end is not None and j >= end)
        places.append(([cell, *_follow(nb, cell, stop)], cell))
    if not places and not ancestors:
        for i, c in enumerate(nb.cells):
            if c.get("cell_type") == "code" and _names(_comment_heading(c.source), name):
                head = _comment_heading(c.source)
                places.append(([i, *_follow(nb, i, lambda j, head=head: _is_heading_cell(nb.cells[j])
                                            or bool(markers(nb.cells[j].source, True))
                                            or _names(_comment_heading(nb.cells[j].source), name)
                                            or _sibling(head, _comment_heading(nb.cells[j].source)))], i))
    return places


def locate(nb, item_id: str, styles: tuple[str, ...] = STYLES, labels: tuple[str, ...] = (),
           every: bool = False) -> Found:
    """The cells that answer `item_id`: the first of `styles` that finds it, or with `every`
    all of them together (for the marker, who wants the tagged training cell and the comment the
    student wrote under a heading); failing those, any other style (then `certain` is False
    and `note` says so)."""
    if nb is None:
        return Found(item_id, note="no notebook")
    labels = list(labels) or [item_id]
    if every:
        finds = [f for f in (_one(nb, item_id, s, labels) for s in styles) if f]
        if finds:
            return finds[0] if len(finds) == 1 else _united(item_id, finds)
    tried = list(styles) + [s for s in STYLES if s not in styles]
    for n, style in enumerate(tried):
        if every and n < len(styles):
            continue
        found = _one(nb, item_id, style, labels)
        if found:
            if n >= len(styles):
                found.certain = False
                found.note = (f"found by {style}, not by the {'/'.join(styles)} the assignment names"
                              + (f"; {found.note}" if found.note else ""))
            return found
    return Found(item_id)


def _united(item_id: str, finds: list[Found]) -> Found:
    return Found(item_id, sorted({i for f in finds for i in f.cells}), sorted({i for f in finds for i in f.marked}),
                 "+".join(f.style for f in finds), all(f.certain for f in finds),
                 "; ".join(f.note for f in finds if f.note))


def item(nb, it, every: bool = False) -> Found:
    """An assignment item's cells, as its toml's `locate` says (grader.config.Locate)."""
    return locate(nb, it.id, it.locate.style, it.locate.labels, every)


def _one(nb, item_id: str, style: str, labels: list[str]) -> Found:
    if style == "tag":
        cells = by_tag(nb, labels)
        return Found(item_id, cells, cells, "tag", True) if cells else Found(item_id)
    if style == "marker":
        cells, marked = by_marker(nb, labels)
        return Found(item_id, cells, marked, "marker", True) if cells else Found(item_id)
    places = list({h: (cs, h) for lab in labels for cs, h in by_heading(nb, lab)}.values())
    if not places:
        return Found(item_id)
    cells = sorted({i for cs, _ in places for i in cs})
    marked = sorted(h for _, h in places)
    # a heading shared by several items ("4.2, 5.2, 6.2 Training runs") does not compete with
    # the one that names this item alone: two of those do (Question 2 in Part B and in Part C)
    own = [h for h in marked if not _lists_several(nb.cells[h])]
    if len(own) <= 1:
        return Found(item_id, cells, marked, "heading", True)
    return Found(item_id, cells, marked, "heading", False,
                 f"{len(own)} headings name it (cells {', '.join(map(str, own))})")


def _lists_several(cell) -> bool:
    if cell.get("cell_type") != "markdown":
        return False
    return any(_LISTED.match(re.sub(r"[*_`]", "", m.group(2)).strip().lower()) for m in _MD_HEADING.finditer(cell.source))


def _unmarked(line: str) -> str:
    """A line without its leading marker: "**[Q4]** The loss fell" -> "The loss fell"."""
    m = _MARKER_LINE.match(line)
    return re.sub(r"^[*_:.\s-]+", "", line[m.end():]) if m and markers(line) else line


def text_of(nb, found: Found, limit: int = 4000) -> str:
    """The markdown answer text of a located item, without the marker or heading lines (often the
    handout's prompt, "**[Q6]** Comment on the generated images."), unless the student's words are
    on those lines and nowhere else ("**[Q4]** The loss fell from 2.2 to 1.9")."""
    for keep_marked_lines in (False, True):
        parts = []
        for i in found.cells:
            c = nb.cells[i]
            if c.get("cell_type") != "markdown":
                continue
            src = c.source
            if i in found.marked:
                src = "\n".join(_unmarked(ln) if keep_marked_lines else ln for ln in src.splitlines()
                                if not (_MD_HEADING.match(ln) or _BOLD_LINE.match(ln)
                                        or (markers(ln) and not keep_marked_lines)))
            if src.strip():
                parts.append(src.strip())
        if parts:
            break
    return "\n\n".join(parts)[:limit]
