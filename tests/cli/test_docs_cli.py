"""``vault docs``: the console script's entry point against a live ``vault serve``, as the case's
journalist (jules), its editor (erin), an outsider (joan) and an administrator who is not a
member (admin); plus the id-prefix rules against a fake client.

Each test makes its own documents (through the API, to keep the module fast, except where
``vault docs put`` itself is under test): the server is shared by the whole session.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import ReviewServer, in_parallel
from tests.support.cli import AUTH, FAILED, INTEGRITY, NOT_FOUND, USAGE, VAULT
from vault.cli.remote import lookup, transfer
from vault.errors import InvalidInput, NotFound

CASE_NAME = "harbour-contracts"


def upload(
    server: ReviewServer,
    content: bytes,
    *,
    filename: str = "memo.txt",
    title: str | None = None,
    media_type: str = "text/plain",
    user: str = "jules",
) -> dict[str, Any]:
    """A document in the shared case, uploaded over HTTP as ``user``."""
    title = title or f"Memo {secrets.token_hex(4)}"
    with server.live.client(headers=server.live.auth(user)) as client:
        answer = client.post(
            "/v1/documents",
            data={"case": server.case_id, "title": title, "kind": "memo"},
            files={"file": (filename, content, media_type)},
        )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    created["title"] = title
    return created


def case_ids(server: ReviewServer) -> list[str]:
    with server.live.client(headers=server.live.auth("jules")) as client:
        page = client.get("/v1/documents", params={"case": server.case_id, "limit": 200})
    assert page.status_code == 200, page.text
    assert page.json()["next_cursor"] is None
    return [d["id"] for d in page.json()["documents"]]


def raw(server: ReviewServer, user: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``vault ARGS`` with stdout kept as bytes (for binary content)."""
    done = subprocess.run(
        [VAULT, *args],
        env=server.env(user),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
        cwd=server.root,
    )
    assert b"Traceback" not in done.stderr, done.stderr
    return done


# -- put --------------------------------------------------------------------------------------


def test_put_prints_the_id_and_the_receipt(review_server: ReviewServer, tmp_path: Path) -> None:
    content = b"Minutes of the harbour board, 3 March.\n" * 100
    path = tmp_path / "minutes [draft].txt"  # brackets are text, not terminal markup
    path.write_bytes(content)
    done = review_server.vault(
        "jules", "docs", "put", path, "--case", CASE_NAME, "--title", "Board minutes",
        "--kind", "minutes", "--notes", "from the clerk",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc_id = done.stdout.strip()
    assert str(uuid.UUID(doc_id)) == doc_id  # stdout is the id and nothing else
    assert "access-log entry" in done.stderr
    assert hashlib.sha256(content).hexdigest() in done.stderr
    assert "minutes [draft].txt" in done.stderr

    shown = json.loads(review_server.ok("erin", "docs", "show", doc_id, "--json"))
    assert shown["title"] == "Board minutes"
    assert shown["filename"] == "minutes [draft].txt"
    assert shown["media_type"] == "text/plain"
    assert (shown["kind"], shown["notes"]) == ("minutes", "from the clerk")
    assert shown["size"] == len(content)
    assert shown["case"] == review_server.case_id


def test_put_json_prints_the_servers_answer(review_server: ReviewServer, tmp_path: Path) -> None:
    path = tmp_path / "scan.bin"
    path.write_bytes(os.urandom(3000))
    answer = json.loads(
        review_server.ok(
            "jules", "docs", "put", path, "--case", review_server.case_id, "--title", "Scan",
            "--json",
        )
    )  # fmt: skip
    assert set(answer) >= {"id", "size", "sha256", "case", "created_at", "log_index", "log_entry"}
    assert answer["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert answer["size"] == 3000


def test_put_to_an_unknown_case_is_not_found(review_server: ReviewServer, tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("a")
    done = review_server.vault("jules", "docs", "put", path, "--case", "no-such", "--title", "A")
    assert done.returncode == NOT_FOUND
    assert done.stderr.startswith("vault: error: no case named 'no-such'")


# -- ls and show ------------------------------------------------------------------------------


def test_ls_prints_a_table_and_json(review_server: ReviewServer) -> None:
    doc = upload(review_server, b"ledger\n", title="Harbour ledger [2019]")
    table = review_server.ok("erin", "docs", "ls", "--case", CASE_NAME)
    line = next(row for row in table.splitlines() if row.startswith(doc["id"][:8]))
    assert "Harbour ledger [2019]" in line
    assert "memo" in line
    assert "7 B" in line
    assert doc["id"] not in table  # the table shows short ids

    listing = json.loads(review_server.ok("erin", "docs", "ls", "--json"))
    assert set(listing) == {"documents"}
    mine = next(d for d in listing["documents"] if d["id"] == doc["id"])
    assert mine["title"] == "Harbour ledger [2019]"
    assert mine["case"] == review_server.case_id
    assert mine["pending"] is False
    assert mine["sha256"] == doc["sha256"]
    assert set(mine) >= {"uploader", "created_at", "filename", "media_type", "kind", "size"}


def test_ls_without_case_shows_the_case_name(review_server: ReviewServer) -> None:
    doc = upload(review_server, b"x")
    table = review_server.ok("jules", "docs", "ls")
    header = table.splitlines()[0]
    assert header.split()[:3] == ["ID", "CASE", "TITLE"]
    line = next(row for row in table.splitlines() if row.startswith(doc["id"][:8]))
    assert CASE_NAME in line


def test_ls_unknown_case_is_not_found(review_server: ReviewServer) -> None:
    done = review_server.vault("erin", "docs", "ls", "--case", "harbour-contract")
    assert done.returncode == NOT_FOUND
    assert done.stderr == "vault: error: no case named 'harbour-contract' among your cases " \
        "(see `vault cases ls`)\n"  # fmt: skip


def test_admin_sees_no_documents_of_cases_they_are_not_in(review_server: ReviewServer) -> None:
    upload(review_server, b"x")
    done = review_server.vault("admin", "docs", "ls")
    assert done.returncode == 0, done.stderr
    assert "No documents in your cases." in done.stderr
    # Other tests on the shared server add cases of their own: at least harbour-contracts.
    assert re.search(r"^\d+ cases? not listed: you are not a member\.$", done.stderr, re.M)
    assert done.stdout == ""


def test_put_and_ls_name_the_source_by_pseudonym(
    review_server: ReviewServer, tmp_path: Path
) -> None:
    with review_server.live.client(headers=review_server.live.auth("jules")) as client:
        created = client.post("/v1/sources", json={"case": review_server.case_id})
    assert created.status_code == 201, created.text
    pseudonym = created.json()["pseudonym"]
    upload(review_server, b"not from this source")
    path = tmp_path / "tip.txt"
    path.write_text("a tip")
    doc_id = review_server.ok(
        "jules", "docs", "put", path, "-c", CASE_NAME, "-t", "Tip", "--source", pseudonym
    ).strip()
    listing, table = in_parallel(
        review_server,
        ("erin", ["docs", "ls", "--case", CASE_NAME, "--source", pseudonym, "--json"]),
        ("erin", ["docs", "ls", "--case", CASE_NAME, "--source", created.json()["id"]]),
    )
    assert [d["id"] for d in json.loads(listing.stdout)["documents"]] == [doc_id]
    (line,) = table.stdout.splitlines()[1:]
    assert line.startswith(doc_id[:8])
    assert line.rstrip().endswith(pseudonym)


def test_show_by_prefix(review_server: ReviewServer) -> None:
    doc = upload(review_server, b"statement\n", filename="statement.txt", title="Statement")
    shown = review_server.ok("erin", "docs", "show", doc["id"][:8])
    fields = dict(line.split(":", 1) for line in shown.splitlines())
    fields = {k: v.strip() for k, v in fields.items()}
    assert fields["id"] == doc["id"]
    assert fields["title"] == "Statement"
    assert fields["case"] == f"{CASE_NAME} ({review_server.case_id})"
    assert fields["filename"] == "statement.txt"
    assert fields["size"] == "10 B (10 bytes)"
    assert fields["sha256"] == doc["sha256"]


# -- get --------------------------------------------------------------------------------------


def test_get_saves_the_verified_file_under_its_base_name(
    review_server: ReviewServer, tmp_path: Path
) -> None:
    content = b"Annex 3: payments to the port authority\n" * 1000
    doc = upload(review_server, content, filename="../../etc/annex 3.txt")
    done = review_server.vault("erin", "docs", "get", doc["id"][:10], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    saved = tmp_path / "annex 3.txt"  # the directory part of the stored name is dropped
    assert saved.read_bytes() == content
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annex 3.txt"]  # no partial file
    assert "SHA-256 verified" in done.stderr
    assert done.stdout == ""

    again = review_server.vault("erin", "docs", "get", doc["id"], cwd=tmp_path)
    assert again.returncode == FAILED
    assert "already exists (use --force to overwrite it)" in again.stderr
    saved.write_bytes(b"changed")
    review_server.ok("erin", "docs", "get", doc["id"], "--force", cwd=tmp_path)
    assert saved.read_bytes() == content


def test_get_to_a_named_file_and_to_stdout(review_server: ReviewServer, tmp_path: Path) -> None:
    content = "Declaración de Pérez\n" * 50
    doc = upload(review_server, content.encode())
    target = tmp_path / "copy.txt"
    review_server.ok("jules", "docs", "get", doc["id"], "-o", target)
    assert target.read_text() == content
    assert review_server.ok("jules", "docs", "get", doc["id"], "-o", "-") == content


def test_tampered_download_exits_5_and_leaves_nothing(
    review_server: ReviewServer, tmp_path: Path
) -> None:
    blobs = review_server.live.data_dir / "blobs"

    def stored() -> set[Path]:
        return {p for p in blobs.glob("??/*") if p.is_file()}

    before = stored()
    content = os.urandom(3 << 20)  # three segments: the first goes out, the second fails
    doc = upload(review_server, content, filename="ledger.bin", media_type="application/pdf")
    (blob,) = stored() - before
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))

    out = tmp_path / "out"
    out.mkdir()
    done = review_server.vault("erin", "docs", "get", doc["id"], cwd=out)
    assert done.returncode == INTEGRITY, done.stderr
    assert done.stderr.startswith("vault: error: the download broke off")
    assert list(out.iterdir()) == []  # neither the file nor a partial one

    piped = raw(review_server, "erin", "docs", "get", doc["id"], "-o", "-")
    assert piped.returncode == INTEGRITY
    assert len(piped.stderr.splitlines()) == 1
    assert len(piped.stdout) < len(content)  # what came before the failure; the status says so


# -- read -------------------------------------------------------------------------------------


def test_read_prints_text_and_refuses_binary(review_server: ReviewServer) -> None:
    text = "Notes from the meeting at the café.\n\tSecond line.\n"
    doc = upload(review_server, text.encode(), filename="notes.txt")
    assert review_server.ok("jules", "docs", "read", doc["id"][:8]) == text

    binary = b"PK\x03\x04\x00\x00 archive \x00\x01"  # valid UTF-8, but with NUL bytes
    doc = upload(review_server, binary, filename="a.zip", media_type="application/zip")
    refused, forced = in_parallel(
        review_server,
        ("jules", ["docs", "read", doc["id"]]),
        ("jules", ["docs", "read", doc["id"], "--force"]),
    )
    assert refused.returncode == FAILED
    assert refused.stderr.startswith(f"vault: error: document {doc['id'][:8]} is not text")
    assert "--force" in refused.stderr
    assert refused.stdout == ""
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout == binary.decode()  # without a terminal, the content as it is


def test_read_refuses_content_that_is_not_utf8(review_server: ReviewServer) -> None:
    doc = upload(review_server, b"\x89PNG\r\n\x1a\n", filename="p.png", media_type="image/png")
    refused = raw(review_server, "jules", "docs", "read", doc["id"])
    assert refused.returncode == FAILED
    assert b"is not text (image/png)" in refused.stderr
    assert refused.stdout == b""


# -- rm ---------------------------------------------------------------------------------------


def test_rm_needs_yes_without_a_terminal_then_shreds(review_server: ReviewServer) -> None:
    doc = upload(review_server, b"to be shredded")
    refused, journalist = in_parallel(
        review_server,
        ("erin", ["docs", "rm", doc["id"]]),  # stdin is /dev/null
        ("jules", ["docs", "rm", doc["id"], "--yes"]),
    )
    assert refused.returncode == USAGE
    assert "--yes" in refused.stderr
    assert journalist.returncode == NOT_FOUND  # editors only; the rest see no such document

    done = review_server.vault("erin", "docs", "rm", doc["id"][:8], "--yes")
    assert done.returncode == 0, done.stderr
    assert f"Deleted document {doc['id']}" in done.stderr
    gone = review_server.vault("erin", "docs", "show", doc["id"])
    assert gone.returncode == NOT_FOUND
    assert gone.stderr.startswith("vault: error: ")


# -- addressing, access, authentication -------------------------------------------------------


def test_log_shows_who_did_what(review_server: ReviewServer) -> None:
    created = upload(review_server, b"minutes of the harbour board\n")
    doc = created["id"]
    review_server.ok("erin", "docs", "read", doc[:8])
    table, as_json, outsider = in_parallel(
        review_server,
        ("erin", ["docs", "log", doc[:8]]),
        ("jules", ["docs", "log", doc, "--json"]),
        ("joan", ["docs", "log", doc]),
    )
    assert table.returncode == 0, table.stderr
    assert "jules" in table.stdout
    assert "erin" in table.stdout
    assert "document.content.read" in table.stdout
    entries = json.loads(as_json.stdout)["entries"]
    assert entries[0]["index"] == created["log_index"]  # the upload's receipt
    pairs = [(e["actor"], e["action"]) for e in entries]
    assert pairs[0] == ("jules", "document.upload")
    assert ("erin", "document.content.read") in pairs
    assert outsider.returncode == NOT_FOUND, outsider.stderr


def test_prefix_errors(review_server: ReviewServer) -> None:
    upload(review_server, b"x")
    taken = case_ids(review_server)
    unknown = next(
        p
        for p in (secrets.token_hex(3) for _ in range(100))
        if not any(i.startswith(p) for i in taken)
    )
    expected = [
        ("abc", USAGE, "the id prefix 'abc' is too short: give at least 4 characters"),
        ("zzzz", USAGE, "'zzzz' is not a document id or a prefix of one"),
        (unknown, NOT_FOUND, f"no document matches '{unknown}'"),
    ]
    runs = in_parallel(review_server, *(("jules", ["docs", "show", ref]) for ref, _, _ in expected))
    for (_, code, message), done in zip(expected, runs, strict=True):
        assert (done.returncode, done.stderr) == (code, f"vault: error: {message}\n")


def test_outsider_gets_not_found(review_server: ReviewServer) -> None:
    doc = upload(review_server, b"for members only")
    runs = in_parallel(
        review_server,
        ("joan", ["docs", "show", doc["id"]]),
        ("joan", ["docs", "get", doc["id"], "-o", "-"]),
        ("joan", ["docs", "read", doc["id"][:8]]),  # a prefix: joan's cases hold no match
    )
    for done in runs:
        assert done.returncode == NOT_FOUND, (done.args, done.stderr)
        assert "for members only" not in done.stdout


def test_not_logged_in_is_an_authentication_error(
    review_server: ReviewServer, tmp_path: Path
) -> None:
    env = review_server.env(None, VAULT_CONFIG_DIR=str(tmp_path))
    done = review_server.vault(None, "docs", "ls", env=env)
    assert done.returncode == AUTH
    assert done.stderr.startswith("vault: error: not logged in")


# -- the resolution rules, against a fake server ----------------------------------------------


class FakeClient:
    """Answers the two listings that resolution uses; counts requests. A server-side session
    (no key of its own: the server's listing is used)."""

    key = None

    def __init__(self, cases: dict[str, list[str]]) -> None:
        self.cases = cases
        self.requests = 0

    def get(self, path: str, **params: Any) -> Any:
        self.requests += 1
        assert path == "/v1/cases"
        return {"cases": [{"id": c, "name": f"case-{c[:4]}"} for c in self.cases]}

    def pages(self, path: str, key: str, **params: Any) -> Any:
        self.requests += 1
        assert (path, key) == ("/v1/documents", "documents")
        if params["case"] == "forbidden":
            raise NotFound("no such case")
        return iter({"id": i} for i in self.cases[params["case"]])


A = "abcd1234-0000-4000-8000-000000000001"
B = "abcd9999-0000-4000-8000-000000000002"
C = "12345678-0000-4000-8000-000000000003"


def test_resolve_document_rules() -> None:
    fake = FakeClient({"c1": [A, C], "c2": [B], "forbidden": []})
    assert lookup.resolve_document(fake, "abcd12") == A  # type: ignore[arg-type]
    assert lookup.resolve_document(fake, "ABCD-99") == B  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="'abcd' matches 2 documents: give more characters"):
        lookup.resolve_document(fake, "abcd")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="no document matches 'ffff'"):
        lookup.resolve_document(fake, "ffff")  # type: ignore[arg-type]
    fake.requests = 0
    assert lookup.resolve_document(fake, C.upper()) == C  # type: ignore[arg-type]
    assert fake.requests == 0  # a full id is used as is


@pytest.mark.parametrize(
    ("stored", "saved"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\notes.txt", "notes.txt"),
        ("..", "fallback"),
        ("", "fallback"),
        (None, "fallback"),
        ("a\x1b[31mred\x00.txt", "a[31mred.txt"),
        (" .hidden ", "hidden"),
    ],
)
def test_safe_filename(stored: str | None, saved: str) -> None:
    assert transfer.safe_filename(stored, "fallback") == saved


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (3 << 20, "3.0 MiB"), (5 << 30, "5.0 GiB")],
)
def test_human_size(size: int, shown: str) -> None:
    assert transfer.human_size(size) == shown
