"""What an end-to-end session writes, against a live server behind a proxy that records every
byte: ``vault docs put`` encrypts on this machine for keys checked against the access log (the
server never sees the content, title, filename or notes, and what it stores opens for every
reader), ``vault sources add`` and ``reveal`` seal and open a source's identity here, and
``vault passphrase`` re-seals the key here. A server that substitutes a key, or forges the
receipt, is caught and nothing is written."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tests.cli.conftest import PASSPHRASE, ReviewServer
from tests.cli.test_e2e_cli import _fresh
from tests.cli.test_keys_cli import Machine, _new_account
from tests.support.cli import INTEGRITY
from tests.support.sealed_uploads import build_sealed
from tests.support.tampering_proxy import TamperingProxy, tampering_proxy
from vault import crypto

MARK = "quayside-informant-bellweather"  # in the content, title, filename and notes


@pytest.fixture
def proxy(review_server: ReviewServer) -> Any:
    with tampering_proxy(review_server.url) as running:
        yield running


def _file(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / f"{MARK}.txt"
    path.write_bytes(content)
    return path


def _put(machine: Machine, server: ReviewServer, path: Path) -> Any:
    return machine.run(
        "docs", "put", str(path), "--case", server.case_id,
        "--title", f"notes from {MARK}", "--notes", f"met {MARK} at the quay",
    )  # fmt: skip


def _uploads(proxy: TamperingProxy) -> list[bytes]:
    return [r for r in proxy.received if r.startswith(b"POST /v1/sealed-documents")]


def test_an_end_to_end_upload_never_shows_the_server_the_document(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    content = (f"The informant {MARK} described the quay.\n" * 5000).encode()
    jules = Machine(review_server, tmp_path / "jules", proxy.url)
    assert jules.login("jules", "--end-to-end").returncode == 0
    done = _put(jules, review_server, _file(tmp_path, content))
    assert done.returncode == 0, done.stderr
    doc_id = done.stdout.strip()
    assert "end to end" in done.stderr
    assert len(_uploads(proxy)) == 1
    assert b"/v1/recovery-key" in b"\n".join(proxy.received)
    crossed = b"\n".join(proxy.received + proxy.sent)
    assert MARK.encode() not in crossed
    assert content[:40] not in crossed
    # erin, in a server-side session, reads it through the server: what the client sealed is
    # the format the server reads.
    with review_server.live.client(headers=review_server.live.auth("erin")) as erin:
        read = erin.get(f"/v1/documents/{doc_id}/content")
        shown = erin.get(f"/v1/documents/{doc_id}").json()
        trail = erin.get(f"/v1/documents/{doc_id}/access-log").json()
    assert read.status_code == 200, read.text
    assert read.content == content
    assert shown["title"] == f"notes from {MARK}"
    assert shown["filename"] == f"{MARK}.txt"
    assert shown["notes"] == f"met {MARK} at the quay"
    assert (shown["media_type"], shown["size"]) == ("text/plain", len(content))
    assert trail["entries"][0]["action"] == "document.upload"
    # And jules reads it back end to end.
    again = jules.run("docs", "read", doc_id)
    assert again.returncode == 0, again.stderr
    assert again.stdout.encode() == content


def _swap_member_key(substitute: str) -> Any:
    def rule(body: Any) -> Any:
        for member in body["members"]:
            if member["username"] == "erin":
                member["key_id"] = substitute
        return body

    return rule


@pytest.mark.parametrize("where", ["recipients", "key-answer", "recovery", "recovery-id"])
def test_a_substituted_key_is_caught_and_nothing_is_uploaded(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path, where: str
) -> None:
    """The server names a key it holds the private half of: for erin in the recipients list,
    as erin's key itself (with the proofs of the real one), as the recovery key, or as the
    recovery key's id."""
    jules = Machine(review_server, tmp_path / "jules", proxy.url)
    assert jules.login("jules", "--end-to-end").returncode == 0
    attacker = crypto.generate_private_key().public_key()
    rosa = _fresh(review_server, "rosa")
    recipients = f"/v1/cases/{review_server.case_id}/recipients"
    if where == "recipients":
        proxy.rules[recipients] = _swap_member_key(rosa["key_id"])
    elif where == "key-answer":
        proxy.rules["/v1/users/erin/key"] = lambda body: {
            **body,
            "public_key": base64.b64encode(attacker.to_bytes()).decode(),
            "key_id": attacker.key_id,
        }
        proxy.rules[recipients] = _swap_member_key(attacker.key_id)
    elif where == "recovery":
        proxy.rules["/v1/recovery-key"] = lambda body: {
            **body,
            "public_key": base64.b64encode(attacker.to_bytes()).decode(),
            "key_id": attacker.key_id,
        }
    else:
        proxy.rules[recipients] = lambda body: {**body, "recovery_key_id": attacker.key_id}
    done = _put(jules, review_server, _file(tmp_path, f"about {MARK}\n".encode()))
    assert done.returncode == INTEGRITY, (done.stdout, done.stderr)
    assert "access log" in done.stderr or "not trustworthy" in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("vault: error:")]
    assert len(errors) == 1, done.stderr
    assert _uploads(proxy) == []
    assert MARK.encode() not in b"\n".join(proxy.received)


def test_a_list_that_leaves_out_this_account_is_refused(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    jules = Machine(review_server, tmp_path / "jules", proxy.url)
    assert jules.login("jules", "--end-to-end").returncode == 0
    proxy.rules[f"/v1/cases/{review_server.case_id}/recipients"] = lambda body: {
        **body,
        "members": [m for m in body["members"] if m["username"] != "jules"],
    }
    done = _put(jules, review_server, _file(tmp_path, b"x\n"))
    assert done.returncode == INTEGRITY, done.stderr
    assert "your own key" in done.stderr
    assert _uploads(proxy) == []


def test_a_list_that_leaves_out_a_colleague_is_refused_by_the_server(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    """A server (or proxy) that hides a reader makes the client wrap for too few: the real
    server then refuses the upload, which stores nothing."""
    jules = Machine(review_server, tmp_path / "jules", proxy.url)
    assert jules.login("jules", "--end-to-end").returncode == 0
    proxy.rules[f"/v1/cases/{review_server.case_id}/recipients"] = lambda body: {
        **body,
        "members": [m for m in body["members"] if m["username"] != "erin"],
    }
    done = _put(jules, review_server, _file(tmp_path, b"x\n"))
    assert done.returncode != 0
    assert "current recipients" in done.stderr, done.stderr
    assert len(_uploads(proxy)) == 1


@pytest.mark.parametrize("field", ["ciphertext_sha256", "id", "log_entry"])
def test_a_forged_receipt_is_caught(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path, field: str
) -> None:
    jules = Machine(review_server, tmp_path / "jules", proxy.url)
    assert jules.login("jules", "--end-to-end").returncode == 0

    def forge(body: Any) -> Any:
        if field == "log_entry":
            entry = json.loads(base64.b64decode(body["log_entry"]))
            entry["ciphertext_sha256"] = "0" * 64
            return {**body, "log_entry": base64.b64encode(json.dumps(entry).encode()).decode()}
        return {**body, field: "0" * 64 if field != "id" else "0" * 8 + body["id"][8:]}

    proxy.rules["/v1/sealed-documents"] = forge
    done = _put(jules, review_server, _file(tmp_path, b"x\n"))
    assert done.returncode == INTEGRITY, done.stderr
    assert "receipt" in done.stderr


def test_a_source_recorded_end_to_end_is_sealed_here_and_opens_either_way(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    jules = Machine(review_server, tmp_path / "jules", proxy.url)
    assert jules.login("jules", "--end-to-end").returncode == 0
    notes = tmp_path / "notes.txt"
    notes.write_text(f"Harbour pilot, real name {MARK}.\n")
    names = tmp_path / "names.txt"
    names.write_text("Ilse Marquardt-Oyelowo\n")
    added = jules.run(
        "sources", "add", "--case", review_server.case_id,
        "--notes-file", str(notes), "--names-file", str(names),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    source_id, pseudonym = added.stdout.split()
    revealed = jules.run("sources", "reveal", pseudonym, "--reason", "checking a quote")
    assert revealed.returncode == 0, revealed.stderr
    assert MARK in revealed.stdout
    assert "Ilse Marquardt-Oyelowo" in revealed.stdout
    crossed = b"\n".join(proxy.received + proxy.sent)
    assert MARK.encode() not in crossed
    assert b"Marquardt" not in crossed
    # jules's server-side session reads what his client sealed.
    with review_server.live.client(headers=review_server.live.auth("jules")) as client:
        shown = client.get(
            f"/v1/sources/{source_id}/identity", params={"reason": "checking a quote"}
        ).json()
    assert shown["notes"] == f"Harbour pilot, real name {MARK}.\n"
    assert shown["names"] == ["Ilse Marquardt-Oyelowo"]


def test_a_substituted_recovery_key_records_no_source(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    jules = Machine(review_server, tmp_path / "jules", proxy.url)
    assert jules.login("jules", "--end-to-end").returncode == 0
    attacker = crypto.generate_private_key().public_key()
    proxy.rules["/v1/recovery-key"] = lambda body: {
        **body,
        "public_key": base64.b64encode(attacker.to_bytes()).decode(),
        "key_id": attacker.key_id,
    }
    notes = tmp_path / "notes.txt"
    notes.write_text(f"about {MARK}\n")
    done = jules.run("sources", "add", "--case", review_server.case_id, "--notes-file", str(notes))
    assert done.returncode == INTEGRITY, done.stderr
    assert not any(r.startswith(b"POST /v1/sealed-sources") for r in proxy.received)


def test_a_passphrase_changed_end_to_end_never_crosses(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    name = _new_account(review_server)
    machine = Machine(review_server, tmp_path / name, proxy.url)
    assert machine.login(name, "--end-to-end").returncode == 0
    new = "nine grey gulls above the salt warehouse"
    new_file = tmp_path / "new-passphrase"
    new_file.write_text(new + "\n")
    done = machine.run(
        "passphrase", "--passphrase-file", str(review_server.passphrase_file),
        "--new-passphrase-file", str(new_file),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Passphrase changed" in done.stderr
    sent = b"\n".join(proxy.received)
    assert new.encode() not in sent
    assert PASSPHRASE.encode() not in sent
    assert b"/v1/me/passphrase/end-to-end" in sent
    again = machine.run(
        "login", "--server", proxy.url, "--username", name,
        "--passphrase-file", str(new_file), "--end-to-end", "--profile", "again",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("substituted", [False, True])
def test_a_handover_wraps_the_key_here_for_the_logged_key(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path, substituted: bool
) -> None:
    jules = Machine(review_server, tmp_path / "jules", proxy.url)
    assert jules.login("jules", "--end-to-end").returncode == 0
    notes = tmp_path / "notes.txt"
    notes.write_text(f"Pilot's cousin, {MARK}.\n")
    added = jules.run("sources", "add", "--case", review_server.case_id, "--notes-file", str(notes))
    assert added.returncode == 0, added.stderr
    source_id = added.stdout.split()[0]
    if substituted:
        attacker = crypto.generate_private_key().public_key()
        proxy.rules["/v1/users/erin/key"] = lambda body: {
            **body,
            "public_key": base64.b64encode(attacker.to_bytes()).decode(),
            "key_id": attacker.key_id,
        }
    done = jules.run("sources", "handover", source_id, "--to", "erin")
    posted = [r for r in proxy.received if r.startswith(b"POST /v1/sources/")]
    if substituted:
        assert done.returncode == INTEGRITY, done.stderr
        assert posted == []
        return
    assert done.returncode == 0, done.stderr
    assert MARK.encode() not in b"\n".join(proxy.received + proxy.sent)
    with review_server.live.client(headers=review_server.live.auth("erin")) as client:
        shown = client.get(
            f"/v1/sources/{source_id}/identity", params={"reason": "taking it over"}
        ).json()
    assert shown["notes"] == f"Pilot's cousin, {MARK}.\n"


def test_a_document_whose_record_lies_about_its_content_is_refused_by_every_reader(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    """An end-to-end uploader can seal any digest into the record: the server cannot see it.
    Every reader through the CLI checks the content against it at the end, end to end (the
    record) and server-side (``Repr-Digest``), and saves nothing."""
    live = review_server.live
    with live.client(headers=live.auth("erin")) as client:
        erin = client.get("/v1/auth/me").json()["id"]
        sealed = build_sealed(
            client,
            live.auth("erin"),
            case_id=UUID(review_server.case_id),
            uploader_id=UUID(erin),
            content=f"A statement about {MARK}.\n".encode() * 50,
            segment_size=1 << 20,
            claimed_sha256="0" * 64,
        )
        headers = {
            **live.auth("erin"),
            "Content-Type": "multipart/form-data; boundary=sealedb0undary",
        }
        made = client.post("/v1/sealed-documents", headers=headers, content=sealed.body())
    assert made.status_code == 201, made.text
    doc_id = made.json()["id"]
    for mode in ("--end-to-end", None):
        jules = Machine(review_server, tmp_path / f"jules{mode}", proxy.url)
        assert jules.login("jules", *([mode] if mode else [])).returncode == 0
        out = tmp_path / f"out{mode}.txt"
        done = jules.run("docs", "get", doc_id, "-o", str(out))
        assert done.returncode == INTEGRITY, (mode, done.stdout, done.stderr)
        assert not out.exists()


def _seen_recovery(machine: Machine, key_id: str, index: int) -> None:
    """What ``machine``'s trust.json says it saw of the recovery key, rewritten."""
    path = machine.directory / "trust.json"
    saved = json.loads(path.read_text())
    for server in saved["servers"].values():
        server["recovery"] = {"key_id": key_id, "index": index}
    path.write_text(json.dumps(saved))


@pytest.mark.parametrize("seen", ["later-other-key", "earlier-other-key", "same-key-later"])
def test_the_recovery_key_is_held_to_what_this_machine_saw(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path, seen: str
) -> None:
    """A recovery key whose entry is older than another key this machine already saw is a
    replay of a replaced key: refused, nothing uploaded. A newer one is a rotation: said, and
    accepted. The same key seen at a later entry is the same key logged again."""
    jules = Machine(review_server, tmp_path / "jules", proxy.url)
    assert jules.login("jules", "--end-to-end").returncode == 0
    first = _put(jules, review_server, _file(tmp_path, b"first\n"))
    assert first.returncode == 0, first.stderr  # the recovery key is now seen here
    real = json.loads((jules.directory / "trust.json").read_text())
    actual = next(iter(real["servers"].values()))["recovery"]
    other = "f" * 64
    if seen == "later-other-key":
        _seen_recovery(jules, other, actual["index"] + 1_000_000)
    elif seen == "earlier-other-key":
        _seen_recovery(jules, other, 0)
    else:
        _seen_recovery(jules, actual["key_id"], actual["index"] + 1_000_000)
    proxy.received.clear()
    done = _put(jules, review_server, _file(tmp_path, b"second\n"))
    if seen == "later-other-key":
        assert done.returncode == INTEGRITY, done.stderr
        assert "older recovery key" in done.stderr
        assert _uploads(proxy) == []
        return
    assert done.returncode == 0, done.stderr
    assert ("recovery key changed" in done.stderr) == (seen == "earlier-other-key")
