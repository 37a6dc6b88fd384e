"""``vault sources``: the console script's entry point against the shared live ``vault serve``.

jules records sources in ``harbour-contracts`` (so jules is their handler), erin is a fellow
member who may list them but not read who they are, joan is outside the case and admin is in
no case at all. Identity notes only ever go in through a file or standard input, and every
reading is in the access log with its reason.
"""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import ReviewServer, in_parallel
from tests.support.cli import NOT_FOUND, USAGE, assert_error, run_vault, vault_env

CASE_NAME = "harbour-contracts"


SOURCE_FIELDS = {
    "id",
    "case",
    "pseudonym",
    "handler",
    "handover_pending",
    "has_identity_notes",
    "created_at",
}


def recorded(server: ReviewServer, notes: str | None) -> dict[str, Any]:
    """A source in the shared case handled by jules, recorded over HTTP (fast)."""
    with server.live.client(headers=server.live.auth("jules")) as client:
        made = client.post("/v1/sources", json={"case": server.case_id, "notes": notes})
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    return answer


def access_log(server: ReviewServer) -> list[dict[str, Any]]:
    """The access log, read as the server's administrator does: ``vault audit log`` on the data
    directory (here, by the test process itself)."""
    done = run_vault(
        "audit", "log", "--data-dir", server.live.data_dir, "--json",
        cwd=server.root, env=vault_env(columns=None), in_process=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    entries: list[dict[str, Any]] = json.loads(done.stdout)["entries"]
    return entries


@pytest.fixture
def notes_file(tmp_path: Path) -> tuple[Path, str]:
    notes = f"Dock worker at berth {secrets.token_hex(2)}; meets at the ferry café.\nPhone: none.\n"
    path = tmp_path / "identity.txt"
    path.write_text(notes, encoding="utf-8")
    return path, notes


def test_add_from_a_file_then_list_as_table_and_json(
    review_server: ReviewServer, notes_file: tuple[Path, str]
) -> None:
    path, notes = notes_file
    done = review_server.vault("jules", "sources", "add", "--case", CASE_NAME, "--notes-file", path)
    assert done.returncode == 0, done.stderr
    source_id, pseudonym = done.stdout.split()
    assert str(uuid.UUID(source_id)) == source_id
    assert pseudonym in done.stderr
    assert "handler" in done.stderr
    assert notes not in done.stdout + done.stderr
    assert f"delete {path}" in done.stderr  # the plaintext file is the user's to get rid of

    table, as_json, everywhere = in_parallel(
        review_server,
        ("erin", ["sources", "ls", "--case", CASE_NAME]),
        ("erin", ["sources", "ls", "--case", review_server.case_id, "--json"]),
        ("jules", ["sources", "ls"]),
    )
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:2] == ["PSEUDONYM", "ID"]
    row = next(line for line in table.stdout.splitlines() if pseudonym in line)
    assert source_id in row
    assert "yes" in row  # it has identity notes
    sources = json.loads(as_json.stdout)["sources"]
    mine = next(s for s in sources if s["id"] == source_id)
    assert set(mine) == SOURCE_FIELDS
    assert (mine["pseudonym"], mine["case"]) == (pseudonym, review_server.case_id)
    assert mine["has_identity_notes"] is True
    assert everywhere.returncode == 0, everywhere.stderr
    assert "CASE" in everywhere.stdout.splitlines()[0]  # without --case: the case is named
    row = next(line for line in everywhere.stdout.splitlines() if pseudonym in line)
    assert CASE_NAME in row
    assert "you" in row.split()  # jules is the handler
    assert notes.splitlines()[0] not in table.stdout + as_json.stdout + everywhere.stdout


def test_reveal_is_for_the_handler_and_logs_the_reason(review_server: ReviewServer) -> None:
    notes = f"Harbour master's deputy {secrets.token_hex(3)}\n  reachable via Signal\n"
    done = review_server.vault(
        "jules", "sources", "add", "--case", review_server.case_id, "--notes-file", "-",
        stdin=notes,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    source_id, pseudonym = done.stdout.split()
    reason = f"verify the contract leak with the source {secrets.token_hex(3)}"

    shown, by_pseudonym, by_prefix, colleague, outsider, admin = in_parallel(
        review_server,
        ("jules", ["sources", "reveal", source_id, "--reason", reason]),
        ("jules", ["sources", "reveal", pseudonym, "--reason", "second look"]),
        ("jules", ["sources", "reveal", source_id[:8], "--reason", "third look"]),
        ("erin", ["sources", "reveal", source_id, "--reason", "curious"]),
        ("joan", ["sources", "reveal", source_id, "--reason", "curious"]),
        ("admin", ["sources", "reveal", source_id, "--reason", "curious"]),
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == notes  # exactly the notes, on stdout
    assert "access log" in shown.stderr
    assert "reason" in shown.stderr
    assert notes not in shown.stderr
    assert by_pseudonym.stdout == notes
    assert by_prefix.stdout == notes
    # A fellow member, an outsider and the administrator: as if the source did not exist.
    for refused in (colleague, outsider, admin):
        assert_error(refused, NOT_FOUND)
        assert notes.splitlines()[0] not in refused.stdout + refused.stderr

    readings = [
        e
        for e in access_log(review_server)
        if e["action"] == "source.identity.read" and e["targets"].get("source") == source_id
    ]
    assert [e["reason"] for e in readings if e["reason"] == reason] == [reason]
    assert {e["actor_name"] for e in readings} == {"jules"}
    assert len(readings) == 3  # the refused attempts read nothing
    assert all(e["targets"]["case"] == review_server.case_id for e in readings)


def test_reveal_without_notes_and_bad_reasons(review_server: ReviewServer) -> None:
    bare = recorded(review_server, None)
    empty, short, unknown, too_short_prefix = in_parallel(
        review_server,
        ("jules", ["sources", "reveal", bare["id"], "--reason", "checking the record"]),
        ("jules", ["sources", "reveal", bare["id"], "--reason", "x"]),
        ("jules", ["sources", "reveal", "velvet-unicorn-00", "--reason", "checking"]),
        ("jules", ["sources", "reveal", "ab", "--reason", "checking"]),
    )
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout == ""
    assert "No identity notes" in empty.stderr
    assert "--reason" in assert_error(short, USAGE)
    assert_error(unknown, NOT_FOUND)
    assert_error(too_short_prefix, USAGE)


def test_add_refuses_empty_or_missing_notes_and_outsiders(
    review_server: ReviewServer, tmp_path: Path
) -> None:
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n", encoding="utf-8")
    empty, missing, outsider, admin, unknown = in_parallel(
        review_server,
        ("jules", ["sources", "add", "--case", CASE_NAME, "--notes-file", str(blank)]),
        ("jules", ["sources", "add", "--case", CASE_NAME, "--notes-file", str(tmp_path / "no")]),
        ("joan", ["sources", "add", "--case", review_server.case_id]),
        ("admin", ["sources", "add", "--case", CASE_NAME]),
        ("jules", ["sources", "add", "--case", "no-such-case"]),
    )
    assert "empty" in assert_error(empty, USAGE)
    assert "cannot read" in assert_error(missing, USAGE)
    for refused in (outsider, admin, unknown):
        assert_error(refused, NOT_FOUND)


def test_add_without_notes_and_json(review_server: ReviewServer) -> None:
    answer = json.loads(review_server.ok("erin", "sources", "add", "--case", CASE_NAME, "--json"))
    assert answer["has_identity_notes"] is False
    assert answer["case"] == review_server.case_id
    assert set(answer) == SOURCE_FIELDS


def test_admin_lists_no_sources_of_cases_they_are_not_in(review_server: ReviewServer) -> None:
    recorded(review_server, None)
    every, named = in_parallel(
        review_server,
        ("admin", ["sources", "ls", "--json"]),
        ("admin", ["sources", "ls", "--case", CASE_NAME]),
    )
    assert every.returncode == 0, every.stderr
    assert review_server.case_id not in {s["case"] for s in json.loads(every.stdout)["sources"]}
    assert_error(named, NOT_FOUND)
    table = review_server.vault("admin", "sources", "ls")
    assert table.returncode == 0, table.stderr
    assert "not a member" in table.stderr
