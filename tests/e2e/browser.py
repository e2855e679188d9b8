"""A page as a person sees it: Debian's Chromium, headless, driven by Playwright.

No browser download: Playwright launches /usr/bin/chromium (apt-get install chromium).
The flags keep Chromium off the network, which this machine closes.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

__all__ = ["ARTIFACTS", "Seen", "open_in_chromium"]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("HARNESS_TEST_ARTIFACTS", REPO / ".test-artifacts"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclasses.dataclass
class Seen:
    errors: list[str]  # console errors and uncaught page errors
    requests: list[str]  # every URL the page asked for
    charts: dict[str, int]  # data-chart name -> SVGs drawn inside it
    failed_rows: str  # the text of the expectation rows marked as failed
    text: str


def open_in_chromium(page_path: Path, screenshot: Path) -> Seen:
    if not shutil.which(CHROMIUM):
        raise AssertionError(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            charts: dict[str, int] = {}
            for chart in page.locator("div.chart").all():
                name = chart.get_attribute("data-chart") or "?"
                charts[name] = charts.get(name, 0) + chart.locator("svg").count()
            failed = " ".join(page.locator("tr.fail").all_inner_texts())
            text = page.inner_text("body")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return Seen(errors, requests, charts, failed, text)
