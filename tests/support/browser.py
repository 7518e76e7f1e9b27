"""Headless Chromium for the browser tests: the distribution's browser, driven by Playwright.

Playwright's own browser downloads need hosts outside the package registries, so the
tests drive the Chromium that `scripts/ensure-chromium.sh` installs from Debian. A
missing browser fails the tests with the fix in the message: a skipped browser test
would let a broken page pass CI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, sync_playwright

CHROMIUM_SETTING = "CARTRACKER_CHROMIUM"  # another executable, e.g. on a non-Debian machine
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Quiet and hermetic: no GPU, no sandbox (containers lack the namespaces), and none of
# Chromium's background traffic (updates, sync, field trials) that would reach the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

SCREENSHOTS_SETTING = "CARTRACKER_SCREENSHOTS"
SCREENSHOTS_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def chromium_executable() -> str:
    """The browser to drive; fails (never skips) the test when it is not installed."""
    wanted = os.environ.get(CHROMIUM_SETTING, DEFAULT_CHROMIUM)
    found = shutil.which(wanted)
    if found is None:
        pytest.fail(
            f"Chromium is not installed at {wanted}: run `make chromium` (scripts/ensure-chromium.sh "
            f"installs Debian's chromium) or point {CHROMIUM_SETTING} at a Chromium executable.",
            pytrace=False,
        )
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    """A fresh headless Chromium, closed after use; Playwright gives it a throwaway profile."""
    executable = chromium_executable()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_ARGS
            )
        except Error as exc:
            pytest.fail(f"Chromium at {executable} did not start: {exc.message}", pytrace=False)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_context(
    browser: Browser, *, width: int = 1280, height: int = 900, phone: bool = False
) -> Iterator[BrowserContext]:
    """A window of `browser` with its own storage, in US English and UTC, closed after use.

    `phone` emulates a phone as Chromium's device mode does: a mobile viewport that honours the
    page's `<meta name="viewport">`, touch input (so `pointer: coarse`) and a pixel ratio of 3.
    """
    context = browser.new_context(
        viewport={"width": width, "height": height},
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=3 if phone else 1,
        locale="en-US",
        timezone_id="UTC",
    )
    try:
        yield context
    finally:
        context.close()


_HTTP_ERROR_LOG = "Failed to load resource: the server responded with a status of"


@dataclass
class PageProblems:
    """Console errors and uncaught exceptions of a page, CSP violations included."""

    messages: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.messages.append(f"uncaught: {error}"))
        return page

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium logs every 4xx answer as an error; the tests provoke those on purpose.
        if message.type == "error" and not message.text.startswith(_HTTP_ERROR_LOG):
            self.messages.append(f"console: {message.text}")

    def take(self) -> list[str]:
        found, self.messages = self.messages, []
        return found


def save_screenshot(page: Page, name: str) -> Path | None:
    """Refresh docs/screenshots/<name>.png, only when CARTRACKER_SCREENSHOTS=1 (`make screenshots`).

    Off by default so that a normal test run never dirties the working tree.
    """
    if os.environ.get(SCREENSHOTS_SETTING) != "1":
        return None
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS_DIR / f"{name}.png"
    # The body, not the viewport: as tall as the content, without blank space below it.
    # In CSS pixels: a phone's screenshot is as wide as its viewport, whatever its pixel ratio.
    page.locator("body").screenshot(path=str(path), animations="disabled", caret="hide", scale="css")
    return path


# A word is a run of letters, digits and punctuation up to a space or just after a hyphen (text
# may wrap after "Mercedes-", as print does). It is broken when its characters sit on more than one
# line: a Range over it has one client rect per line it spans, each at its own height.
_BROKEN_WORDS = """(root) => {
  const found = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || !parent.checkVisibility()) continue;
    for (const word of node.data.matchAll(/[^\\s-]+-?|-/g)) {
      const range = document.createRange();
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word[0].length);
      const rects = [...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0);
      const tops = rects.map((r) => r.top);
      const height = Math.min(...rects.map((r) => r.height));
      if (rects.length > 1 && Math.max(...tops) - Math.min(...tops) > height / 2) {
        const cell = parent.closest("td, th, dd, dt, h1, h2, p, label, li, button") || parent;
        found.push(`${cell.tagName.toLowerCase()} ${JSON.stringify(cell.textContent.trim())}: ${word[0]}`);
      }
    }
  }
  return found;
}"""

# An element set on one line (a date) is wrapped when its own client rects sit at more than one height.
_WRAPPED = """(elements) => elements
  .filter((element) => element.checkVisibility())
  .filter((element) => {
    const tops = [...element.getClientRects()].filter((r) => r.width > 0).map((r) => r.top);
    return Math.max(...tops) - Math.min(...tops) > 1;
  })
  .map((element) => element.textContent)"""


def broken_words(page: Page, selector: str = "body") -> list[str]:
    """Every visible word under `selector` whose characters the layout split across lines."""
    found: list[str] = page.locator(selector).evaluate(_BROKEN_WORDS)
    return found


def wrapped(page: Page, selector: str) -> list[str]:
    """The text of every visible element matching `selector` that the layout spread over lines."""
    found: list[str] = page.locator(selector).evaluate_all(_WRAPPED)
    return found


def sideways_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: it never scrolls sideways)."""
    overflow: int = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return overflow
