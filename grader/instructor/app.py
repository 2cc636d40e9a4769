"""`grader mark OUT/`: the marking app, a local Starlette app over a graded batch.

Pages: the batch (`/`), one submission with every hand-marked item (`/s/<k>`), one question
across all submissions (`/q/<item>`), a whole notebook (`/nb/<k>`). Marks live in
OUT/marks.sqlite (grader.instructor.marks); the JSON API changes one field, one rubric item or
one application at a time, and `POST /api/merge` folds the marks into the batch by the same code
as `grader merge` (grader.instructor.marking). Submissions are numbered in the batch's order
and shown as "Submission #k" unless names are asked for (nbgrader hides them too).

The app serves one machine's markers: it binds to localhost by default, answers only to the
host names it was started for, and takes changes only with its own header (a page elsewhere
cannot post to it)."""
from __future__ import annotations

import getpass
import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..config import Assignment
from . import marking, marks, pages, render

PER_PAGE = 25        # submissions per page of a question


@dataclass
class Batch:
    """The graded batch the app marks: loaded once (a walk of OUT), again after a merge."""
    out: Path
    names: bool = False          # show the submissions' names
    marker: str = ""

    def __post_init__(self):
        self.reload()

    def reload(self) -> None:
        self.graded = marking.load(self.out)
        self.index = {g.name: k for k, g in enumerate(self.graded, 1)}         # folder name -> k
        self.assignment: Assignment = marking.assignment_of(self.graded)
        self.hand = [it for it in self.assignment.items if it.manual]
        with marks.opened(self.out) as con:
            marks.seed(con, self.graded)

    def label(self, k: int) -> str:
        g = self.graded[k - 1]
        return f"{g.name} ({g.result.submission})" if self.names else f"Submission #{k}"

    def get(self, k: int):
        if not 1 <= k <= len(self.graded):
            raise LookupError(f"no submission #{k}")
        return self.graded[k - 1]

    def item_of(self, g, item_id: str):
        it = next((i for i in g.result.items if i.id == item_id), None)
        if it is None or it.kind == "auto":
            raise LookupError(f"{item_id} is not an item marked by hand")
        return it


def _progress(b: Batch, con, k: int | None = None, item: str | None = None) -> dict:
    """'n of N marked': over the batch (manual items, bonus not counted), one submission, one item."""
    stored = marks.marks(con)
    done = {key for key, m in stored.items() if m.marked()}
    manual = [it.id for it in b.hand if not it.bonus]
    p = {"overall": [sum((g.name, i) in done for g in b.graded for i in manual), len(b.graded) * len(manual)]}
    if k is not None:
        g = b.graded[k - 1]
        ids = [it.id for it in g.result.items if it.kind == "manual"]
        p["submission"] = [sum((g.name, i) in done for i in ids), len(ids)]
    if item is not None:
        p["item"] = [sum((g.name, item) in done for g in b.graded), len(b.graded)]
    return p


def _mark_json(b: Batch, k: int, m: marks.Mark, rub: dict) -> dict:
    it = b.item_of(b.get(k), m.item)
    return {"k": k, "item": m.item, "points": m.points, "comment": m.comment, "applied": m.applied,
            "score": m.score(it.max_points, rub), "marked": m.marked(), "marker": m.marker}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def build(out: Path, names: bool = False, marker: str | None = None,
          hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Starlette:
    b = Batch(Path(out), names, marker or getpass.getuser())

    def con():
        return marks.opened(b.out)

    def who(request: Request) -> str:
        return (unquote(request.headers.get("x-marker", "")).strip() or b.marker)[:80]

    def html_page(template: str, **ctx) -> HTMLResponse:
        with con() as c:
            progress = _progress(b, c)["overall"]
        return HTMLResponse(pages.page(template, app=True, assignment=b.assignment, home="/", progress=progress,
                                       marker=b.marker, **ctx))

    def graded(request: Request):
        """(k, the submission) a URL names, or a 404."""
        k = request.path_params["k"]
        try:
            return k, b.get(k)
        except LookupError as e:
            raise HTTPException(404, str(e)) from None

    def image_src(k: int):
        return lambda cell, n, mime, img: f"/img/{k}/{cell}/{n}/{mime.split('/')[1]}"

    # ---- pages ------------------------------------------------------------------------------------

    def index(request: Request):
        with con() as c:
            stored = marks.marks(c)
        questions, subs = [], []
        for it in b.hand:
            n = sum(1 for g in b.graded if (m := stored.get((g.name, it.id))) and m.marked())
            questions.append({"id": it.id, "points": it.points, "bonus": it.bonus, "title": it.title,
                              "marked": n, "total": len(b.graded)})
        for k, g in enumerate(b.graded, 1):
            hand = [i for i in g.result.items if i.kind == "manual"]
            done = sum(1 for i in hand if (m := stored.get((g.name, i.id))) and m.marked())
            subs.append({"href": f"/s/{k}", "label": b.label(k), "status": str(g.result.status),
                         "auto": f"{g.result.auto_points:g} / {g.result.auto_max:g}", "marked": f"{done} of {len(hand)}",
                         "total": f"{g.result.total:g}"})
        return html_page("index.html", title="marking", view="index", questions=questions, subs=subs)

    def submission(request: Request):
        k, g = graded(request)
        nb, note = pages.notebook(g.folder)
        answers = pages.answers(b.assignment, g.result, nb, image_src(k))
        with con() as c:
            stored, rub = marks.marks(c, g.name), marks.rubric(c)
            sub_progress = _progress(b, c, k)["submission"]
        by_item = {}
        for r in rub.values():
            by_item.setdefault(r.item, []).append(r)
        maxima = {i.id: i.max_points for i in g.result.items}
        return html_page(
            "submission.html", title=b.label(k), view="submission", k=k, label=b.label(k), result=g.result,
            note=note, answers=answers, marked=sub_progress, nb_link=f"/nb/{k}",
            prev=f"/s/{k - 1}" if k > 1 else None, next=f"/s/{k + 1}" if k < len(b.graded) else None,
            attached=pages.attachments(g.folder), file_url=lambda name: f"/file/{k}/{name}",
            matches=pages.similar(b.out, {g.result.submission: i for i, g in enumerate(b.graded, 1)},
                                  {i: b.label(i) for i in range(1, len(b.graded) + 1)}, g.result.submission),
            mark_of=lambda i: stored.get((g.name, i)) or marks.Mark(g.name, i),
            rubric_of=lambda i: by_item.get(i, []),
            score_of=lambda i: (stored.get((g.name, i)) or marks.Mark(g.name, i)).score(maxima[i], rub))

    def question(request: Request):
        item_id = request.path_params["item"]
        spec = next((i for i in b.hand if i.id == item_id), None)
        if spec is None:
            return HTMLResponse(f"{item_id} is not an item marked by hand", status_code=404)
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        pages_n = max(1, math.ceil(len(b.graded) / PER_PAGE))
        page = min(page, pages_n)
        with con() as c:
            stored, rub = marks.marks(c, item=item_id), marks.rubric(c, item_id)
            used = {rid: sum(1 for m in stored.values() if rid in m.applied) for rid in rub}
            item_progress = _progress(b, c, item=item_id)["item"]
        rows = []
        for k in range(1 + (page - 1) * PER_PAGE, min(len(b.graded), page * PER_PAGE) + 1):
            g = b.graded[k - 1]
            it = next((i for i in g.result.items if i.id == item_id), None)
            if it is None:
                continue
            nb, note = pages.notebook(g.folder)
            answer = pages.answers(b.assignment, g.result, nb, image_src(k), only=item_id)[0]
            m = stored.get((g.name, item_id)) or marks.Mark(g.name, item_id)
            rows.append({"k": k, "label": b.label(k), "result": g.result, "note": note, "answer": answer, "mark": m,
                         "score": m.score(it.max_points, rub), "attached": pages.attachments(g.folder),
                         "file_url": (lambda name, k=k: f"/file/{k}/{name}")})
        ids = [i.id for i in b.hand]
        at = ids.index(item_id)
        return html_page(
            "question.html", title=f"{item_id} across submissions", view="question", item=spec, rows=rows,
            rubric=list(rub.values()), used=used, marked=item_progress, page=page, pages=pages_n,
            prev=f"/q/{ids[at - 1]}" if at > 0 else None, prev_id=ids[at - 1] if at > 0 else "",
            next=f"/q/{ids[at + 1]}" if at + 1 < len(ids) else None, next_id=ids[at + 1] if at + 1 < len(ids) else "")

    def notebook(request: Request):
        k, g = graded(request)
        nb, note = pages.notebook(g.folder)
        cells = [render.cell(nb, i, image_src(k)) for i in range(len(nb.cells))] if nb is not None else []
        return html_page("notebook.html", title=f"{b.label(k)}: notebook", view="notebook", k=k, label=b.label(k),
                         note=note, cells=cells)

    def image(request: Request):
        p = request.path_params
        _, g = graded(request)
        nb, _ = pages.notebook(g.folder)
        mime = f"image/{p['kind']}"
        img = render.stored_image(nb, p["cell"], p["out"], mime) if nb is not None else None
        if img is None:
            return Response(status_code=404)
        headers = {"Cache-Control": "private, max-age=600"}
        if mime == "image/svg+xml":
            headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
        return Response(img.data, media_type=mime, headers=headers)

    def attached(request: Request):
        p = request.path_params
        _, g = graded(request)
        names = {a.name for a in pages.attachments(g.folder)}
        if p["name"] not in names:
            return Response(status_code=404)
        return FileResponse(g.folder / p["name"], headers={"Cache-Control": "private, max-age=600"})

    # ---- the API ----------------------------------------------------------------------------------

    async def put_mark(request: Request):
        p = request.path_params
        try:
            g = b.get(p["k"])
            it = b.item_of(g, p["item"])
            body = await request.json()
            field, value, expected = body["field"], body.get("value"), body.get("expected")
        except LookupError as e:
            return _error(404, str(e))
        except (ValueError, KeyError, TypeError):
            return _error(400, "expected JSON {field, value, expected}")
        if field == "points":
            for v in (value, expected):
                if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)):
                    return _error(422, f"{v!r} is not a number: not saved")
            if value is not None and not (0 <= value <= it.max_points + 1e-9):
                return _error(422, f"{value:g} is outside 0..{it.max_points:g}: not saved")
        elif field == "comment":
            if not isinstance(value, str) or not isinstance(expected, (str, type(None))):
                return _error(422, "a comment is text")
            if len(value) > 20_000:
                return _error(422, "a comment of at most 20,000 characters")
            expected = expected or ""
        else:
            return _error(400, f"no field {field!r}")
        with con() as c:
            try:
                m = marks.set_field(c, g.name, it.id, field, value, expected, who(request))
                status = 200
            except marks.Conflict as e:
                m, status = e.current, 409
            rub = marks.rubric(c, it.id)
            body = {"mark": _mark_json(b, p["k"], m, rub), "progress": _progress(b, c, p["k"], it.id)}
        return JSONResponse(body, status_code=status)

    async def put_applied(request: Request):
        p = request.path_params
        try:
            g = b.get(p["k"])
            it = b.item_of(g, p["item"])
            on = bool((await request.json())["on"])
        except LookupError as e:
            return _error(404, str(e))
        except (ValueError, KeyError, TypeError):
            return _error(400, "expected JSON {on}")
        with con() as c:
            rub = marks.rubric(c, it.id)
            if p["rid"] not in rub:
                return _error(404, f"no rubric item {p['rid']} for {it.id}")
            m = marks.apply(c, g.name, it.id, p["rid"], on, who(request))
            return JSONResponse({"mark": _mark_json(b, p["k"], m, rub), "progress": _progress(b, c, p["k"], it.id)})

    async def _rubric_body(request: Request, max_points: float):
        body = await request.json()
        points, text = body.get("points"), str(body.get("text", "")).strip()
        if not isinstance(points, (int, float)) or isinstance(points, bool) or not math.isfinite(points):
            raise ValueError("a rubric item needs points, e.g. -1")
        if abs(points) > max_points + 1e-9:
            raise ValueError(f"{points:g} is more than the question's {max_points:g} points")
        if not text or len(text) > 500:
            raise ValueError("a rubric item needs a text of at most 500 characters")
        return float(points), text

    async def post_rubric(request: Request):
        spec = next((i for i in b.hand if i.id == request.path_params["item"]), None)
        if spec is None:
            return _error(404, "not an item marked by hand")
        try:
            points, text = await _rubric_body(request, spec.points)
        except ValueError as e:
            return _error(422, str(e))
        with con() as c:
            r = marks.add_rubric(c, spec.id, points, text, who(request))
        return JSONResponse({"rubric": r.__dict__})

    async def change_rubric(request: Request):
        rid = request.path_params["rid"]
        with con() as c:
            r = marks.rubric(c).get(rid)
            if r is None:
                return _error(404, f"no rubric item {rid}")
            spec = next(i for i in b.hand if i.id == r.item)
            if request.method == "DELETE":
                affected = marks.delete_rubric(c, rid, who(request))
                r = None
            else:
                try:
                    points, text = await _rubric_body(request, spec.points)
                except ValueError as e:
                    return _error(422, str(e))
                affected = marks.edit_rubric(c, rid, points, text, who(request))
                r = marks.rubric(c)[rid]
            rub = marks.rubric(c, spec.id)
            now = marks.marks(c, item=spec.id)
            changed = [_mark_json(b, b.index[s], now.get((s, spec.id)) or marks.Mark(s, spec.id), rub)
                       for s in affected if s in b.index]
            return JSONResponse({"rubric": r.__dict__ if r else None, "marks": changed,
                                 "progress": _progress(b, c, item=spec.id)})

    def merge(request: Request):
        try:
            changed = marking.merge(b.out)
        except marking.MarkError as e:
            return _error(422, str(e))
        b.reload()
        return JSONResponse({"message": f"merged: {len(changed)} result(s) rewritten; wrote grades.csv"})

    routes = [
        Route("/", index), Route("/s/{k:int}", submission), Route("/q/{item}", question),
        Route("/nb/{k:int}", notebook),
        Route("/img/{k:int}/{cell:int}/{out:int}/{kind}", image), Route("/file/{k:int}/{name}", attached),
        Route("/api/mark/{k:int}/{item}", put_mark, methods=["PUT"]),
        Route("/api/applied/{k:int}/{item}/{rid:int}", put_applied, methods=["PUT"]),
        Route("/api/rubric/{item}", post_rubric, methods=["POST"]),
        Route("/api/rubric/{rid:int}", change_rubric, methods=["PUT", "DELETE"]),
        Route("/api/merge", merge, methods=["POST"]),
        Mount("/static", StaticFiles(directory=pages.STATIC), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts)),
                                                Middleware(_Guard)])


class _Guard:
    """Changes only with the app's own header (a cross-site form cannot send it); every page
    with the Content-Security-Policy that lets no script but the app's run."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if scope["method"] not in {"GET", "HEAD"} and headers.get(b"x-grader") != b"1":
            return await _error(403, "changes need the marking page's own header")(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if not any(k == b"content-security-policy" for k, _ in message.get("headers", [])):
                    extra.append((b"content-security-policy", pages.CSP.encode()))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def serve(out: Path, host: str = "127.0.0.1", port: int = 8000, names: bool = False, marker: str | None = None,
          sock=None) -> None:
    import uvicorn
    hosts = ("127.0.0.1", "localhost", host) if host not in {"0.0.0.0", "::"} else ("*",)
    app = build(out, names, marker, hosts)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    server.run(sockets=[sock] if sock is not None else None)
