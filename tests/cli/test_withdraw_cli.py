"""``vault redact withdraw``, ``approve-withdrawal`` and ``reject-withdrawal`` against the shared
live ``vault serve``: erin asks, rosa decides (four eyes, as for the approval itself)."""

from __future__ import annotations

import uuid

from tests.cli.conftest import ReviewServer, in_parallel
from tests.support.cli import FAILED, USAGE, assert_error

STATEMENT = "Statement of 3 March. Ilse Marrow saw the lease signed; Pau Serra was there too.\n"


def _approved_terms(server: ReviewServer, *terms: str) -> tuple[str, list[str]]:
    """A new document with each of ``terms`` proposed by erin and approved by rosa."""
    with server.live.client(headers=server.live.auth("erin")) as client:
        doc = client.post(
            "/v1/documents",
            data={"case": server.case_id, "title": f"Statement {uuid.uuid4().hex[:6]}"},
            files={"file": ("statement.txt", STATEMENT.encode(), "text/plain")},
        ).json()["id"]
        made = [
            client.post(
                f"/v1/documents/{doc}/redactions",
                json={"kind": "term", "term": term, "category": "third-party"},
            ).json()["id"]
            for term in terms
        ]
    with server.live.client(headers=server.live.auth("rosa")) as client:
        for rid in made:
            assert client.post(f"/v1/redactions/{rid}/approve").status_code == 200
    return doc, made


def test_a_withdrawal_asked_by_one_editor_and_approved_by_another(
    review_server: ReviewServer,
) -> None:
    server = review_server
    doc, (named, kept) = _approved_terms(server, "Ilse Marrow", "Pau Serra")

    no_note, asked, asked_too = in_parallel(
        server,
        ("erin", ["redact", "withdraw", named]),
        ("erin", ["redact", "withdraw", named, "--note", "she asked to be named"]),
        ("erin", ["redact", "withdraw", kept[:6], "--doc", doc[:8], "--note", "public"]),
    )
    assert "needs --note" in assert_error(no_note, USAGE)
    assert asked.returncode == 0, asked.stderr
    assert f"Asked to withdraw term redaction {named[:8]}" in asked.stderr
    assert f"vault redact approve-withdrawal {named}" in asked.stderr
    assert asked_too.returncode == 0, asked_too.stderr

    own = server.vault("erin", "redact", "approve-withdrawal", named)
    assert "another editor" in assert_error(own, FAILED)
    approved, rejected = in_parallel(
        server,
        ("rosa", ["redact", "approve-withdrawal", named[:6], "--doc", doc, "--note", "agreed"]),
        ("rosa", ["redact", "reject-withdrawal", kept, "--note", "he is still at risk"]),
    )
    assert approved.returncode == 0, approved.stderr
    assert f"Withdrew term redaction {named[:8]}" in approved.stderr
    assert rejected.returncode == 0, rejected.stderr
    assert f"Kept term redaction {kept[:8]}" in rejected.stderr

    listing = server.ok("erin", "redact", "ls", doc)
    rows = {line.split()[0]: line.split()[1] for line in listing.splitlines()[1:]}
    assert rows == {named[:8]: "withdrawn", kept[:8]: "approved"}
    exported = server.ok("erin", "export", doc, "--redacted", "-o", "-")
    assert "Ilse Marrow" in exported
    assert "Pau Serra" not in exported


def test_reject_withdrawal_needs_a_note(review_server: ReviewServer) -> None:
    _, (rid,) = _approved_terms(review_server, "Ilse Marrow")
    done = review_server.vault("rosa", "redact", "reject-withdrawal", rid)
    assert "needs --note" in assert_error(done, USAGE)
