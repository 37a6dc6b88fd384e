"""``vault cases``: the console script's entry point against the shared live ``vault serve``, as the
administrator (admin, in no case), the case's editor (erin) and journalist (jules), and an
outsider (joan).

The tests that change membership make cases of their own with unique names: the server, and
``harbour-contracts`` with it, is shared by the whole session.
"""

from __future__ import annotations

import json
import secrets
import uuid

from tests.cli.conftest import ReviewServer, in_parallel
from tests.support.cli import FAILED, NOT_FOUND, USAGE, assert_error

CASE_NAME = "harbour-contracts"
LIFECYCLE = {"retention", "closed_at", "held_at"}  # retention and legal hold


def new_case(server: ReviewServer, *members: str) -> tuple[str, str]:
    """(id, name) of a new case with ``members``, made over HTTP to keep the tests fast."""
    name = f"case-{secrets.token_hex(4)}"
    with server.live.client(headers=server.live.auth("admin")) as admin:
        made = admin.post("/v1/cases", json={"name": name})
        assert made.status_code == 201, made.text
        case_id: str = made.json()["id"]
        for member in members:
            added = admin.post(f"/v1/cases/{case_id}/members", json={"username": member})
            assert added.status_code == 204, added.text
    if len(members) > 1:  # the first member is approved by being added; they approve the rest
        with server.live.client(headers=server.live.auth(members[0])) as first:
            for member in members[1:]:
                approved = first.post(f"/v1/cases/{case_id}/approvals", json={"username": member})
                assert approved.status_code == 200, approved.text
    return case_id, name


def members(server: ReviewServer, case_id: str) -> list[str]:
    shown = json.loads(server.ok("admin", "cases", "show", case_id, "--json"))
    found: list[str] = shown["members"]
    return found


def test_ls_prints_a_table_and_json_of_your_cases(review_server: ReviewServer) -> None:
    table, as_json, outsider, admin = in_parallel(
        review_server,
        ("erin", ["cases", "ls"]),
        ("erin", ["cases", "ls", "--json"]),
        ("joan", ["cases", "ls", "--json"]),
        ("admin", ["cases", "ls", "--json"]),
    )
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header[:2] == ["NAME", "ID"]
    row = next(line for line in table.stdout.splitlines() if CASE_NAME in line)
    assert review_server.case_id in row  # the full id, to copy
    cases = json.loads(as_json.stdout)["cases"]
    mine = next(c for c in cases if c["name"] == CASE_NAME)
    assert set(mine) == {"id", "name", "created_at", "members", *LIFECYCLE}  # the API's names
    assert mine["id"] == review_server.case_id
    assert CASE_NAME not in {c["name"] for c in json.loads(outsider.stdout)["cases"]}
    # The administrator sees every case, though a member of none.
    assert CASE_NAME in {c["name"] for c in json.loads(admin.stdout)["cases"]}


def test_show_by_name_or_id_lists_the_members(review_server: ReviewServer) -> None:
    by_name, by_id, folded = in_parallel(
        review_server,
        ("jules", ["cases", "show", CASE_NAME]),
        ("erin", ["cases", "show", review_server.case_id, "--json"]),
        ("erin", ["cases", "show", CASE_NAME.upper()]),  # a unique case-insensitive match
    )
    assert by_name.returncode == 0, by_name.stderr
    lines = dict(line.split(":", 1) for line in by_name.stdout.splitlines())
    assert lines["id"].strip() == review_server.case_id
    shown = {m.strip() for m in lines["members"].split(",")}
    assert {"erin", "jules"} <= shown
    assert not {"joan", "admin"} & shown
    answer = json.loads(by_id.stdout)
    assert answer["name"] == CASE_NAME
    assert {"erin", "jules"} <= set(answer["members"])
    assert folded.returncode == 0, folded.stderr
    assert review_server.case_id in folded.stdout


def test_unknown_ambiguous_and_outside_cases(review_server: ReviewServer) -> None:
    suffix = secrets.token_hex(3)
    for name in (f"Twin-{suffix}", f"twin-{suffix}"):
        review_server.ok("admin", "cases", "create", name)
    unknown, ambiguous, exact, by_name, by_id = in_parallel(
        review_server,
        ("erin", ["cases", "show", "no-such-case"]),
        ("admin", ["cases", "show", f"TWIN-{suffix}"]),
        ("admin", ["cases", "show", f"twin-{suffix}", "--json"]),
        ("joan", ["cases", "show", CASE_NAME]),
        ("joan", ["cases", "show", review_server.case_id]),
    )
    assert "no case named 'no-such-case'" in assert_error(unknown, NOT_FOUND)
    assert "matches 2 cases" in assert_error(ambiguous, USAGE)
    assert json.loads(exact.stdout)["name"] == f"twin-{suffix}"  # an exact name wins
    # An outsider cannot tell a case they are not in from one that does not exist.
    assert_error(by_name, NOT_FOUND)
    assert_error(by_id, NOT_FOUND)


def test_admin_creates_a_case_and_manages_its_members(review_server: ReviewServer) -> None:
    name = f"dredging-{secrets.token_hex(4)}"
    created = review_server.vault("admin", "cases", "create", name)
    assert created.returncode == 0, created.stderr
    case_id = created.stdout.strip()
    assert str(uuid.UUID(case_id)) == case_id  # stdout is the id and nothing else
    assert name in created.stderr

    added = review_server.vault("admin", "cases", "add-member", name, "erin")
    assert added.returncode == 0, added.stderr
    assert "Added erin" in added.stderr
    assert "first member" in added.stderr
    awaiting = review_server.vault("admin", "cases", "add-member", name, "jules")
    assert awaiting.returncode == 0, awaiting.stderr
    assert f"vault cases approve {name} jules" in awaiting.stderr
    listed = json.loads(review_server.ok("erin", "cases", "approvals", name, "--json"))
    assert [(a["username"], a["added_by"]) for a in listed["awaiting"]] == [("jules", "admin")]
    unconfirmed, by_jules = in_parallel(
        review_server,
        ("erin", ["cases", "approve", name, "jules"]),  # no terminal to confirm at
        ("jules", ["cases", "approve", name, "jules", "--yes"]),  # awaiting: decides nothing
    )
    assert "--yes" in assert_error(unconfirmed, USAGE)
    assert_error(by_jules, NOT_FOUND)
    approved = review_server.vault("erin", "cases", "approve", name, "jules", "--yes")
    assert approved.returncode == 0, approved.stderr
    assert "Approved jules" in approved.stderr
    none_left = review_server.vault("erin", "cases", "approvals", name)
    assert "Nobody is awaiting" in none_left.stdout + none_left.stderr
    review_server.ok("admin", "cases", "remove-member", name, "jules")
    again, duplicate, erin_sees = in_parallel(
        review_server,
        ("admin", ["cases", "add-member", case_id, "erin"]),
        ("admin", ["cases", "create", name]),
        ("erin", ["cases", "ls", "--json"]),
    )
    assert_error(again, FAILED)  # already a member
    assert_error(duplicate, FAILED)  # a case with that name exists
    assert case_id in {c["id"] for c in json.loads(erin_sees.stdout)["cases"]}
    assert members(review_server, case_id) == ["erin"]

    removed = review_server.vault("admin", "cases", "remove-member", case_id, "erin")
    assert removed.returncode == 0, removed.stderr
    assert "Removed erin" in removed.stderr
    twice, nobody = in_parallel(
        review_server,
        ("admin", ["cases", "remove-member", name, "erin"]),
        ("admin", ["cases", "add-member", name, "nobody-here"]),
    )
    assert_error(twice, NOT_FOUND)
    assert_error(nobody, NOT_FOUND)
    assert members(review_server, case_id) == []


def test_create_json_prints_the_servers_answer(review_server: ReviewServer) -> None:
    name = f"json-{secrets.token_hex(4)}"
    answer = json.loads(review_server.ok("admin", "cases", "create", name, "--json"))
    assert answer["name"] == name
    assert answer["members"] == []
    assert set(answer) == {"id", "name", "created_at", "members", *LIFECYCLE}


def test_non_admins_cannot_manage_cases(review_server: ReviewServer) -> None:
    case_id, name = new_case(review_server, "erin", "jules")
    create, add, remove = in_parallel(
        review_server,
        ("erin", ["cases", "create", f"mine-{secrets.token_hex(4)}"]),
        ("erin", ["cases", "add-member", name, "joan"]),
        ("jules", ["cases", "remove-member", case_id, "erin"]),
    )
    for refused in (create, add, remove):
        line = assert_error(refused, NOT_FOUND)
        assert "administrator" in line  # why, since the server only says "no such case"
    assert members(review_server, case_id) == ["erin", "jules"]
