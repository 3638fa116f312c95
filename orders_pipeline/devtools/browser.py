"""Headless Chromium for the browser tests and the screenshot scripts (Debian's ``chromium`` via Playwright).

Playwright is a test dependency (``pip install -e ".[test]"``); the browser is the system's
``/usr/bin/chromium`` (``apt-get install chromium``), not one Playwright downloads, so nothing
is fetched at test time. Each launch gets a fresh profile folder and switches off Chromium's
own background traffic (updates, sync, field trials), so the only requests a page makes are
its own — which :func:`record_requests` lets a test see and block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Route

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@contextmanager
def headless_chromium(profile_dir: Path, width: int = 1280, height: int = 900) -> Iterator[BrowserContext]:
    """A Chromium browser context with a fresh profile in ``profile_dir`` (created; must not be in use)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} not found; install Debian's chromium (apt-get install chromium)")
    profile_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=str(CHROMIUM),
            args=list(CHROMIUM_ARGS),
            headless=True,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            context.close()


def record_requests(context: BrowserContext, allow: Callable[[str], bool]) -> list[str]:
    """Abort every request whose URL ``allow`` refuses; the returned list fills with the refused URLs.

    Routing sees ``file://`` loads too, so an offline test allows exactly the one file it opens
    and asserts the list stays empty.
    """
    refused: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        if allow(url):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    context.route("**/*", handle)
    return refused
