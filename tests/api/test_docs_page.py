"""``/docs`` is served by the vault alone: the page names only same-origin files, each of them
answers with its media type, and the page's Content-Security-Policy admits the vault itself and
nothing else. (The real browser's view of the same page is tests/e2e/test_docs_browser.py.)"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.errors import MEDIA_TYPE as PROBLEM
from tests.api.conftest import ApiWorld
from vault.settings import Settings

API_CSP = "default-src 'none'; frame-ancestors 'none'"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class _References(HTMLParser):
    """Every ``src`` and ``href`` in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls.extend(value for name, value in attrs if name in ("src", "href") and value)


def _references(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    return parser.urls


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


@pytest.fixture
def client() -> TestClient:
    # No lifespan: the docs page and its files need no vault.
    return TestClient(create_app(Settings()), raise_server_exceptions=False)


def test_docs_page_refers_only_to_its_own_origin(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    urls = _references(response.text)
    assert urls, "the page loads its assets"
    for url in urls:
        # Relative, or absolute on this host; "//host/..." is another origin.
        assert "://" not in url
        assert not url.startswith("//")
    assert "<script>" not in response.text, "an inline script needs 'unsafe-inline'"
    assert 'data-openapi-url="/openapi.json"' in response.text


def test_every_file_the_docs_page_names_answers_with_its_media_type(client: TestClient) -> None:
    urls = _references(client.get("/docs").text)
    assert {url.rsplit(".", 1)[1] for url in urls} == {"js", "css", "png"}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.content, url
        expected = MEDIA_TYPES["." + url.rsplit(".", 1)[1]]
        assert response.headers["content-type"].split(";")[0] == expected, url


def test_docs_page_policy_admits_the_vault_alone(client: TestClient) -> None:
    header = client.get("/docs").headers["content-security-policy"]
    assert "http" not in header
    assert "*" not in header
    assert "'unsafe-inline'" not in header
    assert "'unsafe-eval'" not in header
    policy = _policy(header)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    # Swagger UI's stylesheet draws its icons from data: URLs, which load nothing.
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize(
    "path", ["/healthz", "/openapi.json", "/docs/assets/swagger-ui-bundle.js", "/nowhere"]
)
def test_everything_but_the_docs_page_keeps_default_src_none(client: TestClient, path: str) -> None:
    assert client.get(path).headers["content-security-policy"] == API_CSP


def test_api_routes_keep_default_src_none(api: ApiWorld) -> None:
    response = api.client.get("/v1/cases", headers=api.auth(api.world.editor))
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == API_CSP


def test_redoc_is_not_served(client: TestClient) -> None:
    # Its bundle fetches its vendor's logo from the vendor's CDN whatever its options say.
    response = client.get("/redoc")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    "name",
    ["redoc.standalone.js", "app.py", "..%2F..%2Fapi%2Fapp.py", "%2Fetc%2Fpasswd", "LICENSE"],
)
def test_unknown_docs_asset_is_a_404_problem(client: TestClient, name: str) -> None:
    response = client.get(f"/docs/assets/{name}")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert "passwd" not in response.text
    assert "app.py" not in response.text


def test_docs_routes_stay_out_of_the_openapi_description(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]


def test_unchanged_asset_is_revalidated_with_304(client: TestClient) -> None:
    first = client.get("/docs/assets/swagger-ui.css")
    assert first.headers["cache-control"] == "no-cache"
    again = client.get(
        "/docs/assets/swagger-ui.css", headers={"if-none-match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


def test_docs_page_behind_a_path_prefix_names_prefixed_urls() -> None:
    client = TestClient(create_app(Settings()), root_path="/vault")
    page = client.get("/docs").text
    assert 'data-openapi-url="/vault/openapi.json"' in page
    assert all(url.startswith("/vault/docs/assets/") for url in _references(page))
