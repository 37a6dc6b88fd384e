"""``vault serve`` as a real process: log in, upload a multi-megabyte file with a plain httpx
multipart request, download it streaming, and check the digest; with two workers, a token
issued by one worker works on the other."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.e2e.conftest import PASSPHRASE, LiveVault
from tests.support.files import random_file

pytestmark = pytest.mark.slow  # end to end: a vault made by the CLI and served by a process

MiB = 1 << 20
SIZE = 12 * MiB + 12_345  # not a multiple of the default 1 MiB segment
HEADER_SIZE = 96  # content format version 2 (docs/format.md §2.1)
SEGMENT_ON_DISK = MiB + 16


def _upload(client: httpx.Client, live: LiveVault, path: Path, token: str) -> dict[str, Any]:
    with path.open("rb") as fh:
        response = client.post(
            "/v1/documents",
            headers={"Authorization": f"Bearer {token}"},
            data={"case": live.case_id, "title": "Harbour contract, annex 3", "kind": "contract"},
            files={"file": ("anexo 3 (versión final).bin", fh, "application/octet-stream")},
        )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _download(client: httpx.Client, doc_id: str, token: str) -> tuple[httpx.Headers, int, str]:
    digest = hashlib.sha256()
    received = 0
    url = f"/v1/documents/{doc_id}/content"
    with client.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status_code == 200, response.read()
        for chunk in response.iter_bytes():
            digest.update(chunk)
            received += len(chunk)
        headers = response.headers
    return headers, received, digest.hexdigest()


def _check_round_trip(
    live: LiveVault, tmp_path: Path, upload_client: httpx.Client, download_client: httpx.Client
) -> str:
    source = tmp_path / "upload.bin"
    expected = random_file(source, SIZE)
    token = live.tokens["jules"]
    created = _upload(upload_client, live, source, token)
    assert created["size"] == SIZE
    assert created["sha256"] == expected
    headers, received, got = _download(download_client, created["id"], token)
    assert received == SIZE
    assert got == expected
    assert headers["content-length"] == str(SIZE)
    digest = base64.b64encode(bytes.fromhex(expected)).decode()
    assert headers["repr-digest"] == f"sha-256=:{digest}:"
    assert (
        "filename*=UTF-8''anexo%203%20%28versi%C3%B3n%20final%29.bin"
        in (headers["content-disposition"])
    )
    assert headers["cache-control"] == "no-store"
    return token


def _check_server_log(live: LiveVault, secrets: list[str]) -> None:
    """The server's log is one JSON object per line, carrying no secret and no address."""
    lines = [line for line in live.log().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    access = [e for e in entries if e.get("logger") == "api.access"]
    assert access, live.log()
    assert {"request_id", "method", "route", "status", "duration_ms"} <= set(access[0])
    assert all("client" not in e for e in access)
    text = live.log()
    for secret in [*secrets, PASSPHRASE]:
        assert secret not in text, secret
    # The only address in the log is the server's own, in the start-up lines.
    for line in text.splitlines():
        if "127.0.0.1" in line:
            assert f"127.0.0.1:{live.port}" in line, line


def test_serve_round_trip(live_vault: LiveVault, tmp_path: Path) -> None:
    live_vault.login("jules")
    with live_vault.client() as client:
        token = _check_round_trip(live_vault, tmp_path, client, client)
        me = client.get("/v1/auth/me", headers=live_vault.auth("jules"))
        assert me.json()["username"] == "jules"
        listing = client.get(
            "/v1/documents", params={"case": live_vault.case_id}, headers=live_vault.auth("jules")
        )
        assert [d["title"] for d in listing.json()["documents"]] == ["Harbour contract, annex 3"]
        assert client.post("/v1/auth/logout", headers=live_vault.auth("jules")).status_code == 204
        after = client.get("/v1/auth/me", headers=live_vault.auth("jules"))
        assert after.status_code == 401
        assert after.headers["content-type"] == "application/problem+json"
    _check_server_log(live_vault, [token, live_vault.tokens["admin"], "annex", "anexo"])


def test_tampered_blob_over_http(live_vault: LiveVault) -> None:
    content = os.urandom(3 * MiB + 99)  # four segments
    token = live_vault.login("jules")
    headers = {"Authorization": f"Bearer {token}"}
    with live_vault.client() as client:
        created = client.post(
            "/v1/documents",
            headers=headers,
            data={"case": live_vault.case_id, "title": "t"},
            files={"file": ("f.bin", content)},
        )
        assert created.status_code == 201, created.text
        doc_id = created.json()["id"]
    (blob,) = [p for p in (live_vault.data_dir / "blobs").glob("??/*") if p.is_file()]
    data = bytearray(blob.read_bytes())
    data[HEADER_SIZE + 2 * SEGMENT_ON_DISK + 7] ^= 0x80  # the third segment
    blob.write_bytes(bytes(data))

    # Headers and two good segments go out, then the server cuts the response short; the
    # client sees a body shorter than Content-Length as a protocol error, never a success.
    sizes: list[int] = []
    url = f"/v1/documents/{doc_id}/content"
    with live_vault.client() as client, client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(content))
        with pytest.raises(httpx.RemoteProtocolError):
            _drain(response, sizes)
    assert sum(sizes) <= 2 * MiB

    data[HEADER_SIZE + 2 * SEGMENT_ON_DISK + 7] ^= 0x80
    data[HEADER_SIZE + 7] ^= 0x80  # now the first segment: a proper error answer
    blob.write_bytes(bytes(data))
    with live_vault.client() as client:
        response = client.get(f"/v1/documents/{doc_id}/content", headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("integrity-failure")
    assert live_vault.process.poll() is None  # the server lives on


def _drain(response: httpx.Response, sizes: list[int]) -> None:
    for chunk in response.iter_bytes():
        sizes.append(len(chunk))


def _client_port(response: httpx.Response) -> int:
    port: int = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


def _serving_pid(live: LiveVault, response: httpx.Response) -> int:
    """The worker process holding the server end of the connection ``response`` came on."""
    client_port = _client_port(response)
    for proc in live.workers():
        try:
            connections = proc.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        for conn in connections:
            if conn.laddr and conn.laddr.port == live.port and conn.raddr:
                if conn.raddr.port == client_port:
                    return proc.pid
    raise AssertionError(f"no worker holds the connection from port {client_port}")


def _worker_pids(live: LiveVault) -> set[int]:
    """The processes listening on the server's port: its workers."""
    pids = set()
    for proc in live.workers():
        try:
            connections = proc.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == live.port for c in connections):
            pids.add(proc.pid)
    return pids


def _client_on(live: LiveVault, pid: int, opened: list[httpx.Client]) -> httpx.Client:
    """A client whose (kept-alive) connection is served by worker ``pid``."""
    for _ in range(100):
        client = live.client()
        opened.append(client)
        if _serving_pid(live, client.get("/healthz")) == pid:
            return client
        client.close()
    raise AssertionError(f"no connection reached worker {pid} in 100 attempts")


def test_two_workers_share_sessions(
    live_vault_factory: Callable[..., LiveVault], tmp_path: Path
) -> None:
    live = live_vault_factory(workers=2)
    workers = _worker_pids(live)
    assert len(workers) == 2, workers
    opened: list[httpx.Client] = []
    try:
        with live.client() as client:
            login = client.post(
                "/v1/auth/login", json={"username": "jules", "passphrase": PASSPHRASE}
            )
            assert login.status_code == 200, login.text
            issuer = _serving_pid(live, login)
        token = login.json()["token"]
        live.tokens["jules"] = token
        headers = {"Authorization": f"Bearer {token}"}
        (other,) = workers - {issuer}

        # The token works on the worker that did not issue it: no session state in a process.
        on_other = _client_on(live, other, opened)
        me = on_other.get("/v1/auth/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "jules"
        assert _serving_pid(live, me) == other

        # Upload through one worker, download through the other.
        _check_round_trip(
            live, tmp_path, _client_on(live, issuer, opened), _client_on(live, other, opened)
        )

        # Logging out on one worker ends the session on the other at once.
        logout = _client_on(live, other, opened).post("/v1/auth/logout", headers=headers)
        assert logout.status_code == 204
        gone = _client_on(live, issuer, opened).get("/v1/auth/me", headers=headers)
        assert gone.status_code == 401
    finally:
        for client in opened:
            client.close()
    assert _worker_pids(live) == workers  # no worker was lost or replaced along the way
