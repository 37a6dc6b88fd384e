"""``vault redact add``, ``ls``, ``approve`` and ``reject`` in end-to-end sessions, against a live
server behind a proxy that records every byte: the term, the text a span covers and the notes
are sealed on the editors' machines and never cross in the clear, the four-eyes rule holds,
and what they approved is applied by an export like any other redaction."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import ReviewServer
from tests.cli.test_keys_cli import Machine
from tests.support.cli import INTEGRITY
from tests.support.tampering_proxy import TamperingProxy, tampering_proxy

NAME = "Marisol Quenneville-Adeyemi"  # the source, named in the document
NOTE = "keep-this-note-sealed-lighthouse"


@pytest.fixture
def proxy(review_server: ReviewServer) -> Any:
    with tampering_proxy(review_server.url) as running:
        yield running


def _document(server: ReviewServer) -> str:
    text = f"Minutes of the harbour meeting.\nPresent: {NAME}, the clerk.\nNothing else.\n"
    with server.live.client(headers=server.live.auth("jules")) as client:
        made = client.post(
            "/v1/documents",
            data={"case": server.case_id, "title": "harbour minutes"},
            files={"file": ("minutes.txt", text.encode(), "text/plain")},
        )
    assert made.status_code == 201, made.text
    doc_id: str = made.json()["id"]
    return doc_id


def _editors(
    server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> tuple[Machine, Machine]:
    erin = Machine(server, tmp_path / "erin", proxy.url)
    rosa = Machine(server, tmp_path / "rosa", proxy.url)
    for machine, who in ((erin, "erin"), (rosa, "rosa")):
        done = machine.login(who, "--end-to-end")
        assert done.returncode == 0, done.stderr
    return erin, rosa


def test_a_term_proposed_and_approved_end_to_end_never_crosses_and_is_applied(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    doc_id = _document(review_server)
    erin, rosa = _editors(review_server, proxy, tmp_path)
    added = erin.run(
        "redact", "add", doc_id, "--text", NAME, "--category", "source-identity", "--note", NOTE
    )
    assert added.returncode == 0, added.stderr
    rid = added.stdout.strip()
    assert f"vault redact approve {rid} --doc {doc_id[:8]}" in added.stderr
    listed = rosa.run("redact", "ls", doc_id, "--json")
    assert listed.returncode == 0, listed.stderr
    found = {r["id"]: r for r in json.loads(listed.stdout)}
    assert (found[rid]["term"], found[rid]["note"], found[rid]["status"]) == (
        NAME,
        NOTE,
        "proposed",
    )
    own = erin.run("redact", "approve", rid, "--doc", doc_id)
    assert own.returncode != 0
    assert "another editor" in own.stderr
    approved = rosa.run("redact", "approve", rid, "--doc", doc_id, "--note", NOTE)
    assert approved.returncode == 0, approved.stderr
    crossed = b"\n".join(proxy.received + proxy.sent)
    assert NAME.encode() not in crossed
    assert NOTE.encode() not in crossed
    # A server-side reader sees the same record, and an export applies it.
    with review_server.live.client(headers=review_server.live.auth("erin")) as client:
        shown = client.get(f"/v1/documents/{doc_id}/redactions").json()["redactions"]
        exported = client.get(f"/v1/documents/{doc_id}/export", params={"redacted": "true"})
    record = next(r for r in shown if r["id"] == rid)
    assert (record["status"], record["term"], record["review_note"]) == ("approved", NAME, NOTE)
    assert exported.status_code == 200, exported.text
    assert NAME.encode() not in exported.content
    assert b"the clerk" in exported.content


def test_a_span_is_checked_against_the_content_here_and_can_be_rejected(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    doc_id = _document(review_server)
    erin, rosa = _editors(review_server, proxy, tmp_path)
    past = erin.run("redact", "add", doc_id, "--span", "0:100000", "--category", "other")
    assert past.returncode != 0
    assert past.stderr.startswith("vault: error:")
    start = len("Minutes of the harbour meeting.\nPresent: ")
    span = f"{start}:{start + len(NAME)}"
    added = erin.run("redact", "add", doc_id, "--span", span, "--category", "source-identity")
    assert added.returncode == 0, added.stderr
    rid = added.stdout.strip()
    listed = json.loads(rosa.run("redact", "ls", doc_id, "--json").stdout)
    assert next(r for r in listed if r["id"] == rid)["text"] == NAME
    previewed = rosa.run("redact", "preview", doc_id)  # the text read here, marks included
    assert previewed.returncode == 0, previewed.stderr
    assert f"«?{NAME}?»" in previewed.stdout
    rejected = rosa.run("redact", "reject", rid[:8], "--doc", doc_id, "--note", "not needed")
    assert rejected.returncode == 0, rejected.stderr
    again = rosa.run("redact", "approve", rid, "--doc", doc_id)
    assert again.returncode != 0
    assert "already rejected" in again.stderr
    assert NAME.encode() not in b"\n".join(proxy.received + proxy.sent)


def test_a_record_the_server_altered_is_refused_here(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    """The server hands a record over under another redaction's state (approved instead of
    proposed): the record is bound to its state and does not open."""
    doc_id = _document(review_server)
    erin, rosa = _editors(review_server, proxy, tmp_path)
    added = erin.run("redact", "add", doc_id, "--text", NAME, "--category", "source-identity")
    assert added.returncode == 0, added.stderr
    proxy.rules[f"/v1/documents/{doc_id}/sealed-redactions"] = lambda body: {
        "redactions": [{**r, "status": "approved"} for r in body["redactions"]]
    }
    listed = rosa.run("redact", "ls", doc_id)
    assert listed.returncode == INTEGRITY, listed.stderr


def test_an_export_made_end_to_end_is_logged_before_it_is_saved(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    doc_id = _document(review_server)
    erin, rosa = _editors(review_server, proxy, tmp_path)
    added = erin.run("redact", "add", doc_id, "--text", NAME, "--category", "source-identity")
    rid = added.stdout.strip()
    out = tmp_path / "redacted.txt"
    blocked = erin.run("export", doc_id, "--redacted", "-o", str(out))
    assert blocked.returncode != 0
    assert "still proposed" in blocked.stderr
    assert not out.exists()
    assert rosa.run("redact", "approve", rid, "--doc", doc_id).returncode == 0
    done = erin.run("export", doc_id, "--redacted", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "made and checked here" in done.stderr
    released = out.read_bytes()
    assert NAME.encode() not in released
    assert b"the clerk" in released
    assert b"[REDACTED]" in released
    assert NAME.encode() not in b"\n".join(proxy.received + proxy.sent)
    posted = [r for r in proxy.received if b"/sealed-export" in r.split(b"\n")[0]]
    assert len(posted) == 1
    sha = hashlib.sha256(released).hexdigest()
    assert sha.encode() in posted[0]
    with review_server.live.client(headers=review_server.live.auth("erin")) as client:
        trail = client.get(f"/v1/documents/{doc_id}/access-log").json()["entries"]
    assert trail[-1]["action"] == "document.export"
    assert trail[-1]["outcome"] == "ok"


def test_a_server_that_hides_an_approved_redaction_gets_no_export(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    """The server leaves the approved redaction out of the list it sends: the client applies
    nothing, and the server itself refuses to log an export that left it out."""
    doc_id = _document(review_server)
    erin, rosa = _editors(review_server, proxy, tmp_path)
    rid = erin.run(
        "redact", "add", doc_id, "--text", NAME, "--category", "source-identity"
    ).stdout.strip()
    assert rosa.run("redact", "approve", rid, "--doc", doc_id).returncode == 0
    proxy.rules[f"/v1/documents/{doc_id}/sealed-redactions"] = lambda body: {"redactions": []}
    out = tmp_path / "redacted.txt"
    done = erin.run("export", doc_id, "--redacted", "-o", str(out))
    assert done.returncode != 0
    assert "approved redactions" in done.stderr
    assert not out.exists()
