"""``vault redact`` and ``vault export``: the console script's entry point against the shared live
``vault serve``.

erin and rosa are the editors of ``harbour-contracts``: erin proposes, rosa approves (four eyes:
the server refuses erin's approval of her own proposal). jules, a journalist of the case, may
not see redactions at all. One review is played through once for the module (``reviewed``), in
as few ``vault`` runs as its order allows, and the tests check what each step printed; the other
tests make documents of their own over HTTP, which is fast.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import stat
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import ReviewServer, in_parallel
from tests.conftest import POPPLER_REQUIRED
from tests.support.cli import FAILED, INTEGRITY, NOT_FOUND, USAGE, assert_error
from vault.cli.remote import marks, redact

CASE_NAME = "harbour-contracts"
NAME = "Marta Quiroga"
PHONE = "+44 20 7946 0958"
STATEMENT = (
    f"Statement taken on 3 March. {NAME} saw the lease signed in Room 3.\n"
    f"Call {NAME.upper()} on {PHONE} after six; the clerk was there too.\n"
)


def upload(
    server: ReviewServer,
    content: bytes,
    *,
    filename: str = "statement.txt",
    media_type: str = "text/plain",
    source: str | None = None,
    user: str = "erin",
) -> str:
    """A document in the shared case, uploaded over HTTP; its id."""
    fields = {"case": server.case_id, "title": f"Statement {uuid.uuid4().hex[:6]}"}
    if source is not None:
        fields["source"] = source
    with server.live.client(headers=server.live.auth(user)) as client:
        answer = client.post(
            "/v1/documents", data=fields, files={"file": (filename, content, media_type)}
        )
    assert answer.status_code == 201, answer.text
    doc_id: str = answer.json()["id"]
    return doc_id


def propose(server: ReviewServer, doc_id: str, body: dict[str, Any], user: str = "erin") -> str:
    """A proposed redaction made over HTTP; its id."""
    with server.live.client(headers=server.live.auth(user)) as client:
        made = client.post(f"/v1/documents/{doc_id}/redactions", json=body)
    assert made.status_code == 201, made.text
    rid: str = made.json()["id"]
    return rid


@dataclass
class Review:
    doc: str
    out: Path
    term_id: str
    suggested: dict[str, Any]
    runs: dict[str, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def reviewed(review_server: ReviewServer, tmp_path_factory: pytest.TempPathFactory) -> Review:
    """erin uploads a statement and proposes the name as a term (read from standard input, so
    that it stays out of the shell history); then, at once, she asks for suggestions (a table,
    and --accept-all as JSON) and tries to approve her own proposal; rosa approves everything;
    then erin exports, lists, previews and stores the export."""
    server, out = review_server, tmp_path_factory.mktemp("exports")
    doc = upload(server, STATEMENT.encode())
    added = server.vault(
        "erin", "redact", "add", doc, "--text", "-", "--category", "source-identity",
        "--note", "the source's name", stdin=NAME + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    term_id = added.stdout.strip()
    table, accepted, own = in_parallel(
        server,
        ("erin", ["redact", "suggest", doc[:8]]),
        ("erin", ["redact", "suggest", doc, "--accept-all", "--json"]),
        ("erin", ["redact", "approve", term_id]),
    )
    assert accepted.returncode == 0, accepted.stderr
    suggested = json.loads(accepted.stdout)
    created = [r["id"] for r in suggested["created"]]
    approvals = in_parallel(
        server,
        ("rosa", ["redact", "approve", term_id, "--note", "checked against the notes"]),
        *(("rosa", ["redact", "approve", rid[:6], "--doc", doc[:8]]) for rid in created),
    )
    for done in approvals:
        assert done.returncode == 0, done.stderr
    exported, listing, previewed, stored = in_parallel(
        server,
        ("erin", ["export", doc[:8], "--redacted", "-o", str(out / "out.txt")]),
        ("erin", ["redact", "ls", doc, "--json"]),
        ("rosa", ["redact", "preview", doc[:8]]),
        ("erin", ["export", doc, "--redacted", "--store"]),
    )
    runs = {
        "table": table,
        "added": added,
        "own": own,
        "approved": approvals[0],
        "exported": exported,
        "listing": listing,
        "preview": previewed,
        "stored": stored,
    }
    return Review(doc, out, term_id, suggested, runs)


def test_suggest_lists_the_phone_number(reviewed: Review) -> None:
    table = reviewed.runs["table"]
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["SPAN", "REASON", "CATEGORY", "TEXT"]
    row = next(line for line in table.stdout.splitlines() if PHONE in line)
    assert "phone" in row.split()
    start = STATEMENT.index(PHONE)
    assert row.startswith(f"{start}:{start + len(PHONE)}")
    assert "names were not searched" in table.stderr  # the document has no source
    phones = [s for s in reviewed.suggested["suggestions"] if s["reason"] == "phone"]
    assert [s["text"] for s in phones] == [PHONE]
    assert reviewed.suggested["source_names_used"] is False
    assert {r["status"] for r in reviewed.suggested["created"]} == {"proposed"}


def test_add_text_proposes_a_term_and_reports_its_matches(reviewed: Review) -> None:
    added = reviewed.runs["added"]
    assert str(uuid.UUID(reviewed.term_id)) == reviewed.term_id  # stdout: the id only
    assert "term redaction" in added.stderr
    assert NAME in added.stderr  # what it covers, for the proposer
    assert "2 occurrences" in added.stderr  # "Marta Quiroga" and "MARTA QUIROGA"
    assert "approve" in added.stderr


def test_the_proposer_cannot_approve_and_another_editor_can(reviewed: Review) -> None:
    line = assert_error(reviewed.runs["own"], FAILED)
    assert "another editor" in line
    assert NAME not in line
    approved = reviewed.runs["approved"]
    assert f"Approved term redaction {reviewed.term_id[:8]}" in approved.stderr


def test_export_removes_the_redacted_text(reviewed: Review) -> None:
    exported = reviewed.runs["exported"]
    assert exported.returncode == 0, exported.stderr
    out = reviewed.out / "out.txt"
    content = out.read_text(encoding="utf-8")
    assert "[REDACTED]" in content
    for secret in (NAME, NAME.upper(), PHONE, "Quiroga"):
        assert secret not in content
    assert "Room 3" in content  # the rest is kept
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert hashlib.sha256(out.read_bytes()).hexdigest() in exported.stderr
    applied = 1 + len(reviewed.suggested["created"])
    assert f"{applied} redaction(s) applied" in exported.stderr
    assert "access-log entry" in exported.stderr
    assert not [p for p in reviewed.out.iterdir() if p.name != "out.txt"]  # no temporary left


def test_ls_json_lists_the_api_objects(reviewed: Review, review_server: ReviewServer) -> None:
    listing = reviewed.runs["listing"]
    assert listing.returncode == 0, listing.stderr
    redactions = json.loads(listing.stdout)
    assert isinstance(redactions, list)
    assert isinstance(redactions, list)
    assert reviewed.term_id in [r["id"] for r in redactions]
    term = next(r for r in redactions if r["id"] == reviewed.term_id)
    assert (term["kind"], term["term"], term["status"]) == ("term", NAME, "approved")
    assert term["note"] == "the source's name"
    assert term["review_note"] == "checked against the notes"
    assert {"id", "document", "proposer", "reviewer", "current", "content_sha256"} <= set(term)
    table = review_server.ok("erin", "redact", "ls", reviewed.doc[:8])
    assert table.splitlines()[0].split()[:5] == ["ID", "STATUS", "KIND", "CATEGORY", "WHAT"]
    row = next(line for line in table.splitlines() if line.startswith(reviewed.term_id[:8]))
    assert "approved" in row
    assert NAME in row
    assert "you" in row.split()  # erin proposed it


def test_preview_marks_the_ranges_when_piped(reviewed: Review) -> None:
    previewed = reviewed.runs["preview"]
    assert previewed.returncode == 0, previewed.stderr
    assert f"«{NAME}»" in previewed.stdout
    assert f"«{NAME.upper()}»" in previewed.stdout  # every occurrence of a term
    assert f"«{PHONE}»" in previewed.stdout
    assert previewed.stdout.replace("«", "").replace("»", "") == STATEMENT
    assert "Legend" in previewed.stderr


def test_store_keeps_the_export_as_a_new_document(
    reviewed: Review, review_server: ReviewServer
) -> None:
    stored = reviewed.runs["stored"]
    assert stored.returncode == 0, stored.stderr
    new_id = stored.stdout.strip()
    assert str(uuid.UUID(new_id)) == new_id
    assert "redaction(s) applied" in stored.stderr
    listed = json.loads(review_server.ok("erin", "docs", "ls", "--case", CASE_NAME, "--json"))
    mine = next(d for d in listed["documents"] if d["id"] == new_id)
    assert mine["kind"] == "redacted-export"
    content = review_server.ok("erin", "docs", "get", new_id, "-o", "-")
    assert "[REDACTED]" in content
    assert NAME not in content


def test_a_proposed_redaction_blocks_the_export(
    review_server: ReviewServer, tmp_path: Path
) -> None:
    doc = upload(review_server, STATEMENT.encode())
    start = STATEMENT.index(PHONE)
    rid = propose(
        review_server, doc, {"kind": "span", "category": "other", "start": start,
                             "end": start + len(PHONE)},
    )  # fmt: skip
    blocked, previewed = in_parallel(
        review_server,
        ("erin", ["export", doc, "--redacted", "-o", str(tmp_path / "out.txt")]),
        ("erin", ["redact", "preview", doc]),
    )
    line = assert_error(blocked, FAILED)
    assert rid in line
    assert f"vault redact ls {doc[:8]}" in line
    assert PHONE not in line
    assert not list(tmp_path.iterdir())  # nothing written
    assert f"«?{PHONE}?»" in previewed.stdout
    assert "proposed" in previewed.stderr


def test_usage_errors_exit_2_before_asking_the_server(
    review_server: ReviewServer, tmp_path: Path
) -> None:
    doc = "0123abcd"  # never looked up: the options are checked first
    runs = in_parallel(
        review_server,
        ("erin", ["redact", "add", doc, "--span", "12-20", "--category", "other"]),
        ("erin", ["redact", "add", doc, "--span", "20:12", "--category", "other"]),
        ("erin", ["redact", "add", doc, "--page", "1", "--category", "legal"]),
        ("erin", ["redact", "add", doc, "--text", "x", "--span", "1:2", "--category", "legal"]),
        ("erin", ["redact", "add", doc, "--category", "legal"]),
        ("erin", ["redact", "reject", str(uuid.uuid4())]),
        ("erin", ["redact", "approve", "abcd1234"]),
        ("erin", ["export", doc, "-o", str(tmp_path / "x.txt")]),
    )
    bad_span, backwards, no_rect, two_forms, no_form, no_note, prefix_alone, unredacted = runs
    assert "START:END" in assert_error(bad_span, USAGE)
    assert "START < END" in assert_error(backwards, USAGE)
    assert "--rect" in assert_error(no_rect, USAGE)
    assert "only one of" in assert_error(two_forms, USAGE)
    assert "--text" in assert_error(no_form, USAGE)
    assert "--note" in assert_error(no_note, USAGE)
    assert "--doc" in assert_error(prefix_alone, USAGE)
    line = assert_error(unredacted, USAGE)
    assert "--redacted" in line
    assert "vault docs get" in line
    assert not list(tmp_path.iterdir())


def test_an_existing_file_is_not_overwritten(review_server: ReviewServer, tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("keep me")
    done = review_server.vault("erin", "export", "0123abcd", "--redacted", "-o", str(target))
    assert "--force" in assert_error(done, FAILED)
    assert target.read_text() == "keep me"


def test_refusals_journalists_unsupported_types_and_leaks(
    review_server: ReviewServer, tmp_path: Path
) -> None:
    text_doc = upload(review_server, b"plain words\n")
    archive = upload(
        review_server, b"PK\x05\x06" + bytes(18), filename="a.zip", media_type="application/zip"
    )
    # The name redacted in one place only: the server's check finds it left in the other.
    leaky = upload(review_server, STATEMENT.encode())
    start = STATEMENT.index(NAME)
    rid = propose(
        review_server, leaky, {"kind": "span", "category": "source-identity", "start": start,
                               "end": start + len(NAME)},
    )  # fmt: skip
    with review_server.live.client(headers=review_server.live.auth("rosa")) as client:
        assert client.post(f"/v1/redactions/{rid}/approve").status_code == 200
    journalist, unsupported, leak = in_parallel(
        review_server,
        ("jules", ["redact", "ls", text_doc[:8]]),
        ("erin", ["export", archive, "--redacted", "-o", str(tmp_path / "a.out")]),
        ("erin", ["export", leaky, "--redacted", "-o", str(tmp_path / "b.out")]),
    )
    assert_error(journalist, NOT_FOUND)
    line = assert_error(unsupported, USAGE)
    assert "supported" in line
    assert "application/pdf" in line
    assert "text/plain" in line
    line = assert_error(leak, INTEGRITY)
    assert "not released" in line
    assert f"vault redact preview {leaky[:8]} --all" in line
    assert NAME.upper() not in line
    assert not list(tmp_path.iterdir())


def test_the_handler_gets_the_sources_names_suggested(
    review_server: ReviewServer, tmp_path: Path
) -> None:
    alias = "La Garza"
    names = tmp_path / "names.txt"
    names.write_text(f"{NAME}\n\n  {alias}  \n", encoding="utf-8")
    added = review_server.vault(
        "erin", "sources", "add", "--case", CASE_NAME, "--names-file", names
    )
    assert added.returncode == 0, added.stderr
    source_id, _ = added.stdout.split()
    assert "2 names and aliases" in added.stderr
    assert NAME not in added.stdout + added.stderr
    doc = upload(
        review_server, f"A note left by la  garza for {NAME}.\n".encode(), source=source_id
    )
    handler, colleague, revealed = in_parallel(
        review_server,
        ("erin", ["redact", "suggest", doc]),
        ("rosa", ["redact", "suggest", doc]),
        ("erin", ["sources", "reveal", source_id, "--reason", "check the names recorded"]),
    )
    assert handler.returncode == 0, handler.stderr
    rows = [line for line in handler.stdout.splitlines() if "source-name" in line]
    assert len(rows) == 2
    assert any(NAME in row for row in rows)
    assert any("la  garza" in row for row in rows)  # as the document spells it
    assert all("source-identity" in row for row in rows)
    assert "names and aliases were searched" in handler.stderr
    assert colleague.returncode == 0, colleague.stderr
    assert "source-name" not in colleague.stdout
    assert "not searched" in colleague.stderr
    assert revealed.returncode == 0, revealed.stderr
    assert revealed.stdout == f"Names and aliases:\n  {NAME}\n  {alias}\n"


def test_names_never_come_from_the_command_line(
    review_server: ReviewServer, tmp_path: Path
) -> None:
    short = tmp_path / "short.txt"
    short.write_text("Ana Ruiz\nX\n", encoding="utf-8")
    too_short, both_stdin = in_parallel(
        review_server,
        ("erin", ["sources", "add", "--case", CASE_NAME, "--names-file", str(short)]),
        ("erin", ["sources", "add", "--case", CASE_NAME, "--names-file", "-",
                  "--notes-file", "-"]),
    )  # fmt: skip
    line = assert_error(too_short, USAGE)
    assert "line 2" in line
    assert "Ana Ruiz" not in line
    assert "standard input" in assert_error(both_stdin, USAGE)


def _pdf(text_lines: list[str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    y = 780
    for line in text_lines:
        page.drawString(72, y, line)
        y -= 20
    page.showPage()
    page.save()
    return buffer.getvalue()


def test_a_pdf_export_holds_no_redacted_text(review_server: ReviewServer, tmp_path: Path) -> None:
    from pypdf import PdfReader

    doc = upload(
        review_server,
        _pdf(["Memo from the harbour office.", f"Met {NAME} at the quay gate.", "End."]),
        filename="memo.pdf",
        media_type="application/pdf",
    )
    rid = review_server.ok(
        "erin", "redact", "add", doc, "--text", NAME, "--category", "third-party"
    ).strip()
    review_server.ok("rosa", "redact", "approve", rid)
    target = tmp_path / "out.pdf"
    review_server.ok("erin", "export", doc, "--redacted", "-o", target)
    reader = PdfReader(target)
    extracted = "\n".join(page.extract_text() or "" for page in reader.pages)
    assert "Quiroga" not in extracted
    assert "Marta" not in extracted
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        assert not POPPLER_REQUIRED, "pdftotext is required here (VAULT_TEST_REQUIRE_POPPLER)"
        return
    poppler = subprocess.run(
        [pdftotext, str(target), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "Quiroga" not in poppler
    assert "Marta" not in poppler


# -- the preview's marks, without a server ----------------------------------------------------


def test_overlapping_redactions_show_the_strongest_status() -> None:
    ranges = [(1, 4, "proposed"), (3, 6, "approved"), (6, 8, "approved"), (7, 12, "rejected")]
    assert redact.marked_ranges(10, ranges) == [
        (1, 3, "proposed"),
        (3, 8, "approved"),  # touching approved ranges merge
        (8, 10, "rejected"),  # clipped to the text
    ]
    assert redact.marked_ranges(10, [(4, 4, "approved"), (-2, 1, "proposed")]) == [
        (0, 1, "proposed")
    ]


def test_the_terminal_preview_shows_markup_and_escapes_as_text() -> None:
    text = "Ask [b]Ana[/b] \x1b[31mnow\fpage two\r\n"
    start = text.index("Ana")
    pieces = marks.cut(text, [(start, start + 3, "approved")])
    styled = marks.styled(pieces)
    assert "[b]Ana[/b]" in styled.plain  # markup in a document is text
    assert "\x1b" not in styled.plain
    assert "\ufffd[31mnow" in styled.plain
    assert "page 2" in styled.plain
    assert "\r" not in styled.plain
    covered = [s for s in styled.spans if "red" in str(s.style)]
    assert [styled.plain[s.start : s.end] for s in covered] == ["Ana"]
    assert marks.bracketed(pieces) == text.replace("Ana", "«Ana»")
