"""``/docs`` in a real browser — Debian's chromium driven by Playwright — against a real
``vault serve``: every request the page makes goes to the vault's own origin and succeeds, the
Content-Security-Policy reports no violation, the routes are on screen and "Try it out" works.

Requests elsewhere are recorded and aborted, so the test never reaches the internet even when
the page is wrong. Without chromium it skips on a developer's machine; CI installs it
(``scripts/system-deps``) and sets ``VAULT_TEST_REQUIRE_BROWSER``, so there it fails instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    Route,
    sync_playwright,
)

from tests.e2e.conftest import LiveVault, start_live_vault, stop_live_vault

pytestmark = pytest.mark.slow

BROWSER_REQUIRED = bool(os.environ.get("VAULT_TEST_REQUIRE_BROWSER"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
RENDER_TIMEOUT_MS = 30_000
# The browser calls this for every violation; the test reads the list back.
_WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@dataclass
class PageLoad:
    """What one page did while it loaded and rendered."""

    origin: str
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def route(self, route: Route) -> None:
        url = route.request.url
        if _origin(url) == self.origin:
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()

    def on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def on_failed(self, request: Request) -> None:
        self.failed.append(f"{request.url}: {request.failure}")

    def on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.url}: HTTP {response.status}")

    def on_console(self, message: ConsoleMessage) -> None:
        # Chromium reports each CSP refusal as a console error too.
        if message.type == "error":
            self.errors.append(message.text)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        if BROWSER_REQUIRED:
            pytest.fail("chromium is required here (VAULT_TEST_REQUIRE_BROWSER) but not installed")
        pytest.skip("chromium is not installed (scripts/system-deps installs it); CI never skips")
    with sync_playwright() as playwright:
        # The system's chromium: Playwright's own browser download needs the internet.
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveVault]:
    # The pages do not touch the database: one SQLite vault serves every case here.
    live = start_live_vault(Path(tmp_path_factory.mktemp("docs-browser")) / "vault", None)
    try:
        yield live
    finally:
        leftovers = stop_live_vault(live)
        assert not leftovers, f"processes outlived vault serve: {leftovers}"


def _operations(server: LiveVault) -> int:
    schema = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    return sum(len(item) for item in schema["paths"].values())


def _open(browser: Browser, server: LiveVault, path: str) -> tuple[Page, PageLoad]:
    context = browser.new_context()
    load = PageLoad(origin=server.base_url)
    context.route("**/*", load.route)
    context.add_init_script(_WATCH_CSP)
    page = context.new_page()
    page.on("request", load.on_request)
    page.on("requestfailed", load.on_failed)
    page.on("response", load.on_response)
    page.on("console", load.on_console)
    page.on("pageerror", lambda error: load.errors.append(f"uncaught: {error}"))
    page.set_default_timeout(RENDER_TIMEOUT_MS)
    response = page.goto(server.base_url + path)  # returns at the load event
    assert response is not None
    assert response.status == 200
    # Scripts and stylesheets have been asked for by now: say so before waiting for a page
    # that cannot render without them.
    assert load.foreign == [], f"the page asked for something outside the vault: {load.foreign}"
    return page, load


def _assert_self_contained(page: Page, load: PageLoad) -> None:
    page.wait_for_load_state("networkidle")
    violations = page.evaluate("window.__cspViolations")
    assert load.foreign == [], f"the page asked for something outside the vault: {load.foreign}"
    assert all(_origin(url) == load.origin for url in load.requests), load.requests
    assert load.failed == []
    assert violations == []
    assert load.errors == []
    # The page really loaded its assets (a page that loads nothing passes the rest).
    assert any(url.endswith(".js") for url in load.requests), load.requests
    page.context.close()


def test_swagger_ui_renders_every_route_from_the_vault_alone(
    browser: Browser, server: LiveVault
) -> None:
    page, load = _open(browser, server, "/docs")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() == _operations(server)
    listing = page.locator('.opblock-summary-path[data-path="/v1/documents"]').first
    assert listing.is_visible()
    # Open one operation: its parameters, responses and schemas render under the same policy.
    listing.click()
    page.locator(".opblock-body").first.wait_for()
    assert page.get_by_text("Responses", exact=True).first.is_visible()
    _assert_self_contained(page, load)


def test_try_it_out_calls_the_vault(browser: Browser, server: LiveVault) -> None:
    page, load = _open(browser, server, "/docs")
    operation = page.locator("#operations-health-healthz_healthz_get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    # The answer the page got, rendered in the "Server response" table (connect-src 'self').
    status = operation.locator(".live-responses-table tr.response .response-col_status")
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert f"{server.base_url}/healthz" in load.requests
    _assert_self_contained(page, load)
