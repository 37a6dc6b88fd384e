"""Who may do what over the HTTP API: every route against every kind of caller, as one table.

``MATRIX`` below is the specification; ``docs/security-model.md`` ("Authorisation matrix")
renders the same table. The policy it encodes:

- journalists upload into the cases they belong to and read their documents and sources;
- editors do everything in their cases (read, delete, record sources);
- administrators manage cases and memberships but read no document, document metadata or
  source unless they are members of the case (a member administrator is a reader like any
  other member, and may delete);
- a source's identity notes are for its handler (the member who recorded it) only;
- an ``upload`` token may upload and read nothing; a ``read`` token reads what its owner can
  read and changes nothing in the vault; neither may create tokens. Both may look at their own
  account (``/me``, their owner's token list), revoke their owner's tokens and log out;
- no credentials, or a credential that is not valid: 401 problem+json with WWW-Authenticate,
  except on the routes that exist to obtain credentials (enrolment, login) and on the health
  checks, which ignore any ``Authorization`` header;
- anything outside the caller's reach answers exactly like something that does not exist: a
  404 whose problem ``type``, ``title`` and ``status`` equal those of the same request against
  a random id (or, for a route without an id, against a route that does not exist).

Each test shares one vault among many cells; every cell that changes something gets its own
fresh target (a new document to delete, a new user to add), and checks the side effect (or its
absence) as well as the status. Cells are collected, not stopped at the first failure, so a
failing run lists every cell that disagrees with the table.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlmodel import col, func, select

from api import create_app
from tests.api.conftest import ApiWorld
from tests.conftest import PASSPHRASE
from tests.support.sealed_uploads import build_sealed
from vault import crypto, source_record
from vault.clock import system_clock
from vault.redaction import record as redaction_record
from vault.redaction.model import Category, Kind
from vault.services import grants, row_seal_guard, users
from vault.services.document_records import open_metadata
from vault.services.redaction_records import unseal
from vault.settings import Settings
from vault.storage.models import Case, Credential, Document, Redaction, Role, Source, User

# The callers, in the column order of the table.
ACTORS = (
    "admin-out",  # administrator, not a member of the case
    "admin-in",  # administrator, member of the case
    "admin-self",  # administrator who added themselves to the case (awaiting approval)
    "editor-in",  # editor, member
    "editor-out",  # editor, not a member
    "journalist-in",  # journalist, member
    "journalist-out",  # journalist, not a member
    "removed",  # journalist removed from the case (session from before), who handled a source
    "upload-token",  # API token with scope `upload`, of journalist-in
    "read-token",  # API token with scope `read`, of editor-in
    "anonymous",  # no Authorization header
    "bad-token",  # a well-formed bearer token that the vault never issued
)

# Route -> expected status for each caller, in ACTORS order. "@x" after a route names whose
# target the row is about, where a route has more than one row.
# fmt: off
MATRIX: dict[str, str] = {
    #                                                  admin        editor   journalist   token    none
    #                                                  out in  self in out   in out  rm   upl rd   - bad
    "GET /healthz":                                   "200 200 200  200 200  200 200 200  200 200  200 200",
    "GET /readyz":                                    "200 200 200  200 200  200 200 200  200 200  200 200",
    "GET /docs":                                      "200 200 200  200 200  200 200 200  200 200  200 200",
    "GET /docs/assets/{name}":                        "200 200 200  200 200  200 200 200  200 200  200 200",
    "POST /v1/auth/enroll":                           "200 200 200  200 200  200 200 200  200 200  200 200",
    "POST /v1/auth/enroll/confirm":                   "204 204 204  204 204  204 204 204  204 204  204 204",
    "POST /v1/auth/e2e/enroll/start":                 "200 200 200  200 200  200 200 200  200 200  200 200",
    "POST /v1/auth/e2e/enroll":                       "200 200 200  200 200  200 200 200  200 200  200 200",
    "POST /v1/auth/e2e/enroll/confirm":               "204 204 204  204 204  204 204 204  204 204  204 204",
    "POST /v1/auth/login":                            "200 200 200  200 200  200 200 200  200 200  200 200",
    "POST /v1/auth/e2e/params":                       "200 200 200  200 200  200 200 200  200 200  200 200",
    "POST /v1/auth/e2e/challenge":                    "200 200 200  200 200  200 200 200  200 200  200 200",
    "POST /v1/auth/e2e/login":                        "200 200 200  200 200  200 200 200  200 200  200 200",
    "POST /v1/auth/logout":                           "204 204 204  204 204  204 204 204  204 204  401 401",
    "GET /v1/auth/me":                                "200 200 200  200 200  200 200 200  200 200  401 401",
    "POST /v1/me/passphrase":                         "200 200 200  200 200  200 200 200  404 404  401 401",
    "POST /v1/me/passphrase/end-to-end":              "200 200 200  200 200  200 200 200  404 404  401 401",
    "POST /v1/tokens":                                "201 201 201  201 201  201 201 201  404 404  401 401",
    "GET /v1/tokens":                                 "200 200 200  200 200  200 200 200  200 200  401 401",
    "DELETE /v1/tokens/{token_id} @own":              "204 204 204  204 204  204 204 204  204 204  401 401",
    "DELETE /v1/tokens/{token_id} @admin":            "204 404 404  404 404  404 404 404  404 404  401 401",
    "POST /v1/cases":                                 "201 201 201  404 404  404 404 404  404 404  401 401",
    "GET /v1/cases":                                  "200 200 200  200 200  200 200 200  404 200  401 401",
    "GET /v1/cases/{case_id}":                        "200 200 200  200 404  200 404 404  404 200  401 401",
    "PATCH /v1/cases/{case_id}":                      "200 200 200  404 404  404 404 404  404 404  401 401",
    "PUT /v1/cases/{case_id}/hold":                   "200 200 200  200 404  404 404 404  404 404  401 401",
    "DELETE /v1/cases/{case_id}/hold":                "200 200 200  200 404  404 404 404  404 404  401 401",
    "GET /v1/cases/{case_id}/approvals":              "200 200 200  200 404  200 404 404  404 404  401 401",
    "POST /v1/cases/{case_id}/approvals":             "404 200 404  200 404  200 404 404  404 404  401 401",
    "POST /v1/cases/{case_id}/members":               "204 204 204  404 404  404 404 404  404 404  401 401",
    "DELETE /v1/cases/{case_id}/members/{username}":  "200 200 200  404 404  404 404 404  404 404  401 401",
    "DELETE /v1/cases/{case_id}/members":             "200 200 200  404 404  404 404 404  404 404  401 401",
    "POST /v1/sources":                               "404 201 201  201 404  201 404 404  404 404  401 401",
    "GET /v1/sources":                                "404 200 200  200 404  200 404 404  404 200  401 401",
    "GET /v1/sources/{source_id}/identity @jules":    "404 404 404  404 404  200 404 404  404 404  401 401",
    "GET /v1/sources/{source_id}/identity @erin":     "404 404 404  200 404  404 404 404  404 200  401 401",
    "GET /v1/sources/{source_id}/identity @rory":     "404 404 404  404 404  404 404 404  404 404  401 401",
    "POST /v1/sealed-sources":                        "404 201 201  201 404  201 404 404  404 404  401 401",
    "GET /v1/sources/{source_id}/key @jules":         "404 404 404  404 404  200 404 404  404 404  401 401",
    "GET /v1/sources/{source_id}/sealed-identity @jules": "404 404 404  404 404  200 404 404  404 404  401 401",
    "GET /v1/sources/{source_id}/sealed-identity @erin":  "404 404 404  200 404  404 404 404  404 200  401 401",
    "POST /v1/sources/{source_id}/handover @jules":   "404 404 404  404 404  200 404 404  404 404  401 401",
    "POST /v1/documents":                             "404 201 201  201 404  201 404 404  201 404  401 401",
    "GET /v1/documents":                              "404 200 200  200 404  200 404 404  404 200  401 401",
    "GET /v1/documents/{document_id}":                "404 200 200  200 404  200 404 404  404 200  401 401",
    "GET /v1/documents/{document_id}/content":        "404 200 409  200 404  200 404 404  404 200  401 401",
    "GET /v1/documents/{document_id}/sealed":         "404 200 200  200 404  200 404 404  404 200  401 401",
    "GET /v1/cases/{case_id}/sealed-documents":       "404 200 200  200 404  200 404 404  404 200  401 401",
    "GET /v1/grants":                                 "200 200 200  200 200  200 200 200  404 200  401 401",
    "POST /v1/grants":                                "200 200 200  200 200  200 200 200  404 200  401 401",
    "GET /v1/documents/{document_id}/ciphertext":     "404 200 409  200 404  200 404 404  404 200  401 401",
    "DELETE /v1/documents/{document_id}":             "404 204 404  204 404  404 404 404  404 404  401 401",
    "PUT /v1/documents/{document_id}/hold":           "200 200 200  200 404  404 404 404  404 404  401 401",
    "DELETE /v1/documents/{document_id}/hold":        "200 200 200  200 404  404 404 404  404 404  401 401",
    "GET /v1/documents/{document_id}/access-log":     "404 200 200  200 404  200 404 404  404 200  401 401",
    "GET /v1/documents/{document_id}/redactions":     "404 200 409  200 404  404 404 404  404 200  401 401",
    "POST /v1/documents/{document_id}/redactions":    "404 201 409  201 404  404 404 404  404 404  401 401",
    "GET /v1/documents/{document_id}/sealed-redactions": "404 200 409  200 404  404 404 404  404 200  401 401",
    "POST /v1/documents/{document_id}/sealed-redactions": "404 201 409  201 404  404 404 404  404 404  401 401",
    "POST /v1/redactions/{redaction_id}/sealed-review": "404 409 409  200 404  404 404 404  404 404  401 401",
    "POST /v1/documents/{document_id}/redactions/suggest":"404 200 409  200 404  404 404 404  404 404  401 401",
    "GET /v1/documents/{document_id}/text":           "404 200 409  200 404  404 404 404  404 200  401 401",
    "GET /v1/documents/{document_id}/export":         "404 200 409  200 404  404 404 404  404 200  401 401",
    "POST /v1/documents/{document_id}/export":        "404 201 409  201 404  404 404 404  404 404  401 401",
    "POST /v1/documents/{document_id}/sealed-export": "404 201 409  201 404  404 404 404  404 404  401 401",
    "POST /v1/redactions/{redaction_id}/approve":     "404 409 409  200 404  404 404 404  404 404  401 401",
    "POST /v1/redactions/{redaction_id}/reject":      "404 200 409  200 404  404 404 404  404 404  401 401",
    "POST /v1/redactions/{redaction_id}/withdraw":    "404 200 409  200 404  404 404 404  404 404  401 401",
    "POST /v1/redactions/{redaction_id}/withdrawal/approve": "404 409 409  200 404  404 404 404  404 404  401 401",
    "POST /v1/redactions/{redaction_id}/withdrawal/reject":  "404 200 409  200 404  404 404 404  404 404  401 401",
    "GET /v1/audit/checkpoint":                       "200 200 200  200 200  200 200 200  404 200  401 401",
    "GET /v1/audit/key":                              "200 200 200  200 200  200 200 200  404 200  401 401",
    "GET /v1/audit/key/rotations":                    "200 200 200  200 200  200 200 200  404 200  401 401",
    "GET /v1/audit/entries":                          "200 200 200  200 200  404 404 404  404 200  401 401",
    "GET /v1/audit/proof/inclusion":                  "200 200 200  200 200  404 404 404  404 200  401 401",
    "GET /v1/audit/proof/inclusion @upload":          "200 200 200  200 200  200 404 404  404 200  401 401",
    "GET /v1/audit/proof/consistency":                "200 200 200  200 200  200 200 200  404 200  401 401",
    "GET /v1/users/{username}/key":                   "200 200 200  200 200  200 200 200  200 200  401 401",
    "GET /v1/recovery-key":                           "200 200 200  200 200  200 200 200  200 200  401 401",
    "GET /v1/cases/{case_id}/recipients":             "404 200 200  200 404  200 404 404  200 404  401 401",
    "POST /v1/sealed-documents":                      "404 201 201  201 404  201 404 404  201 404  401 401",
}
# fmt: on


PROBLEM = "application/problem+json"
CONTENT = b"statement of the second witness, recorded in person " * 40
TITLE = "Witness statement B"
NOTES = "met at the embassy car park; phone ends 4471"
TOKEN_OWNER = {"upload-token": "jules", "read-token": "erin"}
USERNAMES = {
    "admin-out": "admin",
    "admin-in": "ada",
    "admin-self": "adam",
    "editor-in": "erin",
    "editor-out": "eddie",
    "journalist-in": "jules",
    "journalist-out": "joan",
    "removed": "rory",
    **TOKEN_OWNER,
}


def _parse(row: str) -> tuple[str, str]:
    """``"GET /v1/x/{id} @who"`` -> (``"GET"``, ``"/v1/x/{id}"``)."""
    method, path = row.split()[:2]
    return method, path


def _expected(row: str) -> tuple[int, ...]:
    statuses = tuple(int(s) for s in MATRIX[row].split())
    assert len(statuses) == len(ACTORS), row
    return statuses


# -- the callers and the things they act on ---------------------------------------------------


@dataclass
class Call:
    """One request, and what to check about its effect once the answer is in."""

    method: str
    url: str
    params: dict[str, str] | None = None
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, Any] | None = None
    after: Callable[[httpx.Response], None] | None = None
    content: bytes | None = None
    content_type: str | None = None


class Cast:
    """The callers of the table, on one ``World``: ``admin`` (not a member), ``ada`` (an
    administrator made a member), ``erin`` and ``jules`` (members), ``eddie`` and ``joan``
    (not members), and two API tokens."""

    def __init__(self, api: ApiWorld) -> None:
        self.api = api
        self.world = api.world
        self.vault = api.world.vault
        self.case_id = str(api.world.case_id)
        self._created: set[str] = set()
        self._api_tokens: dict[str, str] = {}
        self._serial = itertools.count(1)
        self._document: str | None = None
        self._redaction_document: str | None = None
        self.upload_entry = 0  # the access-log entry of the shared document's upload
        self._sources: dict[str, str] = {}
        self._totp: tuple[str, bytes] | None = None

    # credentials

    def _ensure_user(self, username: str) -> None:
        """Make the callers the ``World`` lacks when first needed (each costs a derivation)."""
        roles = {
            "ada": Role.ADMIN,
            "adam": Role.ADMIN,
            "eddie": Role.EDITOR,
            "joan": Role.JOURNALIST,
            "rory": Role.JOURNALIST,
        }
        if username in roles and username not in self._created:
            self._created.add(username)
            user = self.world.add_user(username, roles[username], member=False)
            if username in ("ada", "rory"):
                self.world.add_member(user)  # approved by erin
            if username == "adam":
                # An administrator adding themselves: a member, awaiting approval.
                added = self.api.client.post(
                    f"/v1/cases/{self.case_id}/members",
                    headers=self.api.auth(username),
                    json={"username": username},
                )
                assert added.status_code == 204, added.text
                assert added.headers["vault-member-approval"] == "awaiting"

    def headers(self, actor: str) -> dict[str, str]:
        if actor == "anonymous":
            return {}
        if actor == "bad-token":
            return {"Authorization": f"Bearer {crypto.new_bearer_token()}"}
        if actor in TOKEN_OWNER:
            if actor not in self._api_tokens:
                scope = actor.removesuffix("-token")
                self._api_tokens[actor] = self.new_token(TOKEN_OWNER[actor], scope)["token"]
            return {"Authorization": f"Bearer {self._api_tokens[actor]}"}
        self._ensure_user(USERNAMES[actor])
        return self.api.auth(USERNAMES[actor])

    def prepare(self) -> None:
        """Obtain every credential now: before the first document exists (so that ``ada`` is
        a member holding its key), and before a cell ends a session a token was made from.
        Then ``rory`` records a source, reads the shared document, and is removed from the
        case, the source left to the recovery key: his session lives on."""
        for actor in ACTORS:
            self.headers(actor)
        self.source("rory")
        read = self.api.client.get(
            f"/v1/documents/{self.document()}/content", headers=self.api.auth("rory")
        )
        assert read.status_code == 200, read.text
        removed = self.api.client.request(
            "DELETE",
            f"/v1/cases/{self.case_id}/members/rory",
            headers=self.api.auth("admin"),
            params={"sources_to": "recovery"},
        )
        assert removed.status_code == 200, removed.text
        assert [s["handler"] for s in removed.json()["sources"]] == [None]

    def send(self, call: Call, actor: str) -> httpx.Response:
        headers = self.headers(actor)
        if call.content_type is not None:
            headers = {**headers, "Content-Type": call.content_type}
        return self.api.client.request(
            call.method,
            call.url,
            headers=headers,
            params=call.params,
            json=call.json,
            data=call.data,
            files=call.files,
            content=call.content,
        )

    def new_token(self, username: str, scope: str = "upload") -> dict[str, str]:
        response = self.api.client.post(
            "/v1/tokens",
            headers=self.api.auth(username),
            json={"name": f"script {next(self._serial)}", "scopes": [scope]},
        )
        assert response.status_code == 201, response.text
        body: dict[str, str] = response.json()
        return body

    def user_id(self, username: str) -> uuid.UUID:
        with self.world.db() as db:
            return users.find_user(db, username).id

    # shared targets, made on first use

    def document(self) -> str:
        if self._document is None:
            self._document = self.fresh_document()
        return self._document

    def fresh_document(self) -> str:
        created = self.api.upload("jules", CONTENT, title=TITLE)
        self.upload_entry = int(created["log_index"])
        return str(created["id"])

    def redaction_document(self) -> str:
        """A document of its own for the redaction cells, so that the redactions proposed on it
        do not block the export cells (which use the shared document)."""
        if self._redaction_document is None:
            self._redaction_document = self.fresh_document()
        return self._redaction_document

    def proposed_redaction(self) -> str:
        document = self.redaction_document()
        response = self.api.client.post(
            f"/v1/documents/{document}/redactions",
            headers=self.headers("admin-in"),
            json={"kind": "span", "start": 0, "end": 9, "category": "other"},
        )
        assert response.status_code == 201, response.text
        rid: str = response.json()["id"]
        return rid

    def approved_redaction(self, *, withdrawal_by: str | None = None) -> str:
        rid = self.proposed_redaction()
        approved = self.api.client.post(
            f"/v1/redactions/{rid}/approve", headers=self.headers("editor-in"), json={}
        )
        assert approved.status_code == 200, approved.text
        if withdrawal_by is not None:
            asked = self.api.client.post(
                f"/v1/redactions/{rid}/withdraw",
                headers=self.api.auth(withdrawal_by),
                json={"note": "the name is public now"},
            )
            assert asked.status_code == 200, asked.text
        return rid

    def withdrawal_status(self, rid: str) -> str | None:
        shown = self.api.client.get(
            f"/v1/documents/{self.redaction_document()}/redactions",
            headers=self.headers("editor-in"),
        )
        assert shown.status_code == 200, shown.text
        [found] = [x for x in shown.json()["redactions"] if x["id"] == rid]
        withdrawal = found.get("withdrawal")
        return None if withdrawal is None else str(withdrawal["status"])

    def source(self, handler: str) -> str:
        if handler not in self._sources:
            response = self.api.client.post(
                "/v1/sources",
                headers=self.api.auth(handler),
                json={"case": self.case_id, "notes": f"{NOTES} ({handler})"},
            )
            assert response.status_code == 201, response.text
            self._sources[handler] = response.json()["id"]
        return self._sources[handler]

    def fresh_source(self, handler: str) -> str:
        response = self.api.client.post(
            "/v1/sources",
            headers=self.api.auth(handler),
            json={"case": self.case_id, "notes": f"{NOTES} ({handler})"},
        )
        assert response.status_code == 201, response.text
        sid: str = response.json()["id"]
        return sid

    def handler(self, source_id: str) -> str | None:
        with self.world.db() as db:
            source = db.get(Source, uuid.UUID(source_id))
            assert source is not None
            if source.handler_id is None:
                return None
            user = db.get(User, source.handler_id)
            return user.username if user is not None else None

    def approved(self, username: str) -> bool:
        with self.world.db() as db:
            return grants.is_approved(db, self.world.case_id, self.user_id(username))

    def name(self, stem: str) -> str:
        return f"{stem}-{next(self._serial)}"

    def spare_user(self, *, member: bool, approve: bool = True) -> str:
        """A journalist account that has not enrolled yet (costs no key derivation)."""
        username = self.name("spare")
        user, _, _ = self.vault.users.create_account(
            None, username=username, role=Role.JOURNALIST, passphrase=None
        )
        actor = users.actor_for(user)
        if member:
            self.world.add_member(actor, approve=approve)
        return username

    def is_member(self, username: str) -> bool:
        with self.world.db() as db:
            return grants.is_member(db, self.world.case_id, self.user_id(username))

    def pending_account(self) -> tuple[str, str]:
        """A new account and its enrolment code."""
        username = self.name("newcomer")
        _, code, _ = self.vault.users.create_account(
            None, username=username, role=Role.JOURNALIST, passphrase=None
        )
        assert code is not None
        return username, code

    def unconfirmed_totp_account(self) -> tuple[str, bytes]:
        """An enrolled account whose TOTP secret awaits its first code: made once, and put
        back into that state before every use."""
        if self._totp is None:
            secret = crypto.new_totp_secret()
            self.vault.users.create_account(
                None, username="tess", role=Role.JOURNALIST, passphrase=None
            )
            with self.world.db() as db:
                user = users.find_user(db, "tess")
                users.set_passphrase(
                    db, user, PASSPHRASE, self.vault.settings.argon2, totp_secret=secret
                )
                user.enrolment_code_hash = user.enrolment_expires_at = None
                db.add(user)
                db.commit()
            self._totp = ("tess", secret)
        username, secret = self._totp
        with self.world.db() as db:
            user = users.find_user(db, username)
            user.totp_confirmed = False
            user.totp_last_step = None
            db.add(user)
            db.commit()
        return username, secret

    def totp_confirmed(self, username: str) -> bool:
        with self.world.db() as db:
            return users.find_user(db, username).totp_confirmed

    def enrolled(self, username: str) -> bool:
        with self.world.db() as db:
            return users.find_user(db, username).public_key is not None

    def count(self, model: type[Any], *where: Any) -> int:
        with self.world.db() as db:
            return int(db.exec(select(func.count()).select_from(model).where(*where)).one())

    def token_revoked(self, token_id: str) -> bool:
        with self.world.db() as db:
            row = db.get(Credential, uuid.UUID(token_id))
            assert row is not None
            return row.revoked_at is not None

    def token_owners(self, token_ids: list[str]) -> set[uuid.UUID]:
        with self.world.db() as db:
            ids = [uuid.UUID(t) for t in token_ids]
            return set(db.exec(select(Credential.user_id).where(col(Credential.id).in_(ids))))


def _random_id() -> str:
    return str(uuid.uuid4())


def _owner(actor: str) -> str:
    return USERNAMES.get(actor, "jules")


# -- how each row is exercised ----------------------------------------------------------------
# ``build(cast, actor)`` makes the request of a cell (with fresh targets where it changes
# something); ``missing(cast, actor)`` the same request against something that does not exist.

Builder = Callable[[Cast, str], Call]


def _health(path: str) -> Builder:
    def build(cast: Cast, actor: str) -> Call:
        def after(r: httpx.Response) -> None:
            if r.is_success:
                assert r.json() == {"status": "ok"}

        return Call("GET", path, after=after)

    return build


def _docs(path: str, media_type: str) -> Builder:
    """The interactive API docs and their assets: public, like the schema they show."""

    def build(cast: Cast, actor: str) -> Call:
        def after(r: httpx.Response) -> None:
            assert r.headers["content-type"].startswith(media_type)

        return Call("GET", path, after=after)

    return build


def _enroll(cast: Cast, actor: str) -> Call:
    username, code = cast.pending_account()

    def after(r: httpx.Response) -> None:
        assert cast.enrolled(username) == (r.status_code == 200)

    body = {"username": username, "code": code, "passphrase": PASSPHRASE}
    return Call("POST", "/v1/auth/enroll", json=body, after=after)


def _enroll_start(cast: Cast, actor: str) -> Call:
    username, code = cast.pending_account()

    def after(r: httpx.Response) -> None:
        assert not cast.enrolled(username)  # the code is checked, not used
        if r.status_code == 200:
            assert r.json()["user_id"] == str(cast.user_id(username))

    body = {"username": username, "code": code}
    return Call("POST", "/v1/auth/e2e/enroll/start", json=body, after=after)


def _enroll_e2e(cast: Cast, actor: str) -> Call:
    username, code = cast.pending_account()
    params = cast.vault.settings.argon2
    salt = crypto.new_passphrase_salt()
    keys = crypto.derive_passphrase_keys(PASSPHRASE, salt, params)
    key = crypto.generate_private_key()
    sealed = crypto.seal_private_key(keys.kek, key, owner_id=cast.user_id(username))

    def after(r: httpx.Response) -> None:
        assert cast.enrolled(username) == (r.status_code == 200)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    body = {
        "username": username,
        "code": code,
        "public_key": b64(key.public_key().to_bytes()),
        "salt": b64(salt),
        "memory_kib": params.memory_kib,
        "time_cost": params.time_cost,
        "lanes": params.lanes,
        "verifier": b64(keys.verifier),
        "sealed_private_key": b64(sealed),
    }
    return Call("POST", "/v1/auth/e2e/enroll", json=body, after=after)


def _confirm_e2e(cast: Cast, actor: str) -> Call:
    username, secret = cast.unconfirmed_totp_account()
    with cast.world.db() as db:
        user = users.find_user(db, username)
        assert user.kdf_salt is not None
        salt = bytes(user.kdf_salt)
    verifier = crypto.derive_passphrase_keys(PASSPHRASE, salt, cast.vault.settings.argon2).verifier

    def after(r: httpx.Response) -> None:
        assert cast.totp_confirmed(username) == (r.status_code == 204)

    otp = crypto.totp_code(secret, time.time())
    body = {"username": username, "verifier": base64.b64encode(verifier).decode(), "otp": otp}
    return Call("POST", "/v1/auth/e2e/enroll/confirm", json=body, after=after)


def _confirm(cast: Cast, actor: str) -> Call:
    username, secret = cast.unconfirmed_totp_account()

    def after(r: httpx.Response) -> None:
        assert cast.totp_confirmed(username) == (r.status_code == 204)

    otp = crypto.totp_code(secret, time.time())
    body = {"username": username, "passphrase": PASSPHRASE, "otp": otp}
    return Call("POST", "/v1/auth/enroll/confirm", json=body, after=after)


def _login(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.is_success:
            assert r.json()["user"]["username"] == "jules"  # whatever the header said

    body = {"username": "jules", "passphrase": PASSPHRASE}
    return Call("POST", "/v1/auth/login", json=body, after=after)


_DERIVED: dict[bytes, crypto.PassphraseKeys] = {}


def _jules_keys(cast: Cast) -> crypto.PassphraseKeys:
    """jules's passphrase keys, derived as an end-to-end client does (once per salt)."""
    found = cast.api.client.post("/v1/auth/e2e/params", json={"username": "jules"}).json()
    salt = base64.b64decode(found["salt"])
    if salt not in _DERIVED:
        params = crypto.Argon2Params(found["memory_kib"], found["time_cost"], found["lanes"])
        _DERIVED[salt] = crypto.derive_passphrase_keys(PASSPHRASE, salt, params)
    return _DERIVED[salt]


def _e2e_params(cast: Cast, actor: str) -> Call:
    return Call("POST", "/v1/auth/e2e/params", json={"username": "jules"})


def _e2e_verifier(cast: Cast) -> dict[str, str]:
    verifier = base64.b64encode(_jules_keys(cast).verifier).decode()
    return {"username": "jules", "verifier": verifier}


def _e2e_challenge(cast: Cast, actor: str) -> Call:
    return Call("POST", "/v1/auth/e2e/challenge", json=_e2e_verifier(cast))


def _e2e_login(cast: Cast, actor: str) -> Call:
    """A fresh challenge, answered as the client does; whatever header the caller sends."""
    body = cast.api.client.post("/v1/auth/e2e/challenge", json=_e2e_verifier(cast)).json()
    key = crypto.open_private_key(
        _jules_keys(cast).kek,
        base64.b64decode(body["sealed_private_key"]),
        owner_id=uuid.UUID(body["user_id"]),
        key_id=body["key_id"],
    )
    secret = crypto.unwrap_key(
        base64.b64decode(body["wrapped_secret"]),
        key,
        kind="login-challenge",
        subject_id=uuid.UUID(body["challenge_id"]),
        commitment=None,
    )

    def after(r: httpx.Response) -> None:
        if r.is_success:
            assert r.json()["user"]["username"] == "jules"

    answer = {
        "username": "jules",
        "challenge_id": body["challenge_id"],
        "answer": base64.b64encode(secret).decode(),
    }
    return Call("POST", "/v1/auth/e2e/login", json=answer, after=after)


def _logout(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.status_code == 204:
            again = cast.api.client.get("/v1/auth/me", headers=cast.headers(actor))
            assert again.status_code == 401, "the credential still works after logout"

    return Call("POST", "/v1/auth/logout", after=after)


def _me(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.is_success:
            assert r.json()["username"] == _owner(actor)

    return Call("GET", "/v1/auth/me", after=after)


def _restore_passphrase(cast: Cast, actor: str, new: str) -> Callable[[httpx.Response], None]:
    def after(r: httpx.Response) -> None:
        if r.status_code != 200:
            return
        # Back to the table's passphrase, without ending the cast's sessions.
        settings = cast.vault.settings
        with cast.world.db() as db:
            unlocked = users.verify_passphrase(db, _owner(actor), new, params=settings.argon2)
            users.reseal(
                unlocked.user,
                unlocked.key,
                PASSPHRASE,
                settings.argon2,
                totp_secret=unlocked.totp_secret,
                pepper=row_seal_guard.pepper_of(db),
            )
            db.add(unlocked.user)
            db.commit()

    return after


def _change_passphrase(cast: Cast, actor: str) -> Call:
    new = "amber ledger crosses the quay at dawn"
    body = {"current_passphrase": PASSPHRASE, "new_passphrase": new}
    after = _restore_passphrase(cast, actor, new)
    return Call("POST", "/v1/me/passphrase", json=body, after=after)


def _change_passphrase_e2e(cast: Cast, actor: str) -> Call:
    """As a client does it: the verifier of the current passphrase, the key sealed under the
    new one (the key taken here from the database with the table's passphrase)."""
    new = "amber ledger crosses the quay at dusk"
    settings = cast.vault.settings
    with cast.world.db() as db:
        unlocked = users.verify_passphrase(db, _owner(actor), PASSPHRASE, params=settings.argon2)
        user = unlocked.user
        assert user.kdf_salt is not None
        old = crypto.derive_passphrase_keys(PASSPHRASE, bytes(user.kdf_salt), settings.argon2)
        salt = crypto.new_passphrase_salt()
        fresh = crypto.derive_passphrase_keys(new, salt, settings.argon2)
        sealed = crypto.seal_private_key(fresh.kek, unlocked.key, owner_id=user.id)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    body = {
        "current_verifier": b64(old.verifier),
        "salt": b64(salt),
        "memory_kib": settings.argon2.memory_kib,
        "time_cost": settings.argon2.time_cost,
        "lanes": settings.argon2.lanes,
        "verifier": b64(fresh.verifier),
        "sealed_private_key": b64(sealed),
    }
    after = _restore_passphrase(cast, actor, new)
    return Call("POST", "/v1/me/passphrase/end-to-end", json=body, after=after)


def _create_token(cast: Cast, actor: str) -> Call:
    before = cast.count(Credential)

    def after(r: httpx.Response) -> None:
        created = r.status_code == 201
        assert cast.count(Credential) == before + created
        if created:
            assert cast.token_owners([r.json()["id"]]) == {cast.user_id(_owner(actor))}

    body = {"name": cast.name("nightly"), "scopes": ["upload"]}
    return Call("POST", "/v1/tokens", json=body, after=after)


def _list_tokens(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.is_success:
            listed = [t["id"] for t in r.json()["tokens"]]
            assert cast.token_owners(listed) <= {cast.user_id(_owner(actor))}

    return Call("GET", "/v1/tokens", after=after)


def _revoke_token(whose: str | None) -> Builder:
    def build(cast: Cast, actor: str) -> Call:
        token_id = cast.new_token(whose or _owner(actor))["id"]

        def after(r: httpx.Response) -> None:
            assert cast.token_revoked(token_id) == (r.status_code == 204)

        return Call("DELETE", f"/v1/tokens/{token_id}", after=after)

    return build


def _create_case(cast: Cast, actor: str) -> Call:
    name = cast.name("code-name")

    def after(r: httpx.Response) -> None:
        assert cast.count(Case, Case.name == name) == (r.status_code == 201)

    return Call("POST", "/v1/cases", json={"name": name}, after=after)


def _list_cases(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.is_success:
            listed = {c["id"] for c in r.json()["cases"]}
            sees = actor in ("admin-out", "admin-self") or _owner(actor) in {"ada", "erin", "jules"}
            assert (cast.case_id in listed) == sees

    return Call("GET", "/v1/cases", after=after)


def _get_case(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            assert {"ada", "erin", "jules"} <= set(r.json()["members"])

    return Call("GET", f"/v1/cases/{cast.case_id}", after=after)


def _add_member(cast: Cast, actor: str) -> Call:
    username = cast.spare_user(member=False)

    def after(r: httpx.Response) -> None:
        assert cast.is_member(username) == (r.status_code == 204)

    url = f"/v1/cases/{cast.case_id}/members"
    return Call("POST", url, json={"username": username}, after=after)


def _remove_member(in_body: bool) -> Builder:
    def build(cast: Cast, actor: str) -> Call:
        username = cast.spare_user(member=True)

        def after(r: httpx.Response) -> None:
            assert cast.is_member(username) == (r.status_code != 200)
            if r.status_code == 200:
                assert r.json() == {"username": username, "sources": []}

        if in_body:
            url = f"/v1/cases/{cast.case_id}/members"
            return Call("DELETE", url, json={"username": username}, after=after)
        return Call("DELETE", f"/v1/cases/{cast.case_id}/members/{username}", after=after)

    return build


def _create_source(cast: Cast, actor: str) -> Call:
    before = cast.count(Source)

    def after(r: httpx.Response) -> None:
        created = r.status_code == 201
        assert cast.count(Source) == before + created
        if created:
            assert r.json()["handler"] == str(cast.user_id(_owner(actor)))

    return Call("POST", "/v1/sources", json={"case": cast.case_id, "notes": NOTES}, after=after)


def _list_sources(cast: Cast, actor: str) -> Call:
    source = cast.source("jules")

    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            assert source in {s["id"] for s in r.json()["sources"]}

    return Call("GET", "/v1/sources", params={"case": cast.case_id}, after=after)


def _identity(handler: str) -> Builder:
    def build(cast: Cast, actor: str) -> Call:
        source = cast.source(handler)

        def after(r: httpx.Response) -> None:
            if r.status_code == 200:
                assert r.json()["notes"] == f"{NOTES} ({handler})"

        url = f"/v1/sources/{source}/identity"
        return Call("GET", url, params={"reason": "fact check"}, after=after)

    return build


def _sealed_identity(handler: str) -> Builder:
    def build(cast: Cast, actor: str) -> Call:
        source = cast.source(handler)

        def after(r: httpx.Response) -> None:
            if r.status_code == 200:
                body = r.json()
                assert body["sealed_notes"] is not None
                assert body["wrapped_key"] is not None
                assert NOTES not in r.text

        url = f"/v1/sources/{source}/sealed-identity"
        return Call("GET", url, params={"reason": "fact check"}, after=after)

    return build


def _source_key(handler: str) -> Builder:
    def build(cast: Cast, actor: str) -> Call:
        source = cast.source(handler)

        def after(r: httpx.Response) -> None:
            if r.status_code == 200:
                assert r.json()["wrapped_key"] is not None

        return Call("GET", f"/v1/sources/{source}/key", after=after)

    return build


def _sealed_source_call(cast: Cast, actor: str, case_id: str) -> Call:
    """A source sealed as a client seals it, for the caller's key and the recovery key."""
    erin = cast.api.auth("erin")

    def key(path: str) -> crypto.PublicKey:
        answer = cast.api.client.get(path, headers=erin)
        assert answer.status_code == 200, answer.text
        return crypto.PublicKey(base64.b64decode(answer.json()["public_key"]))

    source_id = uuid.uuid4()
    data_key = crypto.new_data_key()
    commitment = crypto.key_commitment(data_key, kind="source", subject_id=source_id)
    sealed = source_record.seal_notes(
        data_key, NOTES, source_id=source_id, case_id=uuid.UUID(case_id), commitment=commitment
    )
    keys = {}
    for recipient in (key(f"/v1/users/{_owner(actor)}/key"), key("/v1/recovery-key")):
        wrapped = crypto.wrap_key(
            data_key, recipient, kind="source", subject_id=source_id, commitment=commitment
        )
        keys[recipient.key_id] = base64.b64encode(wrapped).decode()
    body = {
        "case": case_id,
        "id": str(source_id),
        "key_commitment": base64.b64encode(commitment).decode(),
        "sealed_notes": base64.b64encode(sealed).decode(),
        "keys": keys,
    }
    return Call("POST", "/v1/sealed-sources", json=body)


def _create_sealed_source(cast: Cast, actor: str) -> Call:
    call = _sealed_source_call(cast, actor, cast.case_id)
    before = cast.count(Source)

    def after(r: httpx.Response) -> None:
        created = r.status_code == 201
        assert cast.count(Source) == before + created
        if created:
            assert r.json()["handler"] == str(cast.user_id(_owner(actor)))

    call.after = after
    return call


def _awaiting(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            listed = {m["username"]: m for m in r.json()["awaiting"]}
            assert listed["adam"]["added_by"] == "adam"  # who added whom, for the approver

    return Call("GET", f"/v1/cases/{cast.case_id}/approvals", after=after)


def _approve(cast: Cast, actor: str) -> Call:
    username = cast.spare_user(member=True, approve=False)

    def after(r: httpx.Response) -> None:
        assert cast.approved(username) == (r.status_code == 200)

    url = f"/v1/cases/{cast.case_id}/approvals"
    return Call("POST", url, json={"username": username}, after=after)


def _handover(cast: Cast, actor: str) -> Call:
    source = cast.fresh_source("jules")

    def after(r: httpx.Response) -> None:
        handler = cast.handler(source)
        assert handler == ("erin" if r.status_code == 200 else "jules")

    return Call("POST", f"/v1/sources/{source}/handover", json={"to": "erin"}, after=after)


def _upload_call(case_id: str, title: str) -> Call:
    return Call(
        "POST",
        "/v1/documents",
        data={"case": case_id, "title": title},
        files={"file": ("statement.txt", CONTENT, "text/plain")},
    )


def _upload(cast: Cast, actor: str) -> Call:
    call = _upload_call(cast.case_id, cast.name("upload"))
    before = cast.count(Document)

    def after(r: httpx.Response) -> None:
        assert cast.count(Document) == before + (r.status_code == 201)

    call.after = after
    return call


def _list_documents(cast: Cast, actor: str) -> Call:
    document = cast.document()

    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            titles = {d["id"]: d["title"] for d in r.json()["documents"]}
            assert titles.get(document) == (None if actor == "admin-self" else TITLE)

    return Call("GET", "/v1/documents", params={"case": cast.case_id}, after=after)


def _get_document(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            # A member awaiting approval sees that the document exists, not what it says.
            assert r.json()["title"] == (None if actor == "admin-self" else TITLE)

    return Call("GET", f"/v1/documents/{cast.document()}", after=after)


def _download(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            assert r.content == CONTENT

    return Call("GET", f"/v1/documents/{cast.document()}/content", after=after)


def _list_sealed(cast: Cast, actor: str) -> Call:
    document = cast.document()

    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            keys = {d["id"]: d["wrapped_key"] for d in r.json()["documents"]}
            assert document in keys
            assert (keys[document] is None) == (actor == "admin-self")

    return Call("GET", f"/v1/cases/{cast.case_id}/sealed-documents", after=after)


def _recipients(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            names = {m["username"] for m in r.json()["members"]}
            assert {"erin", "jules"} <= names

    return Call("GET", f"/v1/cases/{cast.case_id}/recipients", after=after)


def _sealed_upload_call(cast: Cast, actor: str, case_id: str) -> Call:
    """An end-to-end upload, wrapped for the recipients the caller is told (erin's, for a
    caller who may not ask): valid in every part but who sends it."""
    listing = cast.headers(actor)
    if cast.api.client.get(f"/v1/cases/{cast.case_id}/recipients", headers=listing).is_error:
        listing = cast.api.auth("erin")
    sealed = build_sealed(
        cast.api.client, listing, case_id=uuid.UUID(cast.case_id), uploader_id=uuid.uuid4()
    )
    sealed.case_id = case_id
    return Call(
        "POST",
        "/v1/sealed-documents",
        content=sealed.body(),
        content_type="multipart/form-data; boundary=sealedb0undary",
    )


def _sealed_upload(cast: Cast, actor: str) -> Call:
    call = _sealed_upload_call(cast, actor, cast.case_id)
    before = cast.count(Document)

    def after(r: httpx.Response) -> None:
        assert cast.count(Document) == before + (r.status_code == 201)

    call.after = after
    return call


def _pending_grants(cast: Cast, actor: str) -> Call:
    return Call("GET", "/v1/grants")


def _complete_grants(cast: Cast, actor: str) -> Call:
    """An empty batch: who may send copies at all (what each copy may be for is
    tests/api/test_client_grants.py's)."""
    return Call("POST", "/v1/grants", json={"grants": []})


def _sealed(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            # A member awaiting approval sees that the document exists, and holds no key to it.
            assert (r.json()["wrapped_key"] is None) == (actor == "admin-self")

    return Call("GET", f"/v1/documents/{cast.document()}/sealed", after=after)


def _ciphertext(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            assert CONTENT not in r.content
            assert len(r.content) == int(r.headers["content-length"]) > len(CONTENT)

    return Call("GET", f"/v1/documents/{cast.document()}/ciphertext", after=after)


def _delete_document(cast: Cast, actor: str) -> Call:
    document = cast.fresh_document()

    def after(r: httpx.Response) -> None:
        still_there = cast.count(Document, Document.id == uuid.UUID(document))
        assert still_there == (r.status_code != 204)

    return Call("DELETE", f"/v1/documents/{document}", after=after)


def _update_case(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        with cast.world.db() as db:
            case = db.get(Case, cast.world.case_id)
            assert case is not None
            assert (case.retain_days == 36_500) == (r.status_code == 200)
            case.retain_days = case.retain_from = None  # as it was, for the next cell
            db.add(case)
            db.commit()

    body = {"retain_days": 36_500, "retain_from": "upload"}
    return Call("PATCH", f"/v1/cases/{cast.case_id}", json=body, after=after)


def _hold(target: str, set_it: bool) -> Builder:
    """A hold on the shared case or on a fresh document, set (PUT) or released (DELETE; it is
    set first); undone after each cell, so that the case's documents stay deletable."""

    def build(cast: Cast, actor: str) -> Call:
        model: type[Case] | type[Document] = Case if target == "case" else Document
        ident = cast.world.case_id if target == "case" else uuid.UUID(cast.fresh_document())

        def put(held: bool) -> None:
            with cast.world.db() as db:
                row = db.get(model, ident)
                assert row is not None
                row.held_at = system_clock() if held else None
                db.add(row)
                db.commit()

        def after(r: httpx.Response) -> None:
            with cast.world.db() as db:
                row = db.get(model, ident)
                assert row is not None
                assert (row.held_at is not None) == (set_it == (r.status_code == 200))
            put(False)

        if not set_it:
            put(True)
        url = f"/v1/{target}s/{ident}/hold"
        return Call("PUT" if set_it else "DELETE", url, after=after)

    return build


def _access_log(cast: Cast, actor: str) -> Call:
    document = cast.document()

    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            assert "document.upload" in {e["action"] for e in r.json()["entries"]}

    return Call("GET", f"/v1/documents/{document}/access-log", after=after)


def _redactions_of(cast: Cast, actor: str) -> Call:
    document = cast.redaction_document()

    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            assert all(x["document"] == document for x in r.json()["redactions"])

    return Call("GET", f"/v1/documents/{document}/redactions", after=after)


def _propose(cast: Cast, actor: str) -> Call:
    document = cast.redaction_document()
    before = cast.count(Redaction)

    def after(r: httpx.Response) -> None:
        assert cast.count(Redaction) == before + (r.status_code == 201)

    body = {"kind": "term", "term": "witness", "category": "third-party"}
    return Call("POST", f"/v1/documents/{document}/redactions", json=body, after=after)


def _list_sealed_redactions(cast: Cast, actor: str) -> Call:
    return Call("GET", f"/v1/documents/{cast.redaction_document()}/sealed-redactions")


def _data_key(cast: Cast, document: str) -> tuple[bytes, str]:
    """The document's data key and plaintext digest, opened with erin's key (as a client)."""
    with cast.world.db() as db:
        row, data_key = cast.vault.documents.readable(db, cast.world.editor, uuid.UUID(document))
        return data_key, open_metadata(row, data_key).sha256


def _propose_sealed(cast: Cast, actor: str) -> Call:
    document = cast.redaction_document()
    data_key, sha256 = _data_key(cast, document)
    rid = uuid.uuid4()
    proposal = redaction_record.Proposal(kind=Kind.TERM, category=Category.OTHER, term="witness")
    bound = redaction_record.binding(
        document_id=uuid.UUID(document),
        proposer_id=cast.user_id(_owner(actor)),
        reviewer_id=None,
        status="proposed",
    )
    box = redaction_record.seal(
        data_key, rid, bound, redaction_record.SealedRedaction(proposal, sha256, "witness")
    )
    before = cast.count(Redaction)

    def after(r: httpx.Response) -> None:
        assert cast.count(Redaction) == before + (r.status_code == 201)

    body = {"id": str(rid), "sealed": base64.b64encode(box).decode()}
    return Call("POST", f"/v1/documents/{document}/sealed-redactions", json=body, after=after)


def _review_sealed(cast: Cast, actor: str) -> Call:
    """A fresh redaction proposed by ``ada``, approved with a record sealed as the reviewer's
    client seals it."""
    rid = uuid.UUID(cast.proposed_redaction())
    data_key, _ = _data_key(cast, cast.redaction_document())
    with cast.world.db() as db:
        row = db.get(Redaction, rid)
        assert row is not None
        opened = unseal(data_key, row)
        bound = redaction_record.binding(
            document_id=row.document_id,
            proposer_id=row.proposer_id,
            reviewer_id=cast.user_id(_owner(actor)),
            status="approved",
        )
    box = redaction_record.seal(data_key, rid, bound, opened)

    def after(r: httpx.Response) -> None:
        with cast.world.db() as db:
            found = db.get(Redaction, rid)
            assert found is not None
            assert (found.status != "proposed") == (r.status_code == 200)

    body = {"status": "approved", "sealed": base64.b64encode(box).decode()}
    return Call("POST", f"/v1/redactions/{rid}/sealed-review", json=body, after=after)


def _suggest(cast: Cast, actor: str) -> Call:
    return Call("POST", f"/v1/documents/{cast.redaction_document()}/redactions/suggest")


def _text(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            assert r.json()["text"] == CONTENT.decode()

    return Call("GET", f"/v1/documents/{cast.document()}/text", after=after)


def _export(cast: Cast, actor: str) -> Call:
    def after(r: httpx.Response) -> None:
        if r.status_code == 200:
            assert r.content == CONTENT  # no redaction applies to the shared document

    return Call("GET", f"/v1/documents/{cast.document()}/export", {"redacted": "true"}, after=after)


def _export_and_store(cast: Cast, actor: str) -> Call:
    before = cast.count(Document)

    def after(r: httpx.Response) -> None:
        assert cast.count(Document) == before + (r.status_code == 201)

    return Call("POST", f"/v1/documents/{cast.document()}/export", after=after)


def _log_sealed_export(cast: Cast, actor: str) -> Call:
    """The record of an export a client made of the shared document, applying what applies."""
    document = cast.document()
    with cast.world.db() as db:
        rows = db.exec(select(Redaction).where(Redaction.document_id == uuid.UUID(document)))
        applied = [str(r.id) for r in rows if r.status in ("approved", "withdrawing")]
    body = {"ok": True, "sha256": "0" * 64, "redactions": applied}

    def after(r: httpx.Response) -> None:
        if r.status_code == 201:
            assert json.loads(base64.b64decode(r.json()["log_entry"]))["sha256"] == "0" * 64

    return Call("POST", f"/v1/documents/{document}/sealed-export", json=body, after=after)


def _review(verdict: str) -> Builder:
    """A fresh redaction proposed by ``ada``, for ``actor`` to approve or reject."""

    def build(cast: Cast, actor: str) -> Call:
        rid = cast.proposed_redaction()

        def after(r: httpx.Response) -> None:
            with cast.world.db() as db:
                row = db.get(Redaction, uuid.UUID(rid))
                assert row is not None
                reviewed = row.status != "proposed"
            assert reviewed == (r.status_code == 200)

        body = {"note": "checked against the original"}
        return Call("POST", f"/v1/redactions/{rid}/{verdict}", json=body, after=after)

    return build


def _withdraw(cast: Cast, actor: str) -> Call:
    """A fresh approved redaction (proposed by ``ada``, approved by ``erin``), for ``actor``
    to ask to withdraw."""
    rid = cast.approved_redaction()

    def after(r: httpx.Response) -> None:
        asked = cast.withdrawal_status(rid)
        assert (asked == "proposed") == (r.status_code == 200)

    body = {"note": "the name is public now"}
    return Call("POST", f"/v1/redactions/{rid}/withdraw", json=body, after=after)


def _review_withdrawal(verdict: str) -> Builder:
    """A fresh approved redaction whose withdrawal ``ada`` asked for, for ``actor`` to decide."""

    def build(cast: Cast, actor: str) -> Call:
        rid = cast.approved_redaction(withdrawal_by="ada")

        def after(r: httpx.Response) -> None:
            decided = cast.withdrawal_status(rid) != "proposed"
            assert decided == (r.status_code == 200)

        body = {"note": "checked against the original"}
        return Call("POST", f"/v1/redactions/{rid}/withdrawal/{verdict}", json=body, after=after)

    return build


def _receipt(cast: Cast, actor: str) -> Call:
    """The inclusion proof for jules's upload of the shared document."""
    cast.document()
    size = cast.upload_entry + 1
    return Call(
        "GET",
        "/v1/audit/proof/inclusion",
        params={"index": str(cast.upload_entry), "tree_size": str(size)},
    )


def _audit(path: str, **params: str) -> Builder:
    def build(cast: Cast, actor: str) -> Call:
        return Call("GET", path, params=params)

    return build


def _absent(method: str, url: str, **fields: dict[str, str]) -> Builder:
    """The same request for something that does not exist: a random id wherever ``{}`` is, in
    the URL or in the values of ``params`` or ``json``."""

    def missing(cast: Cast, actor: str) -> Call:
        rid = _random_id()
        filled = {k: {n: v.format(rid) for n, v in d.items()} for k, d in fields.items()}
        return Call(method, url.format(rid), **filled)

    return missing


def _no_such_route(method: str) -> Builder:
    """For a route without an id: the same method on a route that does not exist."""
    return lambda cast, actor: Call(method, f"/v1/{uuid.uuid4().hex}")


@dataclass(frozen=True)
class How:
    build: Builder
    missing: Builder | None = None  # rows with a 404 cell need one


REASON = {"reason": "fact check"}
HOW: dict[str, How] = {
    "GET /healthz": How(_health("/healthz")),
    "GET /readyz": How(_health("/readyz")),
    "GET /docs": How(_docs("/docs", "text/html")),
    "GET /docs/assets/{name}": How(_docs("/docs/assets/swagger-init.js", "text/javascript")),
    "POST /v1/auth/enroll": How(_enroll),
    "POST /v1/auth/enroll/confirm": How(_confirm),
    "POST /v1/auth/e2e/enroll/start": How(_enroll_start),
    "POST /v1/auth/e2e/enroll": How(_enroll_e2e),
    "POST /v1/auth/e2e/enroll/confirm": How(_confirm_e2e),
    "POST /v1/auth/login": How(_login),
    "POST /v1/auth/e2e/params": How(_e2e_params),
    "POST /v1/auth/e2e/challenge": How(_e2e_challenge),
    "POST /v1/auth/e2e/login": How(_e2e_login),
    "POST /v1/auth/logout": How(_logout),
    "GET /v1/auth/me": How(_me),
    "POST /v1/me/passphrase": How(_change_passphrase, _no_such_route("POST")),
    "POST /v1/me/passphrase/end-to-end": How(_change_passphrase_e2e, _no_such_route("POST")),
    "POST /v1/tokens": How(_create_token, _no_such_route("POST")),
    "GET /v1/tokens": How(_list_tokens, _no_such_route("GET")),
    "DELETE /v1/tokens/{token_id} @own": How(
        _revoke_token(None), _absent("DELETE", "/v1/tokens/{}")
    ),
    "DELETE /v1/tokens/{token_id} @admin": How(
        _revoke_token("admin"), _absent("DELETE", "/v1/tokens/{}")
    ),
    "POST /v1/cases": How(_create_case, _no_such_route("POST")),
    "GET /v1/cases": How(_list_cases, _no_such_route("GET")),
    "GET /v1/cases/{case_id}": How(_get_case, _absent("GET", "/v1/cases/{}")),
    "PATCH /v1/cases/{case_id}": How(
        _update_case, _absent("PATCH", "/v1/cases/{}", json={"closed": "true"})
    ),
    "PUT /v1/cases/{case_id}/hold": How(_hold("case", True), _absent("PUT", "/v1/cases/{}/hold")),
    "DELETE /v1/cases/{case_id}/hold": How(
        _hold("case", False), _absent("DELETE", "/v1/cases/{}/hold")
    ),
    "GET /v1/cases/{case_id}/approvals": How(_awaiting, _absent("GET", "/v1/cases/{}/approvals")),
    "POST /v1/cases/{case_id}/approvals": How(
        _approve, _absent("POST", "/v1/cases/{}/approvals", json={"username": "jules"})
    ),
    "POST /v1/cases/{case_id}/members": How(
        _add_member, _absent("POST", "/v1/cases/{}/members", json={"username": "jules"})
    ),
    "DELETE /v1/cases/{case_id}/members/{username}": How(
        _remove_member(in_body=False), _absent("DELETE", "/v1/cases/{}/members/jules")
    ),
    "DELETE /v1/cases/{case_id}/members": How(
        _remove_member(in_body=True),
        _absent("DELETE", "/v1/cases/{}/members", json={"username": "jules"}),
    ),
    "POST /v1/sources": How(
        _create_source, _absent("POST", "/v1/sources", json={"case": "{}", "notes": NOTES})
    ),
    "GET /v1/sources": How(_list_sources, _absent("GET", "/v1/sources", params={"case": "{}"})),
    "GET /v1/sources/{source_id}/identity @jules": How(
        _identity("jules"), _absent("GET", "/v1/sources/{}/identity", params=REASON)
    ),
    "GET /v1/sources/{source_id}/identity @erin": How(
        _identity("erin"), _absent("GET", "/v1/sources/{}/identity", params=REASON)
    ),
    "GET /v1/sources/{source_id}/identity @rory": How(
        _identity("rory"), _absent("GET", "/v1/sources/{}/identity", params=REASON)
    ),
    "GET /v1/sources/{source_id}/key @jules": How(
        _source_key("jules"), _absent("GET", "/v1/sources/{}/key")
    ),
    "POST /v1/sealed-sources": How(
        _create_sealed_source, lambda c, a: _sealed_source_call(c, a, _random_id())
    ),
    "GET /v1/sources/{source_id}/sealed-identity @jules": How(
        _sealed_identity("jules"),
        _absent("GET", "/v1/sources/{}/sealed-identity", params=REASON),
    ),
    "GET /v1/sources/{source_id}/sealed-identity @erin": How(
        _sealed_identity("erin"),
        _absent("GET", "/v1/sources/{}/sealed-identity", params=REASON),
    ),
    "POST /v1/sources/{source_id}/handover @jules": How(
        _handover, _absent("POST", "/v1/sources/{}/handover", json={"to": "erin"})
    ),
    "POST /v1/documents": How(_upload, lambda c, a: _upload_call(_random_id(), "elsewhere")),
    "GET /v1/documents": How(
        _list_documents, _absent("GET", "/v1/documents", params={"case": "{}"})
    ),
    "GET /v1/documents/{document_id}": How(_get_document, _absent("GET", "/v1/documents/{}")),
    "GET /v1/documents/{document_id}/content": How(
        _download, _absent("GET", "/v1/documents/{}/content")
    ),
    "GET /v1/cases/{case_id}/recipients": How(
        _recipients, _absent("GET", "/v1/cases/{}/recipients")
    ),
    "POST /v1/sealed-documents": How(
        _sealed_upload, lambda c, a: _sealed_upload_call(c, a, _random_id())
    ),
    "GET /v1/grants": How(_pending_grants, _no_such_route("GET")),
    "POST /v1/grants": How(_complete_grants, _no_such_route("POST")),
    "GET /v1/cases/{case_id}/sealed-documents": How(
        _list_sealed, _absent("GET", "/v1/cases/{}/sealed-documents")
    ),
    "GET /v1/documents/{document_id}/sealed": How(
        _sealed, _absent("GET", "/v1/documents/{}/sealed")
    ),
    "GET /v1/documents/{document_id}/ciphertext": How(
        _ciphertext, _absent("GET", "/v1/documents/{}/ciphertext")
    ),
    "DELETE /v1/documents/{document_id}": How(
        _delete_document, _absent("DELETE", "/v1/documents/{}")
    ),
    "PUT /v1/documents/{document_id}/hold": How(
        _hold("document", True), _absent("PUT", "/v1/documents/{}/hold")
    ),
    "DELETE /v1/documents/{document_id}/hold": How(
        _hold("document", False), _absent("DELETE", "/v1/documents/{}/hold")
    ),
    "GET /v1/documents/{document_id}/access-log": How(
        _access_log, _absent("GET", "/v1/documents/{}/access-log")
    ),
    "GET /v1/documents/{document_id}/redactions": How(
        _redactions_of, _absent("GET", "/v1/documents/{}/redactions")
    ),
    "POST /v1/documents/{document_id}/redactions": How(
        _propose,
        _absent(
            "POST",
            "/v1/documents/{}/redactions",
            json={"kind": "term", "term": "witness", "category": "other"},
        ),
    ),
    "GET /v1/documents/{document_id}/sealed-redactions": How(
        _list_sealed_redactions, _absent("GET", "/v1/documents/{}/sealed-redactions")
    ),
    "POST /v1/documents/{document_id}/sealed-redactions": How(
        _propose_sealed,
        _absent(
            "POST",
            "/v1/documents/{}/sealed-redactions",
            json={"id": str(uuid.uuid4()), "sealed": "AAAA"},
        ),
    ),
    "POST /v1/redactions/{redaction_id}/sealed-review": How(
        _review_sealed,
        _absent(
            "POST", "/v1/redactions/{}/sealed-review", json={"status": "approved", "sealed": "AAAA"}
        ),
    ),
    "POST /v1/documents/{document_id}/redactions/suggest": How(
        _suggest, _absent("POST", "/v1/documents/{}/redactions/suggest")
    ),
    "GET /v1/documents/{document_id}/text": How(_text, _absent("GET", "/v1/documents/{}/text")),
    "GET /v1/documents/{document_id}/export": How(
        _export, _absent("GET", "/v1/documents/{}/export", params={"redacted": "true"})
    ),
    "POST /v1/documents/{document_id}/sealed-export": How(
        _log_sealed_export,
        _absent(
            "POST",
            "/v1/documents/{}/sealed-export",
            json={"ok": "true", "sha256": "0" * 64},
        ),
    ),
    "POST /v1/documents/{document_id}/export": How(
        _export_and_store, _absent("POST", "/v1/documents/{}/export")
    ),
    "POST /v1/redactions/{redaction_id}/approve": How(
        _review("approve"), _absent("POST", "/v1/redactions/{}/approve")
    ),
    "POST /v1/redactions/{redaction_id}/reject": How(
        _review("reject"),
        _absent("POST", "/v1/redactions/{}/reject", json={"note": "checked against the original"}),
    ),
    "POST /v1/redactions/{redaction_id}/withdraw": How(
        _withdraw,
        _absent("POST", "/v1/redactions/{}/withdraw", json={"note": "the name is public now"}),
    ),
    "POST /v1/redactions/{redaction_id}/withdrawal/approve": How(
        _review_withdrawal("approve"), _absent("POST", "/v1/redactions/{}/withdrawal/approve")
    ),
    "POST /v1/redactions/{redaction_id}/withdrawal/reject": How(
        _review_withdrawal("reject"),
        _absent("POST", "/v1/redactions/{}/withdrawal/reject", json={"note": "still needed"}),
    ),
    "GET /v1/audit/checkpoint": How(_audit("/v1/audit/checkpoint"), _no_such_route("GET")),
    "GET /v1/audit/key": How(_audit("/v1/audit/key"), _no_such_route("GET")),
    "GET /v1/audit/key/rotations": How(_audit("/v1/audit/key/rotations"), _no_such_route("GET")),
    "GET /v1/audit/entries": How(
        _audit("/v1/audit/entries", start="0", end="1"), _no_such_route("GET")
    ),
    "GET /v1/audit/proof/inclusion": How(
        _audit("/v1/audit/proof/inclusion", index="0", tree_size="1"), _no_such_route("GET")
    ),
    "GET /v1/audit/proof/inclusion @upload": How(_receipt, _no_such_route("GET")),
    "GET /v1/audit/proof/consistency": How(
        _audit("/v1/audit/proof/consistency", first="1", second="1"), _no_such_route("GET")
    ),
    "GET /v1/users/{username}/key": How(
        _audit("/v1/users/erin/key", since="1"), _absent("GET", "/v1/users/{}/key")
    ),
    "GET /v1/recovery-key": How(_audit("/v1/recovery-key", since="1"), _no_such_route("GET")),
}


# -- running cells ------------------------------------------------------------------------------


def _problem_key(response: httpx.Response) -> tuple[Any, Any, Any]:
    body = response.json()
    return body.get("type"), body.get("title"), body.get("status")


def _cell(cast: Cast, row: str, actor: str, want: int) -> Iterator[str]:
    """What is wrong with one cell (nothing, for a cell that agrees with the table)."""
    call = HOW[row].build(cast, actor)
    response = cast.send(call, actor)
    if response.status_code != want:
        yield f"expected {want}, got {response.status_code}: {response.text[:300]}"
        return
    if want in (401, 404) and response.headers.get("content-type") != PROBLEM:
        yield f"content-type {response.headers.get('content-type')!r}, not {PROBLEM}"
        return
    if want == 401:
        if not response.headers.get("www-authenticate", "").startswith("Bearer "):
            yield "401 without a Bearer WWW-Authenticate challenge"
        if response.json().get("type") != "urn:source-vault:problem:unauthenticated":
            yield f"401 problem type {response.json().get('type')!r}"
    if want == 404:
        missing = HOW[row].missing
        if missing is None:
            yield "a 404 cell in a row without a request for something missing"
            return
        reference = cast.send(missing(cast, actor), actor)
        if reference.status_code != 404:
            yield f"the request for something missing got {reference.status_code}, not 404"
        elif _problem_key(response) != _problem_key(reference):
            yield (
                f"404 {_problem_key(response)} differs from the 404 for something missing "
                f"{_problem_key(reference)}"
            )
    if call.after is not None:
        try:
            call.after(response)
        except AssertionError as exc:
            yield f"status {want} as expected, but: {exc or 'side effect check failed'}"


def _run(api: ApiWorld, rows: list[str]) -> None:
    cast = Cast(api)
    cast.prepare()
    failures = []
    for row in rows:
        for actor, want in zip(ACTORS, _expected(row), strict=True):
            failures.extend(f"{row} as {actor}: {msg}" for msg in _cell(cast, row, actor, want))
    assert not failures, "cells that disagree with MATRIX:\n" + "\n".join(failures)


# -- the tests --------------------------------------------------------------------------------


def _api_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every APIRoute, however the routers were included."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers were kept as such
        return {(m, r.path) for r in app.routes if isinstance(r, APIRoute) for m in r.methods}
    return {
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    }


def test_matrix_has_a_row_for_every_route_and_no_other(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))
    routes = _api_routes(app)
    in_matrix = {_parse(row) for row in MATRIX}
    assert len(routes) >= 20, routes  # a sanity check on the enumeration itself
    assert routes - in_matrix == set(), "routes without a row in MATRIX"
    assert in_matrix - routes == set(), "rows in MATRIX for routes that do not exist"
    # The OpenAPI document is a second, independent listing of the same operations.
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert documented <= in_matrix
    assert set(MATRIX) == set(HOW)
    for row in MATRIX:
        if 404 in _expected(row):
            assert HOW[row].missing is not None, row
    assert sorted(PUBLIC + AUTHENTICATED) == sorted(MATRIX)  # every row is run, once


PUBLIC = [
    "GET /healthz",
    "GET /readyz",
    "GET /docs",
    "GET /docs/assets/{name}",
    "POST /v1/auth/enroll",
    "POST /v1/auth/enroll/confirm",
    "POST /v1/auth/e2e/enroll/start",
    "POST /v1/auth/e2e/enroll",
    "POST /v1/auth/e2e/enroll/confirm",
    "POST /v1/auth/login",
]
# Every other row; logout last, as each of its cells ends the credential it was sent with.
AUTHENTICATED = [
    *(row for row in MATRIX if row not in PUBLIC and row != "POST /v1/auth/logout"),
    "POST /v1/auth/logout",
]


def test_public_routes_ignore_credentials(api: ApiWorld) -> None:
    _run(api, PUBLIC)


def test_authenticated_routes(api: ApiWorld) -> None:
    _run(api, AUTHENTICATED)
