"""Many small uploads at once into one ``vault serve`` with two workers (SQLite and PostgreSQL):
each process records the uploads that finish together in one transaction (group commit), and the
two processes' groups meet in one database. Every acknowledged upload must come back with its
own bytes, its own log entry naming it, its uploader and its own request id, and the log must
verify from the entries alone."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable

import pytest

from tests.e2e.conftest import LiveVault
from tests.support.cli import run_vault

pytestmark = pytest.mark.slow  # a vault made by the CLI and served by two processes

CLIENTS = 8
EACH = 12


def test_concurrent_uploads_on_two_workers_each_get_their_own_entry(
    live_vault_factory: Callable[..., LiveVault],
) -> None:
    # Eight clients of one account at once: the per-account cap is for people.
    live = live_vault_factory(
        workers=2, extra_env={"VAULT_MAX_CONCURRENT_UPLOADS_PER_USER": str(CLIENTS)}
    )
    headers = live.auth("jules")
    acknowledged: list[tuple[dict[str, object], str, bytes]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        with live.client(headers=headers) as http:
            for upload in range(EACH):
                body = f"client {number}, upload {upload}: ".encode() * 500
                answer = http.post(
                    "/v1/documents",
                    data={"case": live.case_id, "title": f"filed {number}.{upload}"},
                    files={"file": ("filed.bin", body, "application/octet-stream")},
                )
                with lock:
                    if answer.status_code == 201:
                        acknowledged.append((answer.json(), answer.headers["x-request-id"], body))
                    else:
                        failures.append(answer.text)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures
    assert len(acknowledged) == CLIENTS * EACH
    indices = [int(created["log_index"]) for created, _, _ in acknowledged]  # type: ignore[call-overload]
    assert len(set(indices)) == len(indices)

    with live.client(headers=live.auth("admin")) as admin:
        for created, request_id, body in acknowledged:
            index = int(created["log_index"])  # type: ignore[call-overload]
            page = admin.get("/v1/audit/entries", params={"start": index, "end": index + 1})
            assert page.status_code == 200, page.text
            (stored,) = page.json()["entries"]
            leaf = base64.b64decode(stored["leaf"])
            # The receipt the uploader was given is the entry the log holds.
            assert leaf == base64.b64decode(str(created["log_entry"]))
            entry = json.loads(leaf)
            assert entry["action"] == "document.upload"
            assert entry["targets"]["document"] == created["id"]
            assert entry["targets"]["case"] == live.case_id
            assert entry["request_id"] == request_id
            assert created["sha256"] == hashlib.sha256(body).hexdigest()
    with live.client(headers=headers) as http:
        for created, _, body in acknowledged:
            content = http.get(f"/v1/documents/{created['id']}/content")
            assert content.status_code == 200
            assert content.content == body

    verified = run_vault("audit", "verify", cwd=live.data_dir, env=live.env)
    assert verified.returncode == 0, verified.stderr
