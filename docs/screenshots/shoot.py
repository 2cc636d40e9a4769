"""Screenshots of the marking app on a real graded batch, with `grader mark` started as a user
would start it, then driven by Playwright (Debian's chromium):

    python docs/screenshots/shoot.py jem OUT PORT SHOTS            # OUT: a graded JEM batch
    python docs/screenshots/shoot.py colourization OUT PORT SHOTS  # OUT: the colourization examples
"""
import contextlib
import subprocess
import sys
import time
import urllib.request

from playwright.sync_api import expect, sync_playwright


@contextlib.contextmanager
def marking(out, port, *extra):
    """A page of `grader mark OUT` once the server answers; the server stops after."""
    server = subprocess.Popen(["grader", "mark", out, "--port", str(port), *extra])
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            yield b.new_page(base_url=f"http://127.0.0.1:{port}", viewport={"width": 1360, "height": 1000})
            b.close()
    finally:
        server.terminate()
        server.wait(10)


def jem(pg, SHOTS):
    # a rubric for Q5, defined once in the question view
    pg.goto("/q/Q5")
    for n, (pts, text) in enumerate((("-2", "fewer than 4 misclassified samples"), ("-1", "accuracy not reported")), 1):
        pg.locator(".rubric-new .r-points").fill(pts)
        pg.locator(".rubric-new .r-text").fill(text)
        pg.locator(".r-add").click()
        expect(pg.locator(".rubric-row")).to_have_count(n)
    # marking alice (submission #1) as a marker would
    pg.goto("/s/1")
    def mark(item, points=None, comment=None, rubric=None):
        panel = pg.locator(f"#item-{item} .mark")
        if points is not None:
            panel.locator("input.points").fill(points)
        if comment is not None:
            panel.locator("textarea.comment").fill(comment)
        if rubric is not None:
            panel.locator("button.rub").nth(rubric).click()
        pg.wait_for_timeout(900)
    mark("Q1", "4", "3 per class, labelled")
    mark("Q3", "2")
    mark("Q4", "4", "only 2 epochs; 20 were asked")
    pg.locator("#item-Q4").scroll_into_view_if_needed()
    pg.goto("/s/1#item-Q4")
    pg.wait_for_timeout(500)
    pg.screenshot(path=f"{SHOTS}/mark-submission-view.png")
    pg.screenshot(path=f"{SHOTS}/mark-submission-view-full.png", full_page=True)
    # one question across all submissions: rubric items applied by key
    pg.goto("/q/Q5")
    pg.keyboard.press("j"); pg.keyboard.press("2"); pg.wait_for_timeout(400)
    pg.keyboard.press("j"); pg.keyboard.press("1"); pg.wait_for_timeout(400)
    pg.locator("#sub-2 textarea.comment").fill("the log shows no misclassified samples")
    pg.wait_for_timeout(900)
    pg.goto("/q/Q5")
    pg.wait_for_timeout(500)
    pg.screenshot(path=f"{SHOTS}/mark-question-view.png")
    pg.screenshot(path=f"{SHOTS}/mark-question-view-full.png", full_page=True)
    pg.goto("/")
    pg.screenshot(path=f"{SHOTS}/mark-index.png")


def colourization(pg, SHOTS):
    pg.goto("/s/1")
    pg.wait_for_timeout(800)
    pg.screenshot(path=f"{SHOTS}/mark-colourization-submission-attachments.png")
    pg.goto("/q/4.2")
    pg.locator("#sub-1 .answer").scroll_into_view_if_needed()
    pg.wait_for_timeout(800)
    pg.screenshot(path=f"{SHOTS}/mark-colourization-question-4.2.png", full_page=True)


if __name__ == "__main__":
    which, OUT, PORT, SHOTS = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with marking(OUT, PORT, *(["--marker", "ta-chan"] if which == "jem" else [])) as page:
        {"jem": jem, "colourization": colourization}[which](page, SHOTS)
    print("shots in", SHOTS)
