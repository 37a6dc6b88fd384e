"""``POST /v1/sealed-documents``: a document an end-to-end client encrypted itself. The server
checks what it can without the key (the stream's header, length and commitment, one wrapped
copy for exactly each current recipient, a creation time near its clock) and stores nothing of
an upload it refuses; what it stores opens for every reader, server-side or end to end."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlmodel import select

from tests.api.conftest import ApiWorld
from tests.api.test_documents_api import assert_nothing_stored
from tests.support.sealed_uploads import CONTENT, KIND, Sealed, build_sealed
from vault import crypto
from vault.services import sealed_uploads
from vault.storage.models import AuditEntry, Document


def _sealed(api: ApiWorld) -> Sealed:
    """erin's upload of ``CONTENT`` into the fixture's case."""
    return build_sealed(
        api.client,
        api.auth("erin"),
        case_id=api.world.case_id,
        uploader_id=api.world.editor.user_id,
    )


def _post(api: ApiWorld, body: bytes, who: str = "erin") -> Any:
    headers = {**api.auth(who), "Content-Type": "multipart/form-data; boundary=sealedb0undary"}
    return api.client.post("/v1/sealed-documents", headers=headers, content=body)


def test_the_recipients_are_the_case_readers_and_the_recovery_key(api: ApiWorld) -> None:
    listed = api.client.get(
        f"/v1/cases/{api.world.case_id}/recipients", headers=api.auth("jules")
    ).json()
    assert sorted(m["username"] for m in listed["members"]) == ["erin", "jules"]
    assert abs(datetime.fromisoformat(listed["now"]) - api.world.vault.clock()) < timedelta(
        seconds=5
    )
    outside = api.client.get(f"/v1/cases/{uuid.uuid4()}/recipients", headers=api.auth("jules"))
    assert outside.status_code == 404


def test_a_sealed_upload_opens_for_every_reader(api: ApiWorld) -> None:
    sealed = _sealed(api)
    answer = _post(api, sealed.body())
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["id"] == str(sealed.doc_id)
    assert created["ciphertext_size"] == len(sealed.ciphertext)
    assert created["ciphertext_sha256"] == hashlib.sha256(sealed.ciphertext).hexdigest()
    entry = json.loads(base64.b64decode(created["log_entry"]))
    assert entry["action"] == "document.upload"
    assert entry["mode"] == "end-to-end"
    assert entry["targets"]["document"] == str(sealed.doc_id)
    # jules, in a server-side session, reads it through the server: the client's format is
    # the server's.
    content = api.client.get(f"/v1/documents/{sealed.doc_id}/content", headers=api.auth("jules"))
    assert content.status_code == 200, content.text
    assert content.content == CONTENT
    shown = api.client.get(f"/v1/documents/{sealed.doc_id}", headers=api.auth("jules")).json()
    assert (shown["title"], shown["size"]) == ("harbour minutes", len(CONTENT))
    # Nothing of the plaintext reached the database.
    with api.world.db() as db:
        row = db.get(Document, sealed.doc_id)
        assert row is not None
        assert row.sealed_metadata == sealed.metadata
        leaves = b"".join(bytes(e.leaf) for e in db.exec(select(AuditEntry)).all())
    assert b"harbour" not in leaves


def _drop_one(s: Sealed) -> None:
    s.keys.pop(next(iter(s.keys)))


def _add_stranger(s: Sealed) -> None:
    stranger = crypto.generate_private_key().public_key()
    s.keys[stranger.key_id] = crypto.wrap_key(
        s.data_key, stranger, kind=KIND, subject_id=s.doc_id, commitment=s.commitment
    )


def _other_commitment(s: Sealed) -> None:
    s.commitment = crypto.key_commitment(crypto.new_data_key(), kind=KIND, subject_id=s.doc_id)


def _other_document(s: Sealed) -> None:
    s.doc_id = uuid.uuid4()


def _truncated(s: Sealed) -> None:
    # Cut to less than a tag past a segment boundary: no stream has that length. (A cut
    # anywhere else leaves a length some stream has: only readers catch it, see below.)
    s.ciphertext = s.ciphertext[: crypto.HEADER_SIZE + 2 * (4096 + 16) + 15]


def _cut_at_a_segment(s: Sealed) -> None:
    s.ciphertext = s.ciphertext[: crypto.HEADER_SIZE + 4096 + 16] + b"x"


def _version_1(s: Sealed) -> None:
    s.ciphertext = s.ciphertext[:4] + b"\x01" + s.ciphertext[5:]


def _not_a_stream(s: Sealed) -> None:
    s.ciphertext = os.urandom(len(s.ciphertext))


def _only_a_header(s: Sealed) -> None:
    s.ciphertext = s.ciphertext[: crypto.HEADER_SIZE]


def _empty(s: Sealed) -> None:
    s.ciphertext = b""


def _short_key(s: Sealed) -> None:
    first = next(iter(s.keys))
    s.keys[first] = s.keys[first][:-1]


def _late(s: Sealed) -> None:
    s.created_at -= timedelta(minutes=6)


def _early(s: Sealed) -> None:
    s.created_at += timedelta(minutes=6)


def _naive(s: Sealed) -> None:
    s.created_at = s.created_at.replace(tzinfo=None)


def _no_metadata(s: Sealed) -> None:
    s.metadata = b""


def _huge_metadata(s: Sealed) -> None:
    s.metadata = os.urandom(200 * 1024)


def _nil_id(s: Sealed) -> None:
    s.doc_id = UUID(int=0)


def _short_commitment(s: Sealed) -> None:
    s.commitment = s.commitment[:31]


def _bad_keys_json(s: Sealed) -> None:
    s.fields["keys"] = '["not", "an", "object"]'


def _keys_not_base64(s: Sealed) -> None:
    s.fields["keys"] = json.dumps({k: "***" for k in s.keys})


def _unknown_field(s: Sealed) -> None:
    s.fields["title"] = "a title in the clear"


def _bad_time(s: Sealed) -> None:
    s.fields["created_at"] = "yesterday"


@pytest.mark.parametrize(
    ("tamper", "status"),
    [
        (_drop_one, 409),
        (_add_stranger, 409),
        (_other_commitment, 422),
        (_other_document, 422),
        (_truncated, 422),
        (_cut_at_a_segment, 422),
        (_version_1, 422),
        (_not_a_stream, 422),
        (_only_a_header, 422),
        (_empty, 422),
        (_short_key, 422),
        (_late, 422),
        (_early, 422),
        (_naive, 422),
        (_no_metadata, 422),
        (_huge_metadata, 422),
        (_nil_id, 422),
        (_short_commitment, 422),
        (_bad_keys_json, 422),
        (_keys_not_base64, 422),
        (_unknown_field, 422),
        (_bad_time, 422),
    ],
)
def test_what_the_server_can_check_is_refused_and_nothing_is_stored(
    api: ApiWorld, tamper: Callable[[Sealed], None], status: int
) -> None:
    sealed = _sealed(api)
    tamper(sealed)
    answer = _post(api, sealed.body())
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert_nothing_stored(api.world)


@pytest.mark.parametrize("cut", [1, 4096 + 16])
def test_a_cut_the_server_cannot_see_is_caught_by_every_reader(api: ApiWorld, cut: int) -> None:
    """A stream cut by a byte, or by its whole last segment, still has a length some stream
    has: the server stores it, and no reader gets a byte of a segment that does not
    authenticate (the server-side download breaks off before the cut segment)."""
    sealed = _sealed(api)
    sealed.ciphertext = sealed.ciphertext[:-cut]
    assert _post(api, sealed.body()).status_code == 201
    got = api.client.get(f"/v1/documents/{sealed.doc_id}/content", headers=api.auth("jules"))
    assert len(got.content) < len(CONTENT)
    assert len(got.content) % 4096 == 0  # whole segments that authenticated, nothing more
    assert CONTENT.startswith(got.content)


def test_the_metadata_must_follow_the_ciphertext(api: ApiWorld) -> None:
    answer = _post(api, _sealed(api).body(metadata_first=True))
    assert answer.status_code == 422, answer.text
    assert_nothing_stored(api.world)


def test_a_document_id_is_used_once(api: ApiWorld) -> None:
    sealed = _sealed(api)
    assert _post(api, sealed.body()).status_code == 201
    again = _post(api, replace(sealed, fields={}).body())
    assert again.status_code == 409, again.text


@pytest.mark.parametrize("declared", [True, False])
def test_over_the_size_limit_is_413_and_nothing_is_stored(
    api: ApiWorld, monkeypatch: pytest.MonkeyPatch, declared: bool
) -> None:
    """Found while the stream is checked (the plaintext it can hold passes the limit), with a
    declared length or without one."""
    body = _sealed(api).body()
    vault = api.world.vault
    monkeypatch.setattr(vault, "settings", vault.settings.with_overrides(max_upload_bytes=1000))
    headers = {**api.auth("erin"), "Content-Type": "multipart/form-data; boundary=sealedb0undary"}
    content = body if declared else iter([body[:5000], body[5000:]])
    answer = api.client.post("/v1/sealed-documents", headers=headers, content=content)
    assert answer.status_code == 413, answer.text
    assert_nothing_stored(api.world)


def test_outside_the_case_is_404(api: ApiWorld) -> None:
    sealed = _sealed(api)
    sealed.case_id = str(uuid.uuid4())
    answer = _post(api, sealed.body())
    assert answer.status_code == 404, answer.text
    assert_nothing_stored(api.world)


def test_a_member_who_joins_during_the_upload_makes_it_409(
    api: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipients are checked again in the transaction that records the document: a
    member who joins once the ciphertext is streaming is not left without a copy."""
    sealed = _sealed(api)
    newcomer = api.world.add_user("nadia", api.world.journalist.role, member=False)
    stream = sealed_uploads.put_pipelined

    def joined_midway(*args: Any, **kwargs: Any) -> Any:
        stored = stream(*args, **kwargs)
        api.world.add_member(newcomer)
        return stored

    monkeypatch.setattr(sealed_uploads, "put_pipelined", joined_midway)
    answer = _post(api, sealed.body())
    assert answer.status_code == 409, answer.text
    assert "recipients" in answer.json()["detail"]
    assert_nothing_stored(api.world)


def _framed(*parts: tuple[str, bytes, bool]) -> bytes:
    """A multipart body of ``(name, value, is_file)`` parts, in order."""
    out = b""
    for name, value, is_file in parts:
        extra = f'; filename="{name}"' if is_file else ""
        out += (
            (
                f'--sealedb0undary\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n'
            ).encode()
            + value
            + b"\r\n"
        )
    return out + b"--sealedb0undary--\r\n"


def _fields(s: Sealed) -> list[tuple[str, bytes, bool]]:
    keys = json.dumps({k: base64.b64encode(v).decode() for k, v in s.keys.items()})
    return [
        ("case", s.case_id.encode(), False),
        ("document", str(s.doc_id).encode(), False),
        ("created_at", s.created_at.isoformat().encode(), False),
        ("key_commitment", base64.b64encode(s.commitment), False),
        ("keys", keys.encode(), False),
    ]


def test_malformed_bodies_are_refused_and_nothing_is_stored(api: ApiWorld) -> None:
    sealed = _sealed(api)
    metadata = ("metadata", base64.b64encode(sealed.metadata), False)
    ciphertext = ("ciphertext", sealed.ciphertext, True)
    bodies = {
        "no ciphertext part": _framed(*_fields(sealed), metadata),
        "two file parts": _framed(*_fields(sealed), ciphertext, ciphertext, metadata),
        "metadata twice": _framed(*_fields(sealed), ciphertext, metadata, metadata),
        "a field after the metadata": _framed(
            *_fields(sealed), ciphertext, metadata, ("title", b"in the clear", False)
        ),
        "case not a UUID": _framed(
            ("case", b"harbour", False), *_fields(sealed)[1:], ciphertext, metadata
        ),
        "keys over the limit": _framed(
            *_fields(sealed)[:4],
            ("keys", b'{"a": "' + b"A" * (2 << 20) + b'"}', False),
            ciphertext,
            metadata,
        ),
        "metadata not base64": _framed(*_fields(sealed), ciphertext, ("metadata", b"***", False)),
        "truncated framing": _framed(*_fields(sealed), ciphertext, metadata)[:-40],
    }
    for what, body in bodies.items():
        answer = _post(api, body)
        assert answer.status_code in (413, 422), (what, answer.status_code, answer.text)
        assert answer.headers["content-type"] == "application/problem+json", what
        assert_nothing_stored(api.world)
    plain = api.client.post(
        "/v1/sealed-documents",
        headers={**api.auth("erin"), "Content-Type": "application/octet-stream"},
        content=sealed.ciphertext,
    )
    assert plain.status_code == 415
    assert_nothing_stored(api.world)
