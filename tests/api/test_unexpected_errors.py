"""An error nobody anticipated still answers like every other answer: problem+json with the
security headers, the type of the error in the log and nothing of the request."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api import create_app
from tests.conftest import World


def test_an_unhandled_error_is_a_problem_with_the_security_headers(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(world.vault.settings, vault=world.vault)

    def broken() -> None:
        raise RuntimeError("secret-marker-4471 from the request")

    app.add_api_route("/v1/broken", broken)
    with caplog.at_level(logging.INFO), TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/v1/broken")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:source-vault:problem:internal"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert answer.headers["cache-control"] == "no-store"
    assert "x-request-id" in answer.headers
    assert "secret-marker-4471" not in answer.text
    assert "secret-marker-4471" not in caplog.text
    assert any(getattr(r, "error", None) == "RuntimeError" for r in caplog.records)
