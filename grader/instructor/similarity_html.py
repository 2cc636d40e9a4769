"""similarity.html: the pairs ranked by score, each opening its matched passages side by side.

One static page (no script, no outside resource); everything a student wrote is escaped."""
from __future__ import annotations

import html
from pathlib import Path

from ..config import Assignment
from .fingerprints import Code

CONTEXT = 2                 # lines shown around a passage
MAX_LINES = 80              # of one side of a passage

_STYLE = """
body{font-family:sans-serif;margin:1.5em;max-width:110em}
table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}
.side{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1em;margin:.6em 0 1.2em}
pre{background:#f7f7f7;padding:.4em;overflow-x:auto;margin:0;font-size:85%}
.hit{background:#ffe08a}.ln{color:#999;user-select:none}
section{border-top:2px solid #ccc;margin-top:1em}
"""


def _passage(code: Code, label: str, lines: tuple[int, int]) -> str:
    text = next((s.text for s in code.sources if s.label == label), "").splitlines()
    lo, hi = max(1, lines[0] - CONTEXT), min(len(text), lines[1] + CONTEXT, lines[0] + MAX_LINES)
    rows = []
    for n in range(lo, hi + 1):
        line = html.escape(text[n - 1]) if n <= len(text) else ""
        rows.append(f'<span class="ln">{n:4d} </span>' + (f'<span class="hit">{line}</span>'
                                                           if lines[0] <= n <= lines[1] else line))
    more = f"\n… {lines[1] - hi} more matched lines" if lines[1] > hi else ""
    return (f"<div><b>{html.escape(code.name)}</b>: {html.escape(label)}, lines {lines[0]}–{lines[1]}"
            f"<pre>{chr(10).join(rows)}{html.escape(more)}</pre></div>")


def write(sim, assignment: Assignment, path: Path, top: int = 200) -> None:
    e = html.escape
    scored = [p for p in sim.pairs if p.score]
    shown = scored[:top]
    parts = [f"<p>{len(sim.names)} submissions, {len(sim.pairs)} pairs, {len(scored)} sharing code of their own. "
             "Not counted: the skeleton and the helpers handed out, and any passage found in more than "
             f"{sim.shared_over} submissions. Score: 2·shared / (a's + b's own fingerprints).</p>"]
    problems = [("shared code", msg) for msg in sim.notes] + [(c.name, msg) for c in sim.codes for msg in c.problems]
    if problems:
        parts.append("<h2>Not (fully) read</h2><ul>" + "".join(
            f"<li>{e(name)}: {e(msg)}</li>" for name, msg in problems) + "</ul>")
    parts.append('<h2 id="pairs">Pairs</h2>'
                 "<table><tr><th>#</th><th>score</th><th>a</th><th>b</th><th>a's share</th>"
                 "<th>b's share</th><th>passages</th></tr>")
    for n, p in enumerate(shown, 1):
        parts.append(f'<tr><td><a href="#pair-{n}">{n}</a></td><td>{p.score:.2f}</td>'
                     f"<td>{e(sim.names[p.a])}</td><td>{e(sim.names[p.b])}</td><td>{p.a_share:.0%}</td>"
                     f"<td>{p.b_share:.0%}</td><td>{len(p.regions)}</td></tr>")
    parts.append("</table>")
    if len(scored) > len(shown):
        parts.append(f"<p>{len(scored) - len(shown)} more pairs with a lower score are in similarity.csv.</p>")
    for n, p in enumerate(shown, 1):
        ca, cb = sim.codes[p.a], sim.codes[p.b]
        body = "".join(f'<div class="side">{_passage(ca, r.a_source, r.a_lines)}{_passage(cb, r.b_source, r.b_lines)}'
                       "</div>" for r in p.regions)
        parts.append(f'<section id="pair-{n}"><h3>#{n} {e(ca.name)} ~ {e(cb.name)}: {p.score:.2f} '
                     f'<a href="#pairs">↑</a></h3>{body}</section>')
    title = f"Similarity: {assignment.title or assignment.slug}"
    path.write_text(f"<!doctype html><meta charset='utf-8'><title>{e(title)}</title><style>{_STYLE}</style>"
                    f"<h1>{e(title)}</h1>\n" + "\n".join(parts) + "\n", encoding="utf-8")
