"""The marker's page (`grader mark`) in a real browser: Playwright driving Debian's Chromium
against the app, served by uvicorn in a thread, over a JEM batch whose results are signed by the
report stage and whose notebooks (built here, in the course's marker style) carry stored
outputs: a figure, a training log, forty figures. One browser for the module.

Each test marks its own (submission, item) pairs, so that they share the batch's database."""
import base64
import io
import json
import re
import socket
import sqlite3
import threading
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell as code
from nbformat.v4 import new_markdown_cell as md
from nbformat.v4 import new_notebook, new_output
from test_instructor import make_result, write_batch

from grader import assignment, report
from grader.instructor import app as marking_app
from grader.instructor import marking, marks

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
JEM = "jem-cifar10"
pytestmark = [pytest.mark.slow,       # a browser and a server: ~15-35 s for the module
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (ci/setup.sh)")]
sync_api = pytest.importorskip("playwright.sync_api")


def figure(i: int) -> dict:
    """A 320x240 PNG plot-like figure, different for each i (PIL: matplotlib takes ~10 s for 41)."""
    import random

    from PIL import Image, ImageDraw
    rng = random.Random(i)
    img = Image.new("RGB", (320, 240), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((30, 20, 310, 220), outline="black")
    pts = [(30 + 7 * k, 120 + int(80 * rng.uniform(-1, 1) * (1 - k / 45))) for k in range(41)]
    draw.line(pts, fill=(31, 119, 180), width=2)
    for _ in range(3000):                           # a scatter: as heavy as a real figure (~20 KB)
        x, y = rng.randrange(31, 310), rng.randrange(21, 220)
        draw.point((x, y), fill=(rng.randrange(256), 127, 14))
    draw.text((120, 4), f"figure {i}", fill="black")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return new_output("display_data", data={"image/png": base64.b64encode(buf.getvalue()).decode(),
                                            "text/plain": "<Figure size 320x240 with 1 Axes>"})


def notebook(*cells):
    nb = new_notebook()
    nb.cells = list(cells)
    return nb


NAMES = ["alice", "bob", "carol", "dave", "erin"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Five JEM submissions: #1 answers with markers (a figure, a log, a printed result), #2 with
    forty figures, #3 under two competing headings, #4 and #5 with markers and no outputs."""
    a = assignment.get(JEM)
    out = tmp_path_factory.mktemp("marking") / "out"
    blank = {i.id: "" for i in a.items}           # the answers come from the notebooks below
    write_batch(a, out, {n: make_result(a, f"{n}.ipynb", auto_fraction=0.5 if n == "bob" else 1.0, answers=blank)
                         for n in NAMES})
    q1 = code("# [Q1] samples from the training set\nshow_samples(train_batches)")
    q1.outputs = [figure(1)]
    q4 = code("# [Q4]/[Q5] train WRN-16-4 and evaluate it\nhistory = train_loop(model1, optim1, 20)\nacc")
    q4.outputs = [new_output("stream", name="stdout", text="epoch 1/20: loss 2.1034\nepoch 20/20: loss 0.4127\n"),
                  new_output("execute_result", data={"text/plain": "0.6123"}, execution_count=7)]
    nbformat.write(notebook(q1, md("### [Q3] Gaussian noise\n\nIt *regularizes* the classifier. <script>bad()</script>"),
                            q4), out / "alice" / report.SUBMITTED)
    many = code("# [Q1] forty figures\nfor i in range(40):\n    show(i)")
    many.outputs = [figure(i) for i in range(40)]
    nbformat.write(notebook(many), out / "bob" / report.SUBMITTED)
    nbformat.write(notebook(md("## Q5\n\nfirst place"), md("## Q5\n\nsecond place")), out / "carol" / report.SUBMITTED)
    for n in ("dave", "erin"):
        nbformat.write(notebook(code("# [Q7] energy\nvisualize_energy()"), code("# [Q8] buffer\nshow(sb)")),
                       out / n / report.SUBMITTED)
    (out / "similarity.csv").write_text("a,b,score,shared,note\nalice.ipynb,dave.ipynb,0.91,120,\n"
                                        "bob.ipynb,alice.ipynb,0.40,80,\nalice.ipynb,erin.ipynb,0,0,\n")
    return a, out


@pytest.fixture(scope="module")
def server(batch):
    import uvicorn
    _, out = batch
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(marking_app.build(out, marker="tester"), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the app did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server)
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield pg
    context.close()
    assert not errors, errors


def panel(pg, item: str):
    return pg.locator(f"#item-{item} .mark")


def enter(pg, item: str, points: str | None = None, comment: str | None = None, block=None):
    p = (block or pg).locator(".mark") if block is not None else panel(pg, item)
    if points is not None:
        p.locator("input.points").fill(points)
    if comment is not None:
        p.locator("textarea.comment").fill(comment)
    return p


def saved(p):
    sync_api.expect(p.locator(".state")).to_have_text("saved", timeout=10_000)


def stored(out: Path) -> dict:
    with marks.opened(out) as con:
        return marks.marks(con)


def test_points_and_a_comment_are_there_after_a_reload(page, batch):
    _, out = batch
    page.goto("/s/1")
    p = enter(page, "Q3", "1.5")
    saved(p)
    p = enter(page, "Q3", comment="clear, but no mention of SGLD")
    saved(p)
    page.reload()
    sync_api.expect(panel(page, "Q3").locator("input.points")).to_have_value("1.5")
    sync_api.expect(panel(page, "Q3").locator("textarea.comment")).to_have_value("clear, but no mention of SGLD")
    sync_api.expect(panel(page, "Q3").locator(".score")).to_have_text("score 1.5")
    m = stored(out)[("alice", "Q3")]
    assert (m.points, m.comment, m.marker) == (1.5, "clear, but no mention of SGLD", "tester")
    # the answer as the student left it: the figure, the log, the result; markdown rendered, its script not
    assert page.locator("#item-Q1 img.figure").evaluate("i => i.complete && i.naturalWidth") == 320
    assert "epoch 20/20: loss 0.4127" in page.locator("#item-Q4").inner_text()
    assert "0.6123" in page.locator("#item-Q5").inner_text()          # [Q4]/[Q5]: one cell, both items
    assert page.locator("#item-Q3 em").inner_text() == "regularizes"
    assert "<script>bad()</script>" in page.locator("#item-Q3 .md").inner_text()
    assert "found by marker" in page.locator("#item-Q1 .where").inner_text()
    # names hidden; the closest submission from similarity.csv, as a number too
    assert "alice" not in page.content() and "Submission #1" in page.title()
    assert page.locator(".similar a").all_inner_texts() == ["Submission #4", "Submission #2"]     # not erin's 0


def test_two_markers_at_once_lose_nothing(browser, server, batch):
    _, out = batch
    a, b = browser.new_context(base_url=server), browser.new_context(base_url=server)
    a.add_init_script("localStorage.setItem('grader-marker', 'ana')")       # A set her name; B did not
    pa, pb = a.new_page(), b.new_page()
    pa.goto("/s/4")
    pb.goto("/s/4")                                  # both pages show the submission unmarked
    # at the same time: A marks Q7's points and Q8's comment, B Q8's points and Q7's comment
    enter(pa, "Q7", "2")
    enter(pb, "Q8", "3")
    enter(pa, "Q8", comment="buffer samples look right")
    enter(pb, "Q7", comment="no colour bar")
    for pg, item in ((pa, "Q7"), (pb, "Q8"), (pa, "Q8"), (pb, "Q7")):
        saved(panel(pg, item))
    m = stored(out)
    assert (m[("dave", "Q7")].points, m[("dave", "Q7")].comment) == (2, "no colour bar")
    assert (m[("dave", "Q8")].points, m[("dave", "Q8")].comment) == (3, "buffer samples look right")
    for pg in (pa, pb):
        pg.reload()
        sync_api.expect(panel(pg, "Q7").locator("input.points")).to_have_value("2")
        sync_api.expect(panel(pg, "Q8").locator("textarea.comment")).to_have_value("buffer samples look right")
    # the same field from both: the second save names the value it replaced, is refused, and says so
    pa.goto("/s/5")
    pb.goto("/s/5")
    saved(enter(pa, "Q7", "1"))
    enter(pb, "Q7", "3")
    sync_api.expect(panel(pb, "Q7").locator(".msg")).to_contain_text("ana changed the points meanwhile to “1”")
    sync_api.expect(panel(pb, "Q7").locator("input.points")).to_have_value("1")
    assert stored(out)[("erin", "Q7")].points == 1
    enter(pb, "Q7", "3")                            # entered again over what is shown now: it replaces it
    saved(panel(pb, "Q7"))
    assert (stored(out)[("erin", "Q7")].points, stored(out)[("erin", "Q7")].marker) == (3, "tester")
    with marks.opened(out) as con:                  # who changed what, and when
        log = con.execute("SELECT marker, value FROM log WHERE submission = 'erin' AND item = 'Q7' AND what = 'points' "
                          "ORDER BY at").fetchall()
    assert log == [("ana", "1"), ("tester", "3")]
    a.close()
    b.close()


def test_out_of_range_points_are_refused_in_the_page(page, batch, server):
    _, out = batch
    page.goto("/s/3")
    for value, why in (("5", "5 is outside 0..2: not saved"), ("-1", "-1 is outside 0..2: not saved")):
        p = enter(page, "Q3", value)
        sync_api.expect(p.locator(".msg")).to_have_text(why)
        sync_api.expect(p.locator("input.points")).to_have_attribute("aria-invalid", "true")
    page.wait_for_timeout(800)                      # longer than the save's debounce
    assert ("carol", "Q3") not in stored(out)
    page.reload()
    sync_api.expect(panel(page, "Q3").locator("input.points")).to_have_value("")
    # the server refuses too, whatever sends it
    r = page.request.put("/api/mark/3/Q3", data=json.dumps({"field": "points", "value": 2.5, "expected": None}),
                         headers={"Content-Type": "application/json", "X-Grader": "1"})
    assert r.status == 422 and "outside 0..2" in r.json()["error"]
    r = page.request.put("/api/mark/3/Q3", data=json.dumps({"field": "points", "value": 1, "expected": None}),
                         headers={"Content-Type": "application/json"})
    assert r.status == 403, "a change without the page's own header (another site's form) is refused"
    # the locator's doubt is shown: two headings name Q5 here
    assert "unsure" in page.locator("#item-Q5 .where").inner_text()
    assert page.locator("#item-Q5 .cell").count() == 2


def test_a_rubric_item_changed_once_changes_every_submission_it_was_applied_to(page, batch):
    a, out = batch
    page.goto("/q/Q6")                              # Q6: 4 points, one question across the submissions
    sync_api.expect(page.locator(".q-progress")).to_have_text("0 of 5 submissions marked")
    editor = page.locator(".rubric-editor")
    editor.locator(".rubric-new .r-points").fill("-1")
    editor.locator(".rubric-new .r-text").fill("no comparison with Part 1")
    editor.locator(".r-add").click()
    sync_api.expect(page.locator(".rubric-row")).to_have_count(1)
    # by keyboard: j to the first submission, 1 applies rubric item 1; j, j to the third, 1 again
    page.keyboard.press("j")
    page.keyboard.press("1")
    sync_api.expect(page.locator("#sub-1 .score")).to_have_text("score 3")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("1")
    sync_api.expect(page.locator("#sub-3 .score")).to_have_text("score 3")
    sync_api.expect(page.locator(".q-progress")).to_have_text("2 of 5 submissions marked")
    # submission 2 gets typed points as well as the rubric item: the deduction comes off them
    page.locator("#sub-2 input.points").fill("3.5")
    saved(page.locator("#sub-2 .mark"))
    page.locator("#sub-2 button.rub").first.click()
    sync_api.expect(page.locator("#sub-2 .score")).to_have_text("score 2.5")
    row = page.locator(".rubric-row").first
    row.locator(".r-points").fill("-2")
    row.locator(".r-save").click()
    for k, score in ((1, "2"), (2, "1.5"), (3, "2")):
        sync_api.expect(page.locator(f"#sub-{k} .score")).to_have_text(f"score {score}")
    sync_api.expect(page.locator("#sub-4 .score")).to_have_text("not marked")
    page.reload()
    sync_api.expect(page.locator("#sub-1 .score")).to_have_text("score 2")
    sync_api.expect(page.locator("#sub-1 button.rub")).to_have_attribute("aria-pressed", "true")
    # what a merge would write follows the rubric item too
    with marks.opened(out) as con:
        rows = {(r["submission"], r["item"]): r for r in marks.rows(con, marking.load(out))}
    assert rows[("alice", "Q6")]["points"] == "2" and rows[("bob", "Q6")]["points"] == "1.5"
    assert rows[("carol", "Q6")]["comment"] == "-2: no comparison with Part 1"
    # a rubric item worth more than the question is refused
    row.locator(".r-points").fill("-9")
    row.locator(".r-save").click()
    sync_api.expect(page.locator(".rubric-editor .msg")).to_have_text("-9 is more than the question's 4 points")


def test_keyboard_moves_between_items_and_submissions(page):
    page.goto("/s/5")
    page.keyboard.press("j")
    first = page.locator("section.block.current")
    sync_api.expect(first).to_have_attribute("id", "item-Q1")
    page.keyboard.press("p")
    page.keyboard.type("4")
    page.keyboard.press("Enter")                     # saved; on to the next item's points
    sync_api.expect(page.locator("section.block.current")).to_have_attribute("id", "item-Q3")
    sync_api.expect(page.locator("#item-Q3 input.points")).to_be_focused()
    saved(panel(page, "Q1"))
    page.keyboard.press("Escape")
    page.keyboard.press("]")                         # the last submission has no next
    page.wait_for_timeout(300)
    assert re.search(r"/s/5(#|$)", page.url)
    page.keyboard.press("[")
    page.wait_for_url(re.compile(r"/s/4$"))
    page.keyboard.press("?")
    sync_api.expect(page.locator("dialog#help")).to_be_visible()


def test_forty_figures_render_in_under_two_seconds(page):
    """From navigation to every one of the forty figures decoded, scrolled through as a marker
    would (they load lazily, from the app's image URLs)."""
    page.goto("/s/2")
    ms = page.evaluate("""async () => {
        const imgs = [...document.querySelectorAll('#item-Q1 img.figure')];
        for (const img of imgs) { img.scrollIntoView(); await img.decode(); }
        return [performance.now(), imgs.length, imgs.filter(i => i.naturalWidth === 320).length];
    }""")
    print(f"\n40 figures: navigation to all decoded in {ms[0]:.0f} ms")
    assert ms[1:] == [40, 40]
    assert ms[0] < 2000, f"{ms[0]:.0f} ms"


def test_the_app_marks_merge_into_results_grades_and_feedback(page, batch):
    """The Merge button: the same merge as `grader merge` (CSV or not): signed results, grades.csv
    and feedback.md carry every mark the earlier tests entered."""
    a, out = batch
    page.goto("/")
    sync_api.expect(page.locator("#progress")).to_contain_text(" of 45 marked")      # 5 submissions x 9 manual
    page.locator("#merge").click()
    sync_api.expect(page.locator("#merge-state")).to_contain_text("merged:")
    with marks.opened(out) as con:
        want = marks.rows(con, marking.load(out))
    assert len(want) >= 8
    grades = pd.read_csv(out / "grades.csv").set_index("submission")
    for r in want:
        folder = out / r["submission"]
        doc = report.read_signed(folder / "result.json", out)
        assert doc is not None, "re-signed"
        item = next(i for i in doc["items"] if i["id"] == r["item"])
        assert (item["points"], item["marked"], item["comment"]) == (float(r["points"]), True, r["comment"])
        assert grades.loc[f"{r['submission']}.ipynb", r["item"]] == float(r["points"])
        if r["comment"]:
            assert r["comment"] in (folder / "feedback.md").read_text()
    assert "-2: no comparison with Part 1" in (out / "carol" / "feedback.md").read_text()
    alice = report.read_signed(out / "alice" / "result.json", out)
    assert alice["manual_points"] == pytest.approx(sum(float(r["points"]) for r in want
                                                       if r["submission"] == "alice" and not a.item(r["item"]).bonus))
    # the CSV round trip still works beside it: the sheet now carries the app's marks
    sheet, _ = marking.marksheet(out, JEM)
    df = pd.read_csv(sheet, dtype=str, keep_default_na=False).set_index(["submission", "item"])
    assert df.loc[("alice", "Q3"), "points"] == "1.5"


def test_static_pages_carry_the_same_answers_with_item_anchors(batch):
    a, out = batch
    _, written = marking.marksheet(out, JEM, sheet=out.parent / "sheet.csv")
    alice = (out / "alice" / marking.PAGE).read_text()
    assert 'id="item-Q1"' in alice and 'id="item-B5"' in alice
    assert "data:image/png;base64," in alice and "epoch 20/20: loss 0.4127" in alice
    assert "<script" not in alice and "&lt;script&gt;bad()" in alice
    bob = (out / "bob" / marking.PAGE).read_text()
    assert bob.count('class="figure"') == 40
    index = (out / marking.PAGE).read_text()
    assert 'href="alice/marking.html"' in index and len(written) == 1 + len(NAMES)


def test_marks_database_is_wal_and_one_row_per_item(batch):
    _, out = batch
    con = sqlite3.connect(out / marks.DB)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        keys = con.execute("SELECT submission, item FROM mark").fetchall()
        assert len(keys) == len(set(keys)) > 0
    finally:
        con.close()


def test_a_broken_or_odd_notebook_is_shown_as_such_never_a_crash(batch, tmp_path):
    import shutil
    a, out = batch
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "dave" / report.SUBMITTED).write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "source": ["### [Q7] energy\n", "see below"], "metadata": {"tags": 5}},
        {"cell_type": "code", "metadata": [], "source": "plot()", "outputs": [
            {"output_type": "stream", "text": ["a\n", "b\n"]}, 3,
            {"output_type": "display_data", "data": {"image/png": "bm90IGEgcG5n"}}]}, 7]}))
    (copy / "erin" / report.SUBMITTED).write_text("{ not json")
    marking.marksheet(copy, JEM)
    dave = (copy / "dave" / marking.PAGE).read_text()
    assert "see below" in dave and "a\nb" in dave and "<img" not in dave.split('id="item-Q7"')[1].split("</section>")[0]
    assert "No notebook in this submission" in (copy / "erin" / marking.PAGE).read_text()
