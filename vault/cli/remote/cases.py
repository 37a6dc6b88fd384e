"""``vault cases``: Cases and their members.

Everyone lists and inspects the cases they belong to (administrators see every case); creating
cases and changing who belongs to them is for administrators, at a login session. The server
decides: to anyone else it answers as if the case did not exist, and this module only adds a
hint saying why.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from vault.cli.output import AsJson, emit, emit_one, say, when
from vault.cli.remote.client_grants import complete_pending
from vault.cli.remote.lookup import resolve_case
from vault.cli.remote.session import ProfileOpt, open_client
from vault.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from vault.cli.client import Client

__all__ = ["app"]

app = typer.Typer(help="Cases and their members.", no_args_is_help=True)

CaseArg = Annotated[
    str,
    typer.Argument(metavar="CASE", help="The case's id or name.", show_default=False),
]
UserArg = Annotated[
    str,
    typer.Argument(metavar="USER", help="The member's username.", show_default=False),
]


def _admin_hint(client: Client, refused: NotFound) -> NotFound:
    """The server's 404 for case management, with the likely reason when the caller is not an
    administrator (the server does not say, so that refusal looks like absence)."""
    try:
        role = client.get("/v1/auth/me").get("role")
    except NotFound:
        role = None  # an API token: it cannot manage cases either
    if role == "admin":
        return refused
    return NotFound(f"{refused} (managing cases takes an administrator's login session)")


@app.command("ls")
def ls(as_json: AsJson = False, profile: ProfileOpt = None) -> None:
    """List the cases you belong to (administrators: every case), by name.

    With --json: {"cases": [{"id", "name", "created_at", "members"}, ...]} as the server
    answers (members is null in listings; see `vault cases show`).
    """
    with open_client(profile) as client:
        cases: list[dict[str, Any]] = client.get("/v1/cases")["cases"]
    rows = [{**c, "created": when(c["created_at"])} for c in cases]
    emit(
        cases if as_json else rows,
        [("name", "NAME"), ("id", "ID"), ("created", "CREATED (UTC)")],
        as_json=as_json,
        key="cases",
        empty="You belong to no case yet.",
    )


@app.command("show")
def show(case: CaseArg, as_json: AsJson = False, profile: ProfileOpt = None) -> None:
    """Show a case and its members.

    With --json: {"id", "name", "created_at", "members": [usernames]} as the server answers.
    """
    with open_client(profile) as client:
        answer: dict[str, Any] = client.get(f"/v1/cases/{resolve_case(client, case)['id']}")
    if as_json:
        emit_one(answer, [], as_json=True)
        return
    view = {**answer, **_lifecycle(answer), "created_at": f"{when(answer['created_at'])} UTC"}
    emit_one(
        view,
        [
            ("name", "name"),
            ("id", "id"),
            ("created_at", "created"),
            ("members", "members"),
            ("retention_text", "retention"),
            ("state", "state"),
            ("hold_text", "legal hold"),
        ],
        as_json=False,
    )


def retention_text(retention: dict[str, Any] | None) -> str:
    """A case's retention period in words."""
    if retention is None:
        return "none (kept until deleted)"
    days = retention["days"]
    if retention["start"] == "upload":
        return f"{days} day(s) after each upload"
    return "until the case is closed" + (f", then {days} day(s)" if days else "")


def _lifecycle(answer: dict[str, Any]) -> dict[str, str]:
    closed = answer.get("closed_at")
    held = answer.get("held_at")
    return {
        "retention_text": retention_text(answer.get("retention")),
        "state": f"closed {when(closed)} UTC" if closed else "open",
        "hold_text": f"held since {when(held)} UTC" if held else "none",
    }


@app.command("create")
def create(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="A code name: case names are stored in the clear.",
            show_default=False,
        ),
    ],
    as_json: AsJson = False,
    profile: ProfileOpt = None,
) -> None:
    """Create a case (administrators). Prints its id.

    Case names are not encrypted: use a code name, not what the investigation is about.
    """
    with open_client(profile) as client:
        try:
            answer: dict[str, Any] = client.post("/v1/cases", {"name": name})
        except NotFound as refused:
            raise _admin_hint(client, refused) from None
    if as_json:
        emit_one(answer, [], as_json=True)
    else:
        typer.echo(answer["id"])
    say(
        f"Created case [bold]{escape(answer['name'])}[/]. Add members with "
        f"`vault cases add-member {escape(answer['name'])} USER`."
    )


@app.command("add-member")
def add_member(case: CaseArg, user: UserArg, profile: ProfileOpt = None) -> None:
    """Add a member to a case (administrators).

    The new member is given no key of the case until a member who can read it approves them
    (`vault cases approve`): adding someone, yourself included, does not make them a reader.
    The first member of a case that holds nothing yet is approved by being added.
    """
    with open_client(profile) as client:
        target = resolve_case(client, case)
        try:
            answer = client.request(
                "POST", f"/v1/cases/{target['id']}/members", json={"username": user}
            )
        except NotFound as refused:
            raise _admin_hint(client, refused) from None
    if answer.headers.get("vault-member-approval") == "founding":
        say(
            f"Added {escape(user)} to case [bold]{escape(target['name'])}[/] as its first "
            "member: they read what is stored in it from now on."
        )
        return
    say(
        f"Added {escape(user)} to case [bold]{escape(target['name'])}[/]. They read nothing of "
        f"it until a member approves them: `vault cases approve {escape(target['name'])} "
        f"{escape(user)}`."
    )


@app.command("approvals")
def approvals(case: CaseArg, as_json: AsJson = False, profile: ProfileOpt = None) -> None:
    """List the members of a case awaiting approval, with who added them and when.

    With --json: {"awaiting": [{"username", "added_by", "added_at", "enrolled", "documents"}]}.
    """
    with open_client(profile) as client:
        target = resolve_case(client, case)
        rows: list[dict[str, Any]] = client.get(f"/v1/cases/{target['id']}/approvals")["awaiting"]
    view = [{**r, "added": when(r["added_at"]), "by": r["added_by"] or "?"} for r in rows]
    emit(
        rows if as_json else view,
        [("username", "USER"), ("by", "ADDED BY"), ("added", "ADDED (UTC)")],
        as_json=as_json,
        key="awaiting",
        empty="Nobody is awaiting approval in this case.",
    )


@app.command("approve")
def approve(
    case: CaseArg,
    user: UserArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    profile: ProfileOpt = None,
) -> None:
    """Approve a member awaiting approval: they will read every document of the case.

    Only a member who can read the case decides. Shows who added them and when, and asks for
    confirmation unless --yes (required when standard input is not a terminal). The keys you
    hold are wrapped for them at once; the decision is recorded in the access log.
    """
    with open_client(profile) as client:
        target = resolve_case(client, case)
        awaiting = client.get(f"/v1/cases/{target['id']}/approvals")["awaiting"]
        entry = next((a for a in awaiting if a["username"] == user), None)
        if entry is None:
            raise NotFound(
                f"{user} is not awaiting approval in this case (see `vault cases approvals`)"
            )
        if not yes:
            if not sys.stdin.isatty():
                raise InvalidInput("refusing to approve without confirmation: pass --yes")
            question = (
                f"{user} was added to {target['name']} by {entry['added_by'] or 'an unknown user'}"
                f" on {when(entry['added_at'])} UTC. Let them read its {entry['documents']} "
                "document(s) and everything stored in it from now on?"
            )
            if not typer.confirm(question, default=False, err=True):
                say("Nothing was changed.")
                raise typer.Exit(1)
        answer: dict[str, Any] = client.post(
            f"/v1/cases/{target['id']}/approvals", {"username": user}
        )
        # In an end-to-end session the server holds no key to wrap with: this machine does.
        wrapped = answer["keys_wrapped"] + complete_pending(client)
    say(
        f"Approved {escape(user)} in case [bold]{escape(target['name'])}[/]: "
        f"{wrapped} document key(s) wrapped for them now."
    )


@app.command("remove-member")
def remove_member(
    case: CaseArg,
    user: UserArg,
    sources_to: Annotated[
        str | None,
        typer.Option(
            "--sources-to",
            metavar="USER|recovery",
            help="Who takes the sources the member handles in the case: an approved member "
            "(their copy of each key waits for the recovery key holders: `vault recover "
            "handovers`), or `recovery` to leave them to the recovery key alone. Required if "
            "the member handles any; better still, have them hand each over first with "
            "`vault sources handover`.",
        ),
    ] = None,
    as_json: AsJson = False,
    profile: ProfileOpt = None,
) -> None:
    """Remove a member from a case (administrators).

    Their keys for the case's documents, and for the sources they handle in it, are deleted;
    what they already read cannot be taken back.
    """
    body: dict[str, Any] = {"username": user}
    if sources_to is not None:
        body["sources_to"] = sources_to
    with open_client(profile) as client:
        target = resolve_case(client, case)
        try:
            # The username goes in the body, not the path: it is not ours to trust as a path.
            answer = client.request("DELETE", f"/v1/cases/{target['id']}/members", json=body).json()
        except NotFound as refused:
            raise _admin_hint(client, refused) from None
    if as_json:
        emit_one(answer, [], as_json=True)
    say(f"Removed {escape(user)} from case [bold]{escape(target['name'])}[/].")
    for moved in answer["sources"]:
        if moved["handler"] is None:
            say(f"Source {moved['pseudonym']} is left to the recovery key alone.")
        else:
            say(
                f"Source {moved['pseudonym']} goes to {escape(moved['handler'])}"
                + (
                    ": their copy of its key waits for the recovery key holders "
                    "(`vault recover handovers`)."
                    if moved["awaiting_recovery"]
                    else "."
                )
            )


def _update(client: Client, case: str, body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    target = resolve_case(client, case)
    try:
        answer = client.request("PATCH", f"/v1/cases/{target['id']}", json=body).json()
    except NotFound as refused:
        raise _admin_hint(client, refused) from None
    return target, answer


def _due_warning(answer: dict[str, Any]) -> None:
    if answer.get("due_now"):
        say(
            f"[bold]{answer['due_now']} document(s) of this case are due now[/]: the next "
            "retention run deletes them (`vault retention run --dry-run` on the server lists "
            "them; a legal hold keeps them: `vault hold set --case CASE`)."
        )


@app.command("set")
def set_retention(
    case: CaseArg,
    retain_days: Annotated[
        int | None,
        typer.Option(
            "--retain-days",
            metavar="N",
            min=0,
            help="Delete each document N days after its upload; with --retain-until-closed, "
            "N days after the case is closed.",
        ),
    ] = None,
    until_closed: Annotated[
        bool,
        typer.Option(
            "--retain-until-closed",
            help="Keep everything while the case is open; delete it when the case is closed "
            "(plus --retain-days N of grace).",
        ),
    ] = False,
    no_retention: Annotated[
        bool, typer.Option("--no-retention", help="Keep documents until someone deletes them.")
    ] = False,
    as_json: AsJson = False,
    profile: ProfileOpt = None,
) -> None:
    """Set a case's retention period (administrators).

    When a document is due, `vault retention run` on the server crypto-shreds it, unless the
    case or the document is under legal hold. Says how many documents are due at once.
    """
    if no_retention and (until_closed or retain_days is not None):
        raise InvalidInput("--no-retention cannot be combined with a retention period")
    if not no_retention and not until_closed and retain_days is None:
        raise InvalidInput("say --retain-days N, --retain-until-closed or --no-retention")
    body: dict[str, Any] = {"retain_days": None}
    if not no_retention:
        body = {
            "retain_days": retain_days or 0,
            "retain_from": "close" if until_closed else "upload",
        }
    with open_client(profile) as client:
        target, answer = _update(client, case, body)
    if as_json:
        emit_one(answer, [], as_json=True)
    say(
        f"Retention of case [bold]{escape(target['name'])}[/]: "
        f"{retention_text(answer['retention'])}."
    )
    _due_warning(answer)


@app.command("close")
def close(case: CaseArg, as_json: AsJson = False, profile: ProfileOpt = None) -> None:
    """Close a case (administrators): with retention until closed, its documents become due
    (after the grace period, if any). Closing adds no other restriction."""
    with open_client(profile) as client:
        target, answer = _update(client, case, {"closed": True})
    if as_json:
        emit_one(answer, [], as_json=True)
    say(f"Case [bold]{escape(target['name'])}[/] is closed since {when(answer['closed_at'])} UTC.")
    _due_warning(answer)


@app.command("reopen")
def reopen(case: CaseArg, as_json: AsJson = False, profile: ProfileOpt = None) -> None:
    """Reopen a closed case (administrators): retention until closed waits again."""
    with open_client(profile) as client:
        target, answer = _update(client, case, {"closed": False})
    if as_json:
        emit_one(answer, [], as_json=True)
    say(f"Case [bold]{escape(target['name'])}[/] is open.")
