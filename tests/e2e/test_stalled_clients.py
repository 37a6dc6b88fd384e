"""Stalled and trickling clients against a live ``vault serve`` (issue 13, item 9).

Found by an outside attack: a client that sent headers or half a body and stopped kept its
connection and a worker thread for ever, and 42 uploads trickling a byte a second took the whole
thread pool, so that logins, ``/readyz`` and downloads timed out for everyone. Here, with short
limits set through the settings, a silent or half-sent request is cut off in bounded time, a
stalled upload gets 408 and stores nothing, a client that goes away is logged as such, and while
uploads trickle the rest of the server keeps answering.

Raw sockets, since no HTTP client library sends half a request on purpose.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import PASSPHRASE, LiveVault, checked_live_vault
from tests.support.raw_http import connect, read_until_closed

pytestmark = pytest.mark.slow  # a live server and waits of a few seconds by design

HEAD_SECONDS = 2
IDLE_SECONDS = 2
GRACE_SECONDS = 15  # long, so that trickling uploads stay admitted while the test looks
TOTAL_UPLOADS = 4
UPLOADS_PER_USER = 2
# More trickling uploads than anyio's default thread pool has threads (40).
TRICKLES = 42
BOUNDARY = "trickle-boundary"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveVault]:
    settings = {
        "VAULT_REQUEST_HEAD_SECONDS": str(HEAD_SECONDS),
        "VAULT_REQUEST_IDLE_SECONDS": str(IDLE_SECONDS),
        "VAULT_BODY_GRACE_SECONDS": str(GRACE_SECONDS),
        "VAULT_BODY_MIN_BYTES_PER_SECOND": "1000",
        "VAULT_MAX_CONCURRENT_UPLOADS": str(TOTAL_UPLOADS),
        "VAULT_MAX_CONCURRENT_UPLOADS_PER_USER": str(UPLOADS_PER_USER),
    }
    root = tmp_path_factory.mktemp("stalled") / "server"
    users = {"jules": "journalist", "mara": "journalist"}
    with checked_live_vault(root, users=users, extra_env=settings) as server:
        yield server
    assert "ClientDisconnect" not in server.log()


def _connect(live: LiveVault) -> socket.socket:
    return connect(live.port)


def _upload_head(live: LiveVault, token: str, *, length: int = 10 << 20) -> bytes:
    """Request head and the multipart fields of an upload, up to the first byte of the file."""
    parts = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="case"\r\n\r\n{live.case_id}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\nslow\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    head = (
        "POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    return head.encode() + parts.encode()


def _document_count(live: LiveVault) -> int:
    with live.client(headers=live.auth("jules")) as client:
        listed = client.get("/v1/documents", params={"case": live.case_id, "limit": 200})
    assert listed.status_code == 200, listed.text
    return len(listed.json()["documents"])


def _partials(live: LiveVault) -> list[Path]:
    return sorted((live.data_dir / "blobs" / ".tmp").glob("*.partial"))


# -- stalled requests -------------------------------------------------------------------------


def test_silent_connection_is_closed(live: LiveVault) -> None:
    with _connect(live) as sock:
        closed, sent, took = read_until_closed(sock, HEAD_SECONDS + 6)
    assert closed, "a connection that sent nothing was kept open"
    assert sent == b""
    assert took < HEAD_SECONDS + 3


def test_half_sent_headers_are_cut_off(live: LiveVault) -> None:
    with _connect(live) as sock:
        sock.sendall(b"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        closed, _, took = read_until_closed(sock, HEAD_SECONDS + 6)
    assert closed, "a connection that stopped inside its headers was kept open"
    assert took < HEAD_SECONDS + 3


def test_headers_trickled_a_byte_at_a_time_are_cut_off(live: LiveVault) -> None:
    # A deadline, not an idle timer: every byte arriving in time does not buy more time.
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    started = time.monotonic()
    with _connect(live) as sock:
        sock.settimeout(0.5)
        closed = False
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if time.monotonic() - started > HEAD_SECONDS + 6:
                break
    assert closed
    assert time.monotonic() - started < HEAD_SECONDS + 3


def test_half_sent_upload_gets_408_and_stores_nothing(live: LiveVault) -> None:
    before = _document_count(live)
    with _connect(live) as sock:
        sock.sendall(_upload_head(live, live.tokens.get("jules") or live.login("jules")))
        sock.sendall(b"k" * 300_000)  # several segments: the blob is being written
        closed, answer, took = read_until_closed(sock, IDLE_SECONDS + 8)
    assert closed
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    assert json.loads(body)["type"] == "urn:source-vault:problem:request-timeout"
    assert took < IDLE_SECONDS + 4
    assert _partials(live) == []
    assert _document_count(live) == before


def test_client_that_goes_away_is_logged_as_such(live: LiveVault) -> None:
    with _connect(live) as sock:
        sock.sendall(_upload_head(live, live.tokens.get("jules") or live.login("jules")))
        sock.sendall(b"k" * 100_000)
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in live.log().splitlines() if line.startswith("{")]
        gone = [e for e in lines if e["message"] == "client disconnected"]
        if gone:
            break
        time.sleep(0.2)
    assert gone, "no 'client disconnected' line"
    assert gone[-1]["level"] == "info"
    assert gone[-1]["route"] == "/v1/documents"
    access = [
        e for e in lines if e["message"] == "request" and e["request_id"] == gone[-1]["request_id"]
    ]
    assert [e["status"] for e in access] == [499]
    assert not [e for e in lines if e["level"] in ("error", "critical")]
    assert _partials(live) == []


# -- trickling uploads ------------------------------------------------------------------------


def test_trickling_uploads_do_not_starve_the_server(live: LiveVault, tmp_path: Path) -> None:
    tokens = {user: live.tokens.get(user) or live.login(user) for user in ("jules", "mara")}
    with live.client(headers=live.auth("jules")) as client:
        stored = client.post(
            "/v1/documents",
            data={"case": live.case_id, "title": "before the flood"},
            files={"file": ("a.bin", b"content to read back", "application/octet-stream")},
        )
    assert stored.status_code == 201, stored.text
    doc_id = stored.json()["id"]

    sockets = []
    for number in range(TRICKLES):
        sock = _connect(live)
        sock.sendall(_upload_head(live, tokens["jules" if number % 2 else "mara"]))
        sockets.append(sock)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.5):
            for sock in sockets:
                try:
                    sock.sendall(b"t")
                except OSError:
                    pass  # refused and closed by the server: the answer is read below

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        time.sleep(2)  # every upload has been authenticated and admitted or refused
        timings = {}
        with httpx.Client(base_url=live.base_url, timeout=5.0) as client:
            started = time.monotonic()
            login = client.post(
                "/v1/auth/login", json={"username": "jules", "passphrase": PASSPHRASE}
            )
            timings["login"] = time.monotonic() - started
            assert login.status_code == 200, login.text
            started = time.monotonic()
            assert client.get("/readyz").status_code == 200
            timings["readyz"] = time.monotonic() - started
            started = time.monotonic()
            read = client.get(
                f"/v1/documents/{doc_id}/content",
                headers={"Authorization": f"Bearer {login.json()['token']}"},
            )
            timings["download"] = time.monotonic() - started
            assert read.content == b"content to read back"
            # The server is taking all the uploads it will: another account is told to wait.
            more = client.post(
                "/v1/documents",
                headers=live.auth("admin"),
                data={"case": live.case_id, "title": "one more"},
                files={"file": ("b.bin", b"x", "application/octet-stream")},
            )
            assert more.status_code == 503, more.text
            assert more.json()["type"] == "urn:source-vault:problem:unavailable"
            assert int(more.headers["retry-after"]) >= 1
        assert max(timings.values()) < 5, timings

        statuses = []
        for sock in sockets:
            _, answer, _ = read_until_closed(sock, 0.5)
            statuses.append(int(answer.split(b" ", 2)[1]) if answer else None)
        # Each account may have two uploads at once; those four are still trickling, every
        # other one was refused at once with 429 and its connection closed.
        assert statuses.count(None) == TOTAL_UPLOADS
        assert statuses.count(429) == TRICKLES - TOTAL_UPLOADS
    finally:
        stop.set()
        trickler.join()
        for sock in sockets:
            sock.close()
