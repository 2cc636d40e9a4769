"""`grader.check("2a")` inside a student's notebook, in Otter's convention: that item's public
checks, run on the notebook's current definitions, shown under the cell.

The same stages as `grader check`, in this process instead of a sandboxed kernel: the probe
plan (probe.plan), the probe runner (probe/runner.py: pin, then run_probe, each probe in a
thread of its own with its time cap, as the armed library runs them), the observation's
encoding, the bundle's public expectations, the judge (judge.py) and the feedback text
(feedback.py). The answers stay where `check` keeps them: public checks and seeds only, no
reference, no hidden check. There is no sandbox: this is the student's own process, and
the first check says so."""
from __future__ import annotations

import ctypes
import gc
import html
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import config, expectations, judge, probe
from ..probe import observations, runner
from . import bundle, feedback

NO_SANDBOX = ("grader: these checks run in this notebook's own process, with no sandbox (it is your own code, "
              "in your own kernel); your instructor grades in a sandbox, with the hidden checks too.")


@dataclass
class Where:
    root: Path                     # the bundle
    assignment: config.Assignment
    device: str = "auto"           # auto: the GPU where the framework sees one, else the CPU


_state: dict = {"where": None, "told": False, "init": None}


def init(path=None, assignment: str | None = None, device: str = "auto") -> Path:
    """The bundle (its folder, or an assignment's folder in it) for the checks of this
    process, when the notebook does not run inside it; `assignment` where the bundle holds
    several and neither the path nor the notebook's definitions say which. Returns the bundle."""
    if device not in {"auto", "cpu", "cuda"}:
        raise ValueError("device must be auto, cpu or cuda")
    start = Path(path if path is not None else Path.cwd()).resolve()
    root = _root(start)
    _state.update(where=None, init=(start, assignment, device))
    return root


def _root(start: Path) -> Path:
    root = bundle.find(start)
    if root is None:
        raise LookupError(f"no release bundle ({bundle.MARKER}) in {start} or above it: open your notebook in the "
                          "bundle's folder, or call grader.init('path/to/the/bundle') once")
    return root


def locate(start: Path, slug: str | None = None, ns: dict | None = None) -> Where:
    """The bundle above `start` and the assignment: `slug`, else the assignment folder `start`
    is in, else the bundle's only one, else the one whose graded names `ns` defines."""
    start = Path(start).resolve()
    root = _root(start)
    slugs = sorted(p.parent.name for p in root.glob("*/assignment.toml"))
    if slug is None:
        slug = next((d.name for d in [start, *start.parents] if d.parent == root and d.name in slugs), None)
    if slug is None and len(slugs) == 1:
        slug = slugs[0]
    if slug is None and ns is not None:
        found = {s: sum(n in ns for n in config.load(root / s).names) for s in slugs}
        best = max(found, key=found.get, default=None)
        slug = best if best is not None and found[best] else None
    if slug not in slugs:
        raise LookupError(f"which assignment? {root} holds {', '.join(slugs) or 'none'}: call "
                          "grader.init(path, assignment=...)" if slug is None else
                          f"{root} holds no assignment {slug!r} (it holds {', '.join(slugs) or 'none'})")
    return Where(root, config.load(root / slug))


def _where(ns: dict) -> Where:
    if _state["where"] is None:
        start, slug, device = _state["init"] or (Path.cwd(), None, "auto")
        where = locate(start, slug, ns)
        where.device = device
        _state["where"] = where
    return _state["where"]


_RESET = re.compile(r"^\s*%reset\b|run_line_magic\(['\"]reset['\"]", re.M)


def _cells(ns: dict):
    """The notebook being checked, for the items answered by cells (inline answers): the saved
    file Jupyter names in `__session__` where there is one, else the code this kernel ran since
    its namespace was last reset (IPython's history: Colab, or a notebook never saved)."""
    import nbformat
    path = ns.get("__session__")
    if isinstance(path, str) and path.endswith(".ipynb") and os.path.isfile(path):
        try:
            return nbformat.read(path, as_version=4)
        except Exception:                       # unreadable or mid-save: the history below
            pass
    ran = [c for c in ns.get("In", []) if isinstance(c, str) and c.strip()]
    resets = [i for i, c in enumerate(ran) if _RESET.search(c)]
    ran = ran[resets[-1] + 1:] if resets else ran
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in ran if "grader.check" not in c]
    return nb


@dataclass
class _Submitted:
    notebook: object
    entry: str = "notebook.ipynb"


@dataclass
class _Here:
    """What probe.plan asks of a kernel session, for this process: paths are what they are."""
    files: Path
    cwd: Path
    sub: _Submitted = field(default_factory=lambda: _Submitted(None))

    @property
    def policy(self):
        return self

    def inside(self, host) -> str:
        return str(host)


def _raise_in(thread: threading.Thread, exc: type[BaseException]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exc))


def _probe(pinned: dict, ns: dict, plan: dict, key: str) -> dict:
    """runner.run_probe in a fresh thread (as in the grading kernel: thread-local state such as
    torch's grad mode is the default there), stopped at the probe's time cap."""
    cap = float(plan["probes"][key].get("timeout_s") or plan["timeout_s"])
    box: dict = {}

    def work() -> None:
        try:
            box["doc"] = runner.run_probe(pinned, ns, plan, key)
        except runner.ProbeTimeout:
            box["doc"] = {"error": {"type": "Timeout", "message": f"timed out after {cap:.0f} s", "where": ""}}

    t = threading.Thread(target=work, name=f"grader-check-{key}", daemon=True)
    t.start()
    try:
        t.join(cap)
        if t.is_alive():
            _raise_in(t, runner.ProbeTimeout)
            t.join()
    except KeyboardInterrupt:                     # the notebook's stop button stops the probe too
        _raise_in(t, runner.ProbeTimeout)
        t.join()
        raise
    return box.get("doc") or {"error": {"type": "Error", "message": "the check stopped without a result", "where": ""}}


def observe(where: Where, ns: dict, keys: list[str], workspace: Path) -> dict[str, probe.Observation]:
    """The public probes `keys` on the definitions in `ns`, as the grading kernel runs them."""
    a = where.assignment
    inside = where.root in [workspace, *workspace.parents]
    with tempfile.TemporaryDirectory() as empty:
        # the submission's own modules: the workspace's, inside the bundle; outside it (Colab's
        # /content, a mounted drive below it) only the files beside the notebook
        plan = probe.plan(a, _Here(workspace, workspace if inside else Path(empty), _Submitted(_cells(ns))), 0,
                          {"public"})
    if not inside:
        plan["modules"] = sorted(p.stem for p in workspace.glob("*.py") if p.stem.isidentifier())
    # never the bundle's own helpers (probes.py, a data loader), where the notebook sits beside them
    shipped = {p.resolve() for p in a.directory.glob("*.py")}
    plan["modules"] = [m for m in plan["modules"] if workspace.joinpath(*m.split(".")).with_suffix(".py").resolve()
                       not in shipped]
    saved = os.environ.get("GRADER_DEVICE")
    os.environ["GRADER_DEVICE"] = "cpu" if where.device == "cpu" else "cuda"   # the adapters fall back to the CPU
    try:
        pinned, _ = runner.pin(ns, plan, str(workspace))
        gc.collect()
        found = {}
        for key in keys:
            t0 = time.monotonic()
            doc, blob = observations.encode(_probe(pinned, ns, plan, key))
            found[key] = probe._observation(doc, blob, [], time.monotonic() - t0)
        return found
    finally:
        if saved is None:
            os.environ.pop("GRADER_DEVICE", None)
        else:
            os.environ["GRADER_DEVICE"] = saved


@dataclass
class Report:
    """What a check shows under the cell (text, and HTML in a notebook)."""
    slug: str
    feedback: feedback.Feedback
    notices: list[str] = field(default_factory=list)
    whole: bool = True              # check_all (with the total line), or one item

    @property
    def points(self) -> float:
        return self.feedback.got

    @property
    def max_points(self) -> float:
        return self.feedback.possible

    def text(self) -> str:
        lines = list(self.notices)
        for r in self.feedback.rows:
            lines.append(f"{r.item}: {r.score}" + (f"  {r.note}" if r.points is None else ""))
            lines += [f"  - {f}" for f in r.failed]
            if r.points is not None and r.note:
                lines.append(f"  ({r.note})")
        if self.whole:
            lines.append(self.feedback.total)
        return "\n".join(lines)

    __repr__ = text

    def _repr_html_(self) -> str:
        colour = {"pass": "#1a7f37", "partial": "#9a6700", "fail": "#cf222e", "later": "#57606a"}
        out = [f'<div class="grader-check" data-assignment="{html.escape(self.slug)}">']
        out += [f'<p style="color:#9a6700">{html.escape(n)}</p>'.replace("\n", "<br>") for n in self.notices]
        out.append('<table><tr><th style="text-align:left">item</th><th>points</th>'
                   '<th style="text-align:left">what failed</th></tr>')
        for r in self.feedback.rows:
            what = "<br>".join(html.escape(f) for f in r.failed) or ("ok" if r.points is not None else "")
            note = f'<br><span style="color:#57606a">{html.escape(r.note)}</span>' if r.note else ""
            out.append(f'<tr><td>{html.escape(r.item)}</td><td style="color:{colour[r.state]};white-space:nowrap">'
                       f'{html.escape(r.score)}</td><td style="text-align:left">{what}{note}</td></tr>')
        out.append("</table>")
        if self.whole:
            out.append(f"<p><b>{html.escape(self.feedback.total)}</b></p>")
        return "\n".join(out) + "</div>"


def run(ns: dict, item: str | None = None) -> Report:
    """One item's public checks (`item`), or every public check."""
    where = _where(ns)
    a = where.assignment
    if item is not None and item not in {it.id for it in a.items}:
        raise KeyError(f"{a.slug} has no item {item!r}; its items: {', '.join(it.id for it in a.items)}")
    chosen = [it for it in a.items if item is None or it.id == item]
    keys = sorted({c.probe for it in chosen for c in it.checks if c.visibility == "public"})
    observed = observe(where, ns, keys, Path.cwd().resolve()) if keys else {}
    judged = judge.judge(a, observed, expectations.bundled(a) or {}, visibility=("public",))
    fb = feedback.summarize([it for it in judged.items if item is None or it.id == item], a, answers=False)
    notices = [n for n in [bundle.mismatch(where.root, a.framework, notebook=True)] if n]
    if not _state["told"]:
        notices.append(NO_SANDBOX)
        _state["told"] = True
    return Report(a.slug, fb, notices, whole=item is None)
