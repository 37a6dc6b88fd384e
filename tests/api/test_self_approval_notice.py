"""The setting that lifts four eyes on redactions is said out loud: a warning when the app starts,
and ``redaction_self_approval`` in ``GET /v1/auth/me`` (which ``vault whoami`` turns into a
warning of its own)."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from api import create_app
from tests.api.conftest import ApiWorld
from tests.conftest import PASSPHRASE, World


def _notices(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "redaction_self_approval" in r.getMessage()
    ]


def test_me_says_self_approval_is_off_by_default(api: ApiWorld) -> None:
    me = api.client.get("/v1/auth/me", headers=api.auth("jules"))
    assert me.status_code == 200
    body = me.json()
    # An added member: what the answer held before is there as it was.
    assert set(body) == {"id", "username", "role", "redaction_self_approval"}
    assert (body["username"], body["role"]) == ("jules", "journalist")
    assert body["redaction_self_approval"] is False


def test_the_app_warns_once_at_start_and_me_says_so_when_self_approval_is_on(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = replace(world.vault.settings, redaction_self_approval=True)
    monkeypatch.setattr(world.vault, "settings", settings)
    app = create_app(settings, vault=world.vault)
    with caplog.at_level(logging.INFO), TestClient(app) as client:
        assert len(_notices(caplog)) == 1  # at start, before any request
        token = client.post(
            "/v1/auth/login", json={"username": "erin", "passphrase": PASSPHRASE}
        ).json()["token"]
        me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["redaction_self_approval"] is True
    (notice,) = _notices(caplog)
    assert notice.name == "api"
    assert "approve their own redactions" in notice.getMessage()


def test_the_app_starts_quietly_without_self_approval(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(world.vault.settings, vault=world.vault)
    with caplog.at_level(logging.INFO), TestClient(app):
        pass
    assert not _notices(caplog)
