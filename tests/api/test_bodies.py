"""Request bodies: every body but an upload's is capped before anything reads it, and a route
that needs credentials answers 401 to a caller without them whatever the body holds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from api import create_app
from tests.api.conftest import ApiWorld
from tests.conftest import World
from tests.support.asgi import Message, answer, call, http_scope

PROBLEM = "application/problem+json"
TOO_LARGE = "urn:source-vault:problem:too-large"
CAP = 4096


@pytest.fixture
def capped(world: World) -> Iterator[ApiWorld]:
    """The API with a 4 KiB cap on bodies."""
    settings = replace(world.vault.settings, max_json_bytes=CAP)
    with TestClient(create_app(settings, vault=world.vault), raise_server_exceptions=False) as c:
        yield ApiWorld(world, c)


def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read(
    world: World,
) -> None:
    app = create_app(world.vault.settings, vault=world.vault)
    # A login claims 200 MiB and sends a few bytes: the answer comes before any of it is read.
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(200 << 20).encode()),
    ]
    asked = 0

    async def receive() -> Message:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": b'{"user', "more_body": False}

    sent, _ = call(app, http_scope("POST", "/v1/auth/login", headers), receive)
    assert asked == 0
    status, answered, body = answer(sent)
    assert status == 413
    assert answered[b"content-type"] == PROBLEM.encode()
    assert answered[b"connection"] == b"close"
    assert TOO_LARGE.encode() in body
    assert b"1048576" in body  # the default cap, 1 MiB


def test_a_chunked_body_over_the_cap_is_cut_off(capped: ApiWorld) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"username": "'
        for _ in range(8):
            yield b"a" * 1024
        yield b'", "passphrase": "x"}'

    response = capped.client.post(
        "/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == TOO_LARGE
    # The same on a route that needs credentials, whoever sends it.
    cases = capped.client.post(
        "/v1/cases",
        content=chunks(),
        headers={"content-type": "application/json", **capped.auth("admin")},
    )
    assert cases.status_code == 413


def test_a_body_within_the_cap_is_read_as_before(capped: ApiWorld) -> None:
    response = capped.client.post(
        "/v1/cases", json={"name": "within-the-cap"}, headers=capped.auth("admin")
    )
    assert response.status_code == 201, response.text


def test_the_upload_is_not_capped_by_the_json_limit(capped: ApiWorld) -> None:
    content = bytes(range(256)) * 256  # 64 KiB, sixteen times the cap
    created = capped.upload("jules", content)
    assert created["size"] == len(content)
    # A chunked upload too (no declared length at all).
    head = (
        f'--b\r\nContent-Disposition: form-data; name="case"\r\n\r\n{capped.world.case_id}\r\n'
        '--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nchunked\r\n'
        '--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
    ).encode()
    response = capped.client.post(
        "/v1/documents",
        headers={"content-type": "multipart/form-data; boundary=b", **capped.auth("jules")},
        content=iter([head, content, b"\r\n--b--\r\n"]),
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"name": "x"', "application/json"),
        (b'{"name": "\xff"}', "application/json"),  # not UTF-8: FastAPI's 400
    ],
    ids=["malformed", "truncated", "undecodable"],
)
@pytest.mark.parametrize("token", [None, "Bearer sv_S_not-a-real-token", "Basic YTpi"])
def test_a_body_that_does_not_decode_gets_401_without_valid_credentials(
    api: ApiWorld, body: bytes, content_type: str, token: str | None
) -> None:
    headers = {"content-type": content_type}
    if token is not None:
        headers["authorization"] = token
    response = api.client.post("/v1/cases", content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_with_valid_credentials_a_body_that_does_not_decode_is_still_refused(
    api: ApiWorld,
) -> None:
    headers = {"content-type": "application/json", **api.auth("admin")}
    malformed = api.client.post("/v1/cases", content=b"{not json", headers=headers)
    assert malformed.status_code == 422
    assert malformed.json()["type"] == "urn:source-vault:problem:validation"
    undecodable = api.client.post("/v1/cases", content=b'{"name": "\xff"}', headers=headers)
    assert undecodable.status_code == 400
    # A public route has no credentials to check: its body errors are answered as they are.
    login = api.client.post(
        "/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert login.status_code == 422
