"""Retention and legal hold from the command line.

``vault retention run`` as an administrator runs it on the server: the console script's entry
point (in this process) on a data directory (like ``vault users``). ``vault cases
set|close|reopen`` and ``vault hold`` go through the HTTP API, against the shared live ``vault
serve`` (``review_server``), each test on a case of its own.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlmodel import select

from tests.cli.conftest import ReviewServer
from tests.cli.test_cases_cli import new_case
from tests.cli.test_users_cli import PASSPHRASE, Admin
from tests.support.cli import FAILED, NOT_FOUND, USAGE, assert_error
from vault.services.cases import Retention
from vault.services.documents import NewDocument
from vault.storage.models import AuditEntry, Document

# -- vault retention run, on the data directory ------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Admin:
    """The server's data directory, which the administrator works on."""
    return Admin.initialised(tmp_path_factory.mktemp("retention-cli"))


def _case_with_documents(server: Admin, count: int) -> tuple[str, list[uuid.UUID]]:
    """A new case whose ``count`` documents are all due: retention until closed, closed."""
    vault = server.vault()
    try:
        admin = vault.auth.login("admin", PASSPHRASE, None, address="127.0.0.1").actor
        name = f"case-{uuid.uuid4().hex[:8]}"
        case = vault.cases.create(admin, name)
        vault.cases.add_member(admin, case.id, "admin")  # the founding member: a reader
        docs = [
            vault.documents.add(
                admin, case_id=case.id, content=[b"x" * 100], document=NewDocument(title="t")
            ).id
            for _ in range(count)
        ]
        vault.cases.update(admin, case.id, retention=Retention(0, "close"), closed=True)
        return name, docs
    finally:
        vault.close()


def _exists(server: Admin, doc_id: uuid.UUID) -> bool:
    vault = server.vault()
    try:
        with vault.session() as db:
            return db.get(Document, doc_id) is not None
    finally:
        vault.close()


def _actions(server: Admin) -> list[dict[str, Any]]:
    vault = server.vault()
    try:
        with vault.session() as db:
            return [json.loads(e.leaf) for e in db.exec(select(AuditEntry))]
    finally:
        vault.close()


def test_a_dry_run_lists_what_is_due_and_deletes_nothing(server: Admin) -> None:
    name, docs = _case_with_documents(server, 2)
    before = len(_actions(server))
    table = server.run("retention", "run", "--data-dir", server.data_dir, "--dry-run")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:3] == ["DOCUMENT", "CASE", "DUE"]
    for doc in docs:
        row = next(line for line in table.stdout.splitlines() if str(doc) in line)
        assert name in row
        assert row.split()[-1] == "due"
    assert "Dry run: 2 document(s) would be deleted, 0 held; nothing was changed." in (
        " ".join(table.stderr.split())
    )
    assert all(_exists(server, d) for d in docs)
    assert len(_actions(server)) == before  # a dry run records nothing


def test_a_run_shreds_what_is_due_keeps_what_is_held_and_says_so(server: Admin) -> None:
    name, (kept, gone) = _case_with_documents(server, 2)
    vault = server.vault()
    try:
        admin = vault.auth.login("admin", PASSPHRASE, None, address="127.0.0.1").actor
        vault.holds.set_document(admin, kept, held=True)
    finally:
        vault.close()
    done = server.run("retention", "run", "--data-dir", server.data_dir, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    mine = {d["document"]: d for d in report["documents"] if d["case_name"] == name}
    assert {k: d["outcome"] for k, d in mine.items()} == {str(kept): "held", str(gone): "deleted"}
    assert set(mine[str(gone)]) == {
        "document", "case", "case_name", "uploaded_at", "due_at", "outcome",
    }  # fmt: skip
    assert report["dry_run"] is False
    assert _exists(server, kept)
    assert not _exists(server, gone)
    [entry] = [e for e in _actions(server) if e["targets"].get("document") == str(gone)][-1:]
    assert (entry["action"], entry["actor"]) == ("retention.delete", "system")
    again = server.run("retention", "run", "--data-dir", server.data_dir)
    assert again.returncode == 0, again.stderr
    assert str(gone) not in again.stdout


def test_a_run_on_a_directory_without_a_vault_is_one_line(server: Admin) -> None:
    done = server.run("retention", "run", "--data-dir", server.root / "nowhere")
    assert "no vault in" in assert_error(done, NOT_FOUND)


# -- vault cases set|close|reopen and vault hold, over HTTP ------------------------------------


def test_an_administrator_sets_retention_and_closes_a_case(review_server: ReviewServer) -> None:
    case_id, name = new_case(review_server, "erin")
    done = review_server.vault("admin", "cases", "set", name, "--retain-days", "30", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["retention"], answer["due_now"]) == ({"days": 30, "start": "upload"}, 0)
    assert "30 day(s) after each upload" in done.stderr
    review_server.ok("admin", "cases", "set", name, "--retain-until-closed", "--retain-days", "7")
    shown = review_server.ok("erin", "cases", "show", name)
    assert "retention:  until the case is closed, then 7 day(s)" in shown
    assert "state:      open" in shown
    closed = review_server.vault("admin", "cases", "close", name)
    assert closed.returncode == 0, closed.stderr
    assert f"Case {name} is closed since" in closed.stderr
    assert "state:      closed" in review_server.ok("erin", "cases", "show", name)
    reopened = review_server.vault("admin", "cases", "reopen", case_id)
    assert reopened.returncode == 0, reopened.stderr
    review_server.ok("admin", "cases", "set", name, "--no-retention")
    assert "none (kept until deleted)" in review_server.ok("erin", "cases", "show", name)


def test_retention_options_are_checked_and_for_administrators(
    review_server: ReviewServer,
) -> None:
    _, name = new_case(review_server, "erin")
    refused = review_server.vault("erin", "cases", "set", name, "--retain-days", "30")
    assert "administrator's login session" in assert_error(refused, NOT_FOUND)
    for args in (
        [],
        ["--no-retention", "--retain-days", "3"],
        ["--retain-days", "0"],  # from the upload: at least a day
        ["--retain-days", "36501"],
    ):
        assert_error(review_server.vault("admin", "cases", "set", name, *args), USAGE)


def test_editors_hold_and_release_and_a_held_document_cannot_be_removed(
    review_server: ReviewServer,
) -> None:
    case_id, name = new_case(review_server, "erin")
    with review_server.live.client(headers=review_server.live.auth("erin")) as erin:
        stored = erin.post(
            "/v1/documents",
            data={"case": case_id, "title": "held minutes"},
            files={"file": ("m.txt", b"minutes", "text/plain")},
        )
        assert stored.status_code == 201, stored.text
    doc = stored.json()["id"]
    held = review_server.vault("erin", "hold", "set", "--case", name, "--json")
    assert held.returncode == 0, held.stderr
    assert json.loads(held.stdout)["target"] == "case"
    assert f"The case {name} is under legal hold since" in held.stderr
    again = review_server.vault("erin", "hold", "set", "--case", name)
    assert "is already under legal hold" in again.stderr
    removed = review_server.vault("erin", "docs", "rm", doc, "--yes")
    assert "legal hold" in assert_error(removed, FAILED)
    review_server.ok("admin", "hold", "set", "--doc", doc)
    review_server.ok("erin", "hold", "release", "--case", name)
    assert "legal hold" in assert_error(
        review_server.vault("erin", "docs", "rm", doc, "--yes"), FAILED
    )
    released = review_server.vault("erin", "hold", "release", "--doc", doc)
    assert released.returncode == 0, released.stderr
    assert "is not under legal hold." in released.stderr
    review_server.ok("erin", "docs", "rm", doc, "--yes")
    outsider = review_server.vault("jules", "hold", "set", "--case", case_id)
    assert "editors of the case and administrators" in assert_error(outsider, NOT_FOUND)
    assert_error(review_server.vault("erin", "hold", "set"), USAGE)
    assert_error(review_server.vault("erin", "hold", "set", "--case", name, "--doc", doc), USAGE)
