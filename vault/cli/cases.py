"""``vault cases``: Cases and their members.

Everyone lists and inspects the cases they belong to (administrators see every case); creating
cases and changing who belongs to them is for administrators, at a login session. The server
decides: to anyone else it answers as if the case did not exist, and this module only adds a
hint saying why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from vault.cli.lookup import resolve_case
from vault.cli.output import AsJson, emit, emit_one, say, when
from vault.cli.session import ProfileOpt, open_client
from vault.errors import NotFound

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
    view = {**answer, "created_at": f"{when(answer['created_at'])} UTC"}
    emit_one(
        view,
        [("name", "name"), ("id", "id"), ("created_at", "created"), ("members", "members")],
        as_json=False,
    )


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

    Documents stored from now on are readable by the new member at once. Older ones stay
    pending for them until a current member's next action grants them the key: the server
    holds no key that could do it.
    """
    with open_client(profile) as client:
        target = resolve_case(client, case)
        try:
            client.post(f"/v1/cases/{target['id']}/members", {"username": user})
        except NotFound as refused:
            raise _admin_hint(client, refused) from None
    say(
        f"Added {escape(user)} to case [bold]{escape(target['name'])}[/]. Documents already in "
        "the case stay pending for them until a member's next action grants them."
    )


@app.command("remove-member")
def remove_member(case: CaseArg, user: UserArg, profile: ProfileOpt = None) -> None:
    """Remove a member from a case (administrators).

    Their keys for the case's documents are deleted; what they already read cannot be taken
    back.
    """
    with open_client(profile) as client:
        target = resolve_case(client, case)
        try:
            # The username goes in the body, not the path: it is not ours to trust as a path.
            client.delete(f"/v1/cases/{target['id']}/members", {"username": user})
        except NotFound as refused:
            raise _admin_hint(client, refused) from None
    say(f"Removed {escape(user)} from case [bold]{escape(target['name'])}[/].")
