"""Inputs at the edges that once ended in a 500, a redirect to someone else's host, or a value
the other text fields refuse: each is now a 4xx problem document, and "not there" and "not
yours" do the same work. Found by an outside attack on a live server (issue 13, items 7 and 8)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.api.conftest import ApiWorld
from tests.api.test_auth import OTHER_PASSPHRASE, Env, enroll
from tests.api.test_auth import totp_env as totp_env  # the fixture, shared
from tests.conftest import PASSPHRASE
from vault import crypto
from vault.errors import InvalidInput, NotFound
from vault.freetext import (
    LINE_PATTERN,
    NONBLANK_LINE_PATTERN,
    NONBLANK_TEXT_PATTERN,
    TEXT_PATTERN,
)
from vault.services.documents import NewDocument
from vault.storage.models import Role

PROBLEM = "application/problem+json"
HUGE = 2**63  # one past the largest BIGINT
HUGER = 2**64 + 7


def assert_problem(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    """A problem document with ``status`` (never a 5xx)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# -- the access log's numbers beyond 2^63 ---------------------------------------------------

LOG_QUERIES = [
    f"/v1/audit/entries?start=0&end={HUGE}",
    f"/v1/audit/entries?start={HUGE}&end={HUGER}",
    f"/v1/audit/proof/inclusion?index={HUGE}&tree_size={HUGER}",
    f"/v1/audit/proof/inclusion?index=0&tree_size={HUGE}",
    f"/v1/audit/proof/consistency?first={HUGE}&second={HUGER}",
    f"/v1/audit/proof/consistency?first=1&second={HUGER}",
]


def test_log_numbers_beyond_the_database_are_refused(api: ApiWorld) -> None:
    for who in ("admin", "jules"):
        for query in LOG_QUERIES:
            body = assert_problem(api.client.get(query, headers=api.auth(who)))
            assert body["type"] == "urn:source-vault:problem:validation", (who, query)


def test_the_largest_index_is_still_an_ordinary_question(api: ApiWorld) -> None:
    largest = 2**63 - 1
    entries = api.client.get(
        f"/v1/audit/entries?start={largest - 1}&end={largest}", headers=api.auth("admin")
    )
    assert entries.status_code == 200, entries.text
    assert entries.json() == {"entries": []}
    proof = api.client.get(
        f"/v1/audit/proof/inclusion?index=0&tree_size={largest}", headers=api.auth("jules")
    )
    assert proof.status_code in (404, 422)  # not theirs, or past the log's size: never a 500


# -- list cursors at the edges of the calendar ---------------------------------------------


def _cursor(created: str) -> str:
    raw = f"{created}|{uuid.uuid4()}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


NO_UTC_TIME = [
    "0001-01-01T00:00:00+05:00",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-05:00",
    "9999-12-31T23:59:59.999999-23:59",
    "2026-01-01T00:00:00",  # no time zone
    "not a date",
]


def test_a_cursor_with_no_utc_time_is_invalid_input(api: ApiWorld) -> None:
    for created in NO_UTC_TIME:
        response = api.client.get(
            "/v1/documents",
            params={"case": str(api.world.case_id), "cursor": _cursor(created)},
            headers=api.auth("jules"),
        )
        assert assert_problem(response)["detail"] == "cursor is not valid", created


def test_a_cursor_at_the_calendars_edge_in_utc_pages_normally(api: ApiWorld) -> None:
    api.upload("jules", b"first")
    for created, found in [("0001-01-01T00:00:00+00:00", 1), ("9999-12-31T23:59:59+00:00", 0)]:
        response = api.client.get(
            "/v1/documents",
            params={"case": str(api.world.case_id), "cursor": _cursor(created)},
            headers=api.auth("jules"),
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["documents"]) == found


# -- multipart boundaries ------------------------------------------------------------------


def _post_multipart(api: ApiWorld, boundary: str, body: bytes) -> httpx.Response:
    return api.client.post(
        "/v1/documents",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}", **api.auth("jules")},
    )


def test_a_boundary_rfc_2046_does_not_allow_is_refused(api: ApiWorld) -> None:
    for boundary in ["a" * 257, "a" * 71, "bad\\boundary", '""']:
        response = _post_multipart(api, boundary, f"--{boundary}\r\n".encode())
        assert assert_problem(response)["detail"].startswith("a multipart boundary is")
    assert list(api.world.vault.blobs.blob_ids()) == []
    boundary = "b" * 70  # the longest one allowed still uploads
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="case"\r\n\r\n'
        f"{api.world.case_id}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nlong\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
        f"content\r\n--{boundary}--\r\n"
    ).encode()
    created = _post_multipart(api, boundary, body)
    assert created.status_code == 201, created.text


# -- one-time codes in other scripts' digits -----------------------------------------------

NON_ASCII_CODES = {
    "arabic-indic": "\u0661\u0662\u0663\u0664\u0665\u0666",
    "extended arabic-indic": "\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6",
    "full-width": "\uff11\uff12\uff13\uff14\uff15\uff16",
    "devanagari": "\u0967\u0968\u0969\u096a\u096b\u096c",
    "mixed": "12345\u0666",
}


@pytest.mark.parametrize("code", NON_ASCII_CODES.values(), ids=NON_ASCII_CODES.keys())
def test_a_code_in_other_digits_matches_no_step(code: str) -> None:
    secret = crypto.new_totp_secret()
    at = 1_800_000_000.0
    ascii_code = crypto.totp_code(secret, at)
    assert crypto.totp_step(secret, ascii_code, at) is not None
    assert crypto.totp_step(secret, code, at) is None


def test_a_one_time_code_in_other_digits_is_a_wrong_code(totp_env: Env) -> None:
    env = totp_env
    invite = env.invite("erin", Role.EDITOR)
    assert enroll(env, "erin", invite).status_code == 200
    # Each attempt costs a passphrase derivation (the code is checked after the passphrase),
    # so the codes are shared between the two ways in, which read them with one function.
    for name in ("arabic-indic", "full-width"):
        code = NON_ASCII_CODES[name]
        confirm = env.client.post(
            "/v1/auth/enroll/confirm",
            json={"username": "erin", "passphrase": OTHER_PASSPHRASE, "otp": code},
        )
        # A wrong code, counted as a failed attempt (so soon throttled): never a 500.
        assert confirm.status_code in (401, 429), (name, confirm.text)
        assert confirm.headers["content-type"] == PROBLEM
    for name in ("mixed",):
        login = env.login("admin", PASSPHRASE, NON_ASCII_CODES[name])
        assert login.status_code in (401, 429), (name, login.text)
        assert login.headers["content-type"] == PROBLEM


# -- non-finite numbers ----------------------------------------------------------------------


def test_non_finite_numbers_are_refused_everywhere(api: ApiWorld) -> None:
    headers = {"content-type": "application/json", **api.auth("erin")}
    for literal in ["Infinity", "-Infinity", "NaN", "1e400"]:
        token = api.client.post(
            "/v1/tokens",
            content=f'{{"name": "n", "scopes": ["read"], "expires_in": {literal}}}'.encode(),
            headers=headers,
        )
        assert_problem(token)
        span = f'{{"kind": "span", "category": "other", "start": 0, "end": {literal}}}'
        response = api.client.post(
            f"/v1/documents/{uuid.uuid4()}/redactions", content=span.encode(), headers=headers
        )
        assert_problem(response)


def test_a_token_lifetime_over_the_setting_is_refused_as_the_schema_says(api: ApiWorld) -> None:
    schema = api.client.get("/openapi.json").json()
    lifetime = schema["components"]["schemas"]["TokenCreate"]["properties"]["expires_in"]
    assert lifetime["maximum"] == api.world.vault.settings.token_max_days * 86400
    over = api.client.post(
        "/v1/tokens",
        json={"name": "n", "scopes": ["read"], "expires_in": lifetime["maximum"] + 1},
        headers=api.auth("erin"),
    )
    assert_problem(over)


# -- a trailing slash is a plain 404, whatever the Host says ------------------------------


def test_a_trailing_slash_is_not_redirected_to_the_host_header(api: ApiWorld) -> None:
    for path in ["/v1/cases/", "/v1/documents/", "/v1/auth/me/", "/healthz/"]:
        response = api.client.get(
            path, headers={"host": "evil.example", **api.auth("jules")}, follow_redirects=False
        )
        assert_problem(response, 404)
        assert "location" not in response.headers


# -- control characters in free text --------------------------------------------------------


def test_control_characters_are_refused_in_every_free_text_field(api: ApiWorld) -> None:
    source = api.client.post(
        "/v1/sources",
        json={"case": str(api.world.case_id), "notes": "first line\nsecond\tcolumn"},
        headers=api.auth("jules"),
    )
    assert source.status_code == 201, source.text  # notes may run over lines
    identity = f"/v1/sources/{source.json()['id']}/identity"
    for reason in ["to\x00check", "line\nbreak", "esc\x1b[31mape", "c1\x85char"]:
        assert_problem(
            api.client.get(identity, params={"reason": reason}, headers=api.auth("jules"))
        )
    ok = api.client.get(identity, params={"reason": "fact check"}, headers=api.auth("jules"))
    assert ok.status_code == 200, ok.text

    bad = {
        "/v1/cases": ({"name": "two\nlines"}, "admin"),
        "/v1/tokens": ({"name": "tab\there", "scopes": ["read"]}, "jules"),
        "/v1/sources": (
            {"case": str(api.world.case_id), "names": ["Marisol\x1bQuintero"]},
            "jules",
        ),
    }
    for path, (body, who) in bad.items():
        assert_problem(api.client.post(path, json=body, headers=api.auth(who)))
    blank = api.client.post("/v1/cases", json={"name": "   "}, headers=api.auth("admin"))
    assert_problem(blank)

    for field, value in [("title", "a\ttitle"), ("kind", "state\x07ment"), ("notes", "x\x00y")]:
        data = {"case": str(api.world.case_id), "title": "t", field: value}
        response = api.client.post(
            "/v1/documents",
            headers=api.auth("jules"),
            data=data,
            files={"file": ("x.txt", b"x", "text/plain")},
        )
        assert_problem(response)
    assert list(api.world.vault.blobs.blob_ids()) == []
    with pytest.raises(InvalidInput, match="control characters"):
        api.world.vault.documents.add(
            api.world.journalist,
            case_id=api.world.case_id,
            content=iter([b"x"]),
            document=NewDocument(title="line\nbreak"),
        )


def test_control_characters_are_refused_in_redaction_text(api: ApiWorld) -> None:
    doc = api.upload("erin", b"Marisol Quintero was there.")["id"]
    for body in [
        {"kind": "term", "term": "Mari\x1bsol", "category": "other"},
        {"kind": "term", "term": "Marisol\nQuintero", "category": "other"},
        {"kind": "term", "term": "Marisol", "category": "other", "note": "bell\x07"},
    ]:
        response = api.client.post(
            f"/v1/documents/{doc}/redactions", json=body, headers=api.auth("erin")
        )
        assert_problem(response)
    made = api.client.post(
        f"/v1/documents/{doc}/redactions",
        json={"kind": "term", "term": "Marisol", "category": "other", "note": "two\nlines"},
        headers=api.auth("erin"),
    )
    assert made.status_code == 201, made.text
    for marker in ["[RE\nDACTED]", "\x1b[0m"]:
        response = api.client.get(
            f"/v1/documents/{doc}/export",
            params={"redacted": "true", "marker": marker},
            headers=api.auth("erin"),
        )
        assert_problem(response)


# -- "not there" and "not yours" do the same work -------------------------------------------


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block, in order."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _not_found(call: Any) -> None:
    with pytest.raises(NotFound):
        call()


def test_a_document_not_yours_and_one_not_there_cost_the_same_queries(api: ApiWorld) -> None:
    world = api.world
    otto = world.add_user("otto", Role.JOURNALIST, member=False)
    other = world.vault.cases.create(world.admin, "other-case")
    world.vault.cases.add_member(world.admin, other.id, "otto")  # its founding member
    theirs = world.vault.documents.add(
        otto,
        case_id=other.id,
        content=iter([b"not for jules"]),
        document=NewDocument(title="elsewhere"),
    )
    jules = world.journalist
    engine = world.vault.engine
    for call in (world.vault.documents.get, world.vault.documents.open):
        with statements(engine) as not_yours:
            _not_found(lambda call=call: call(jules, theirs.id))
        with statements(engine) as not_there:
            _not_found(lambda call=call: call(jules, uuid.uuid4()))
        assert not_yours == not_there
        assert len(not_yours) >= 2  # the document and the membership


def test_a_case_not_yours_and_one_not_there_cost_the_same_queries(api: ApiWorld) -> None:
    world = api.world
    other = world.vault.cases.create(world.admin, "other-case")
    with statements(world.vault.engine) as not_yours:
        _not_found(lambda: world.vault.cases.get(world.journalist, other.id))
    with statements(world.vault.engine) as not_there:
        _not_found(lambda: world.vault.cases.get(world.journalist, uuid.uuid4()))
    assert not_yours == not_there
    assert len(not_yours) == 2  # the case and the membership
    # And over HTTP the two answers are the same.
    answers = [
        api.client.get(f"/v1/cases/{case}", headers=api.auth("jules"))
        for case in (other.id, uuid.uuid4())
    ]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json() == answers[1].json()


# -- the schema says what the server enforces -------------------------------------------------


def test_the_schema_states_the_rules_the_server_keeps(api: ApiWorld) -> None:
    schema = api.client.get("/openapi.json").json()
    parts = schema["components"]["schemas"]

    def prop(model: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = parts[model]["properties"][name]
        return found.get("anyOf", [found])[0]  # the non-null branch of an optional field

    def param(path: str, method: str, name: str) -> dict[str, Any]:
        found = next(p for p in schema["paths"][path][method]["parameters"] if p["name"] == name)
        schema_: dict[str, Any] = found["schema"]
        return schema_.get("anyOf", [schema_])[0]

    # A redaction is a span, a term or a region, each with its own fields and nothing else.
    body = schema["paths"]["/v1/documents/{document_id}/redactions"]["post"]["requestBody"]
    shapes = body["content"]["application/json"]["schema"]
    assert shapes["discriminator"]["propertyName"] == "kind"
    assert parts["SpanCreate"]["required"] == ["category", "kind", "start", "end"]
    assert parts["RegionCreate"]["additionalProperties"] is False
    corner = prop("RegionCreate", "rect")["items"]
    assert (corner["minimum"], corner["maximum"]) == (0, 65535)
    # Free text: patterns, and not blank where the service strips.
    assert prop("TermCreate", "term")["pattern"] == NONBLANK_LINE_PATTERN
    assert prop("RejectNote", "note")["pattern"] == NONBLANK_TEXT_PATTERN
    assert prop("CaseCreate", "name")["pattern"] == NONBLANK_LINE_PATTERN
    assert prop("TokenCreate", "name")["pattern"] == NONBLANK_LINE_PATTERN
    assert prop("SourceCreate", "notes")["pattern"] == TEXT_PATTERN
    assert prop("SourceCreate", "names")["items"]["pattern"] == LINE_PATTERN
    assert param("/v1/sources/{source_id}/identity", "get", "reason")["pattern"] == LINE_PATTERN
    upload = schema["paths"]["/v1/documents"]["post"]["requestBody"]["content"]
    fields = upload["multipart/form-data"]["schema"]["properties"]
    assert fields["title"]["pattern"] == NONBLANK_LINE_PATTERN
    assert fields["notes"]["pattern"] == TEXT_PATTERN
    # Ranges and the one value a parameter may have.
    assert param("/v1/audit/entries", "get", "end")["maximum"] == 2**63 - 1
    assert param("/v1/documents/{document_id}/export", "get", "redacted")["enum"] == [True]
    assert param("/v1/documents", "get", "cursor")["pattern"] == "^[A-Za-z0-9_-]+$"
