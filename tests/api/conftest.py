"""An ASGI client on a ``World`` vault, with a session token for each of its users."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from api import create_app
from tests.conftest import PASSPHRASE, World
from vault.services.users import Actor


@dataclass
class ApiWorld:
    world: World
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def login(self, username: str, passphrase: str = PASSPHRASE) -> str:
        response = self.client.post(
            "/v1/auth/login", json={"username": username, "passphrase": passphrase}
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        self.tokens[username] = token
        return token

    def auth(self, who: Actor | str) -> dict[str, str]:
        name = who if isinstance(who, str) else who.username
        token = self.tokens.get(name) or self.login(name)
        return {"Authorization": f"Bearer {token}"}

    def upload(
        self, who: Actor | str, content: bytes, *, title: str = "testimony", **fields: str
    ) -> dict[str, object]:
        data = {"case": str(self.world.case_id), "title": title, **fields}
        response = self.client.post(
            "/v1/documents",
            headers=self.auth(who),
            data=data,
            files={"file": ("testimony.txt", content, "text/plain")},
        )
        assert response.status_code == 201, response.text
        body: dict[str, object] = response.json()
        return body


@pytest.fixture
def api(world: World) -> Iterator[ApiWorld]:
    app = create_app(world.vault.settings, vault=world.vault)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield ApiWorld(world, client, dict(world.tokens))
