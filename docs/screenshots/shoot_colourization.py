"""The colourization batch: the grader's attachments (curves.png) and a heading-located item."""
import os, subprocess, sys, time, urllib.request
from playwright.sync_api import sync_playwright

OUT, PORT, SHOTS = sys.argv[1], int(sys.argv[2]), sys.argv[3]
server = subprocess.Popen(["grader", "mark", OUT, "--port", str(PORT)],
                          env=dict(os.environ))
try:
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=1); break
        except OSError:
            time.sleep(0.2)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu",
              "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
        pg = b.new_page(base_url=f"http://127.0.0.1:{PORT}", viewport={"width": 1360, "height": 1000})
        pg.goto("/s/1")
        pg.wait_for_timeout(800)
        pg.screenshot(path=f"{SHOTS}/mark-colourization-submission-attachments.png")
        pg.goto("/q/4.2")
        pg.locator("#sub-1 .answer").scroll_into_view_if_needed()
        pg.wait_for_timeout(800)
        pg.screenshot(path=f"{SHOTS}/mark-colourization-question-4.2.png", full_page=True)
        b.close()
finally:
    server.terminate()
    server.wait(10)
