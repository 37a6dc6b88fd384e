"""SIGTERM to ``vault serve`` with an upload in flight: within ``shutdown_grace_seconds`` the
upload finishes and is acknowledged; past it, the upload is cut off and leaves nothing behind
(no document, no log entry, no temporary blob), and the server exits promptly either way."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import LiveVault, start_live_vault, stop_live_vault
from tests.support.cli import run_vault
from tests.support.server import start_vault_serve, stop_server

pytestmark = pytest.mark.slow

# Generous where the upload must finish within it (a busy CI machine), short where it must not.
LONG_GRACE, SHORT_GRACE = 20, 3
CHUNK = 32 << 10


def _slow_multipart(
    case: str, chunks: int, pause: float, started: threading.Event, digest: hashlib._Hash
) -> tuple[str, Iterator[bytes]]:
    """A multipart upload body sent ``CHUNK`` bytes every ``pause`` seconds (fast enough for the
    server's minimum body rate), and its content type."""
    boundary = secrets.token_hex(12)

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="case"\r\n\r\n{case}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nslow\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for number in range(chunks):
            chunk = os.urandom(CHUNK)
            digest.update(chunk)
            yield chunk
            if number == 1:
                started.set()
            time.sleep(pause)
        yield f"\r\n--{boundary}--\r\n".encode()

    return f"multipart/form-data; boundary={boundary}", body()


@pytest.fixture
def live(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveVault]:
    """A served vault whose grace period is the test's ``grace`` mark (seconds)."""
    marker = request.node.get_closest_marker("grace")
    assert marker is not None, "mark the test with its grace period"
    grace = marker.args[0]
    made = start_live_vault(
        tmp_path / "vault", None, extra_env={"VAULT_SHUTDOWN_GRACE_SECONDS": str(grace)}
    )
    yield made
    stop_live_vault(made)


def _terminate_during_upload(
    live: LiveVault, chunks: int, pause: float, grace: int
) -> tuple[object, float, str]:
    """Start the slow upload, SIGTERM the server once it is under way; return what the client
    got (a response or the transport error), how long the server took to exit, and the
    digest of what was sent."""
    started, digest = threading.Event(), hashlib.sha256()
    content_type, body = _slow_multipart(live.case_id, chunks, pause, started, digest)
    outcome: list[object] = []

    def upload() -> None:
        with live.client() as client:
            try:
                outcome.append(
                    client.post(
                        "/v1/documents",
                        headers=live.auth("jules") | {"Content-Type": content_type},
                        content=body,
                    )
                )
            except httpx.TransportError as exc:
                outcome.append(exc)

    live.auth("jules")  # log in before the clock starts
    thread = threading.Thread(target=upload)
    thread.start()
    assert started.wait(30), (outcome, thread.is_alive())
    began = time.monotonic()
    live.process.terminate()
    live.process.wait(timeout=grace + 30)
    took = time.monotonic() - began
    thread.join(timeout=60)
    return outcome[0], took, digest.hexdigest()


@pytest.mark.grace(LONG_GRACE)
def test_an_upload_that_ends_within_the_grace_period_is_acknowledged(live: LiveVault) -> None:
    answer, took, sent = _terminate_during_upload(live, chunks=12, pause=0.1, grace=LONG_GRACE)
    assert isinstance(answer, httpx.Response), answer
    assert answer.status_code == 201, answer.text
    assert answer.json()["sha256"] == sent
    assert took < LONG_GRACE
    restarted = start_vault_serve(
        live.data_dir, env=live.env, log_path=live.log_path.with_suffix(".2")
    )
    try:
        with httpx.Client(base_url=restarted.base_url, timeout=60) as client:
            read = client.get(
                f"/v1/documents/{answer.json()['id']}/content", headers=live.auth("jules")
            )
        assert read.status_code == 200
        assert hashlib.sha256(read.content).hexdigest() == sent
    finally:
        stop_server(restarted)


@pytest.mark.grace(SHORT_GRACE)
def test_an_upload_cut_off_by_the_grace_period_leaves_nothing(live: LiveVault) -> None:
    answer, took, _ = _terminate_during_upload(live, chunks=200, pause=0.05, grace=SHORT_GRACE)
    assert not (isinstance(answer, httpx.Response) and answer.status_code == 201), answer
    assert took < SHORT_GRACE + 10, "the server waited for the upload beyond its grace period"
    assert [p for p in (live.data_dir / "blobs" / ".tmp").rglob("*") if p.is_file()] == [], (
        live.log()[-3000:]
    )
    checked = run_vault("fsck", "--json", cwd=live.data_dir.parent, env=live.env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    log = run_vault("audit", "log", "--json", cwd=live.data_dir.parent, env=live.env)
    assert '"document.upload"' not in log.stdout
