"""``vault login --end-to-end`` against a live server, through a proxy that records every byte
the server receives: the passphrase never crosses, the session the server keeps holds no key,
and the key the client opened is the one the access log holds for the account."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from tests.cli.conftest import PASSPHRASE, ReviewServer
from tests.cli.test_keys_cli import Machine, _new_account
from tests.support.cli import INTEGRITY, run_vault
from tests.support.tampering_proxy import TamperingProxy, tampering_proxy
from vault import crypto
from vault.instance import Vault
from vault.settings import Settings
from vault.storage.models import Credential


@pytest.fixture
def proxy(review_server: ReviewServer) -> Any:
    with tampering_proxy(review_server.url) as running:
        yield running


def _credential(server: ReviewServer, token: str) -> Credential:
    settings = Settings.from_environ(server.live.env, data_dir=server.live.data_dir)
    vault = Vault.open(settings, read_only=True)
    try:
        with Session(vault.engine) as db:
            return db.exec(
                select(Credential).where(Credential.token_hash == crypto.hash_bearer_token(token))
            ).one()
    finally:
        vault.close()


def test_an_end_to_end_login_sends_no_passphrase_and_leaves_no_key_on_the_server(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    name = _new_account(review_server)
    machine = Machine(review_server, tmp_path / name, proxy.url)
    done = machine.login(name, "--end-to-end")
    assert done.returncode == 0, done.stderr
    assert "end to end" in done.stderr
    assert "Your key's fingerprint" in done.stderr
    sent = b"\n".join(proxy.received)
    assert b"/v1/auth/e2e/challenge" in sent
    assert PASSPHRASE.encode() not in sent
    assert b'"passphrase"' not in sent
    saved = json.loads((machine.directory / "profiles.json").read_text())["profiles"]["default"]
    assert PASSPHRASE not in json.dumps(saved)
    row = _credential(review_server, saved["token"])
    assert row.end_to_end
    assert row.sealed_key is None
    # The key kept here opens with the profile's token, and is the account's logged key.
    shown = machine.show(name)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["key_id"] == saved["key_id"]
    whoami = machine.run("whoami", "--json")
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["session"] == "end to end"


def test_a_key_the_log_has_replaced_is_refused_at_login(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    """A server that kept an account's old sealed key (from before a rotation) and makes up
    its side of the login to hand it out: the passphrase opens it, but the log says the account
    has another key now. The login ends the session it got and saves nothing."""
    name = _new_account(review_server)
    machine = Machine(review_server, tmp_path / name, proxy.url)
    seen: dict[str, Any] = {}

    def keep(path: str) -> Any:
        def rule(body: Any) -> Any:
            seen[path] = body
            return body

        return rule

    proxy.rules["/v1/auth/e2e/params"] = keep("params")
    proxy.rules["/v1/auth/e2e/challenge"] = keep("challenge")
    assert machine.login(name, "--end-to-end").returncode == 0
    old_key = crypto.PublicKey(base64.b64decode(_fresh(review_server, name)["public_key"]))
    with review_server.live.client() as client:
        rotated = client.post(
            "/v1/auth/login", json={"username": name, "passphrase": PASSPHRASE, "rotate_key": True}
        )
        assert rotated.status_code == 200, rotated.text
        genuine = client.post("/v1/auth/login", json={"username": name, "passphrase": PASSPHRASE})
        assert genuine.status_code == 200, genuine.text

    def challenge(request: Any) -> Any:
        challenge_id = uuid.uuid4()
        wrapped = crypto.wrap_key(
            os.urandom(32),
            old_key,
            kind="login-challenge",
            subject_id=challenge_id,
            commitment=None,
        )
        return {
            **seen["challenge"],
            "challenge_id": str(challenge_id),
            "wrapped_secret": base64.b64encode(wrapped).decode(),
        }

    proxy.fabricated["/v1/auth/e2e/params"] = lambda request: seen["params"]
    proxy.fabricated["/v1/auth/e2e/challenge"] = challenge
    proxy.fabricated["/v1/auth/e2e/login"] = lambda request: genuine.json()
    done = machine.login(name, "--end-to-end", "--profile", "replayed")
    assert done.returncode == INTEGRITY, done.stderr
    assert "another key for you than the one your passphrase opens" in done.stderr
    profiles = json.loads((machine.directory / "profiles.json").read_text())["profiles"]
    assert "replayed" not in profiles
    # The session the made-up login handed over was ended.
    with review_server.live.client() as client:
        me = client.get(
            "/v1/auth/me", headers={"Authorization": f"Bearer {genuine.json()['token']}"}
        )
    assert me.status_code == 401


def _fresh(server: ReviewServer, name: str) -> dict[str, Any]:
    with server.live.client(headers=server.live.auth("erin")) as client:
        answer = client.get(f"/v1/users/{name}/key")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


MARK = "harbour-pilot-ottoline-verge"  # in the content, title and filename


def _upload(server: ReviewServer, content: bytes) -> str:
    with server.live.client(headers=server.live.auth("erin")) as client:
        answer = client.post(
            "/v1/documents",
            data={"case": server.case_id, "title": f"minutes {MARK}"},
            files={"file": (f"{MARK}.txt", content, "text/plain")},
        )
    assert answer.status_code == 201, answer.text
    doc_id: str = answer.json()["id"]
    return doc_id


def test_an_end_to_end_session_reads_documents_on_this_machine(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    """jules reads a document end to end: the server sends only the sealed record, the wrapped
    key and the ciphertext, and neither the content nor the title nor the filename ever crosses
    in the clear; the saved file is the uploaded one."""
    content = (f"The meeting was attended by {MARK}.\n" * 2000).encode()
    doc_id = _upload(review_server, content)
    jules = Machine(review_server, tmp_path / "jules", proxy.url)
    assert jules.login("jules", "--end-to-end").returncode == 0
    read = jules.run("docs", "read", doc_id)
    assert read.returncode == 0, read.stderr
    assert read.stdout.encode() == content
    out = tmp_path / "out"
    out.mkdir()
    got = jules.run("docs", "get", doc_id, "-o", str(out))
    assert got.returncode == 0, got.stderr
    assert (out / f"{MARK}.txt").read_bytes() == content
    streamed = jules.run("docs", "get", doc_id, "-o", "-")
    assert streamed.stdout.encode() == content
    shown = jules.run("docs", "show", doc_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["title"] == f"minutes {MARK}"
    assert json.loads(shown.stdout)["size"] == len(content)
    # Listed with titles opened here, and found by an id prefix.
    listed = jules.run("docs", "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    mine = [d for d in json.loads(listed.stdout)["documents"] if d["id"] == doc_id]
    assert mine[0]["title"] == f"minutes {MARK}"
    table = jules.run("docs", "ls")
    assert table.returncode == 0, table.stderr
    assert f"minutes {MARK}" in table.stdout
    by_prefix = jules.run("docs", "read", doc_id[:8])
    assert by_prefix.returncode == 0, by_prefix.stderr
    assert by_prefix.stdout.encode() == content
    crossed = b"\n".join(proxy.received + proxy.sent)
    assert MARK.encode() not in crossed
    assert b"/ciphertext" in b"\n".join(proxy.received)


@pytest.mark.parametrize(
    "part", ["ciphertext", "wrapped_key", "sealed_metadata", "case_id", "recipient_key_id"]
)
def test_a_server_that_alters_what_it_stored_is_caught_here(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path, part: str
) -> None:
    content = f"A statement naming {MARK}.\n".encode() * 50
    doc_id = _upload(review_server, content)
    other_id = _upload(review_server, b"another document entirely\n")
    jules = Machine(review_server, tmp_path / "jules", proxy.url)
    assert jules.login("jules", "--end-to-end").returncode == 0
    if part == "ciphertext":
        proxy.rules[f"/v1/documents/{doc_id}/ciphertext"] = lambda raw: (
            raw[:200] + bytes([raw[200] ^ 1]) + raw[201:]
        )
    elif part in ("case_id", "recipient_key_id"):
        made_up = str(uuid.uuid4()) if part == "case_id" else "0" * 64
        proxy.rules[f"/v1/documents/{doc_id}/sealed"] = lambda body: {**body, part: made_up}
    else:
        other = _sealed_of(jules, other_id)
        proxy.rules[f"/v1/documents/{doc_id}/sealed"] = lambda body: {**body, part: other[part]}
    out = tmp_path / "out.txt"
    done = jules.run("docs", "get", doc_id, "-o", str(out))
    assert done.returncode == INTEGRITY, (done.stdout, done.stderr)
    assert not out.exists()
    assert list(tmp_path.glob("out*")) == []


def _sealed_of(machine: Machine, doc_id: str) -> dict[str, Any]:
    saved = json.loads((machine.directory / "profiles.json").read_text())["profiles"]["default"]
    with httpx.Client(base_url=machine.server.url) as client:
        answer = client.get(
            f"/v1/documents/{doc_id}/sealed",
            headers={"Authorization": f"Bearer {saved['token']}"},
        )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _case_with_a_newcomer(server: ReviewServer) -> tuple[str, str, str]:
    """A case of its own (erin founded it, and uploaded a document), and a new journalist
    added to it, awaiting approval: (case name, newcomer, document id)."""
    name = f"kt-{uuid.uuid4().hex[:8]}"
    newcomer = _new_account(server)
    with server.live.client(headers=server.live.auth("admin")) as admin:
        case = admin.post("/v1/cases", json={"name": name})
        assert case.status_code == 201, case.text
        case_id = case.json()["id"]
        assert admin.post(f"/v1/cases/{case_id}/members", json={"username": "erin"}).is_success
    with server.live.client(headers=server.live.auth("erin")) as erin:
        up = erin.post(
            "/v1/documents",
            data={"case": case_id, "title": "before the newcomer"},
            files={"file": ("a.txt", b"written before they joined\n", "text/plain")},
        )
        assert up.status_code == 201, up.text
    with server.live.client(headers=server.live.auth("admin")) as admin:
        added = admin.post(f"/v1/cases/{case_id}/members", json={"username": newcomer})
        assert added.status_code == 204, added.text
    return name, newcomer, up.json()["id"]


def test_an_end_to_end_approval_wraps_the_newcomers_keys_here(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    case, newcomer, doc_id = _case_with_a_newcomer(review_server)
    erin = Machine(review_server, tmp_path / "erin", proxy.url)
    assert erin.login("erin", "--end-to-end").returncode == 0
    approved = erin.run("cases", "approve", case, newcomer, "--yes")
    assert approved.returncode == 0, approved.stderr
    assert "1 document key(s) wrapped for them now" in approved.stderr
    assert b"POST /v1/grants" in b"\n".join(proxy.received)
    with review_server.live.client(headers=review_server.live.auth(newcomer)) as client:
        read = client.get(f"/v1/documents/{doc_id}/content")
    assert read.status_code == 200, read.text
    assert read.content == b"written before they joined\n"


def test_a_grant_for_a_key_the_log_does_not_hold_is_refused_and_nothing_is_sent(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    """The server names another key for the newcomer (one it holds the private half of): the
    client checks the newcomer's key against the access log and sends nothing."""
    case, newcomer, _ = _case_with_a_newcomer(review_server)
    erin = Machine(review_server, tmp_path / "erin", proxy.url)
    assert erin.login("erin", "--end-to-end").returncode == 0
    substitute = _fresh(review_server, "rosa")["key_id"]
    proxy.rules["/v1/grants"] = lambda body: {
        "grants": [{**g, "key_id": substitute} for g in body["grants"]]
    }
    done = erin.run("cases", "approve", case, newcomer, "--yes")
    assert done.returncode == INTEGRITY, done.stderr
    assert "under another key than the one the access log holds" in done.stderr
    assert not any(r.startswith(b"POST /v1/grants") for r in proxy.received)


def test_an_end_to_end_enrolment_never_sends_the_passphrase(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    name = f"kt-{uuid.uuid4().hex[:6]}"
    made = run_vault(
        "users", "add", name, "--role", "journalist", "--data-dir", review_server.live.data_dir,
        cwd=review_server.root, env=review_server.live.env, in_process=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    code = made.stdout.strip()
    machine = Machine(review_server, tmp_path / name, proxy.url)
    enrolled = machine.run(
        "enroll", "--server", proxy.url, "--username", name, "--code", code,
        "--passphrase-file", str(review_server.passphrase_file), "--end-to-end",
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    assert "passphrase stayed on this machine" in enrolled.stderr
    sent = b"\n".join(proxy.received)
    assert b"/v1/auth/e2e/enroll" in sent
    assert PASSPHRASE.encode() not in sent
    login = machine.login(name, "--end-to-end")
    assert login.returncode == 0, login.stderr
    assert PASSPHRASE.encode() not in b"\n".join(proxy.received)
    # The key the client made is the one the access log holds for the account.
    shown = machine.show(name)
    assert shown.returncode == 0, shown.stderr
