"""Headless Chromium for the browser tests: the distribution's browser, driven by Playwright.

Playwright's own browser downloads need hosts outside the package registries, so the
tests drive the Chromium that `scripts/ensure-chromium.sh` installs from Debian. A
missing browser fails the tests with the fix in the message: a skipped browser test
would let a broken page pass CI.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page, sync_playwright

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
def chromium_context(*, width: int = 1280, height: int = 900) -> Iterator[BrowserContext]:
    """A fresh headless Chromium with a throwaway profile, closed (and its profile deleted) after use."""
    executable = chromium_executable()
    with (
        tempfile.TemporaryDirectory(prefix="cartracker-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        try:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": width, "height": height},
                locale="en-US",
                timezone_id="UTC",
            )
        except Error as exc:
            pytest.fail(f"Chromium at {executable} did not start: {exc.message}", pytrace=False)
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
    page.locator("body").screenshot(path=str(path), animations="disabled", caret="hide")
    return path
