"""Edits made directly in the database, outside the vault's code, by someone without the seal
key: each is refused, naming the record, by the action that would have used it, and fsck names
it too (docs/security-model.md, "An operator with database access"). SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.support.world import World
from vault.errors import IntegrityError
from vault.services import fsck
from vault.services.cases import Retention
from vault.services.documents import NewDocument
from vault.storage.models import Credential, CredentialKind, RetentionStart, Role


def _sql(world: World, statement: str, **params: object) -> None:
    with world.vault.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def _hex(value: uuid.UUID, world: World) -> object:
    # How the dialect stores a UUID column (32 hex digits on SQLite, uuid on PostgreSQL).
    return value.hex if world.vault.engine.dialect.name == "sqlite" else value


def _store(world: World) -> uuid.UUID:
    return world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[b"minutes"],
        document=NewDocument(title="m"),
    ).id


def _refused(record: object, call: object) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.reason == "row-seal"
    assert str(record) in str(caught.value)
    return caught.value


def _fsck_names(world: World, table: str, record: object) -> None:
    report = fsck.check(world.vault.engine, world.vault.blobs)
    assert (table, str(record)) in {(t, r) for t, r, _ in report.broken_seals}
    assert not report.clean


def test_a_document_moved_into_another_case_is_refused(world: World) -> None:
    doc = _store(world)
    other = world.vault.cases.create(world.admin, "other").id
    _sql(
        world,
        "UPDATE documents SET case_id = :c WHERE id = :d",
        c=_hex(other, world),
        d=_hex(doc, world),
    )
    _refused(doc, lambda: world.vault.documents.open(world.journalist, doc))
    _fsck_names(world, "documents", doc)


def test_a_misattributed_upload_is_refused(world: World) -> None:
    doc = _store(world)
    editor = _hex(world.editor.user_id, world)
    _sql(world, "UPDATE documents SET uploader_id = :u WHERE id = :d", u=editor, d=_hex(doc, world))
    _refused(doc, lambda: world.vault.documents.get(world.journalist, doc))
    _fsck_names(world, "documents", doc)


def test_a_shortened_retention_deletes_nothing(world: World) -> None:
    doc = _store(world)
    world.vault.cases.update(
        world.admin, world.case_id, retention=Retention(3650, RetentionStart.UPLOAD)
    )
    _sql(world, "UPDATE cases SET retain_days = 0 WHERE id = :c", c=_hex(world.case_id, world))
    _refused(world.case_id, world.vault.retention.run)
    _fsck_names(world, "cases", world.case_id)
    _, stream = _unsealed_read(world, doc)
    assert b"".join(stream) == b"minutes"


def _unsealed_read(world: World, doc: uuid.UUID) -> tuple[object, object]:
    # The document is still there: put the seal back as it was to read it.
    with world.vault.engine.begin() as conn:
        conn.execute(sa.text("UPDATE cases SET retain_days = 3650"))
    return world.vault.documents.open(world.journalist, doc)


def test_a_cleared_legal_hold_deletes_nothing(world: World) -> None:
    doc = _store(world)
    world.vault.holds.set_document(world.admin, doc, held=True)
    world.vault.cases.update(
        world.admin, world.case_id, retention=Retention(1, RetentionStart.UPLOAD)
    )
    _sql(
        world,
        "UPDATE documents SET held_at = NULL, created_at = :t WHERE id = :d",
        t=datetime(2000, 1, 1, tzinfo=UTC),
        d=_hex(doc, world),
    )
    _refused(doc, world.vault.retention.run)
    _fsck_names(world, "documents", doc)


def test_a_self_made_administrator_is_refused_at_authentication(world: World) -> None:
    token = world.tokens.get("journalist")
    if token is None:
        pytest.skip("the template has no session of the journalist")
    _sql(
        world,
        "UPDATE users SET role = 'admin' WHERE id = :u",
        u=_hex(world.journalist.user_id, world),
    )
    _refused(world.journalist.user_id, lambda: world.vault.auth.authenticate(token))
    _fsck_names(world, "users", world.journalist.user_id)


def test_a_swapped_public_key_gets_no_new_document_key(world: World) -> None:
    _sql(
        world,
        "UPDATE users SET public_key = :k WHERE id = :u",
        k=bytes(32),
        u=_hex(world.editor.user_id, world),
    )
    _refused(world.editor.user_id, lambda: _store(world))
    _fsck_names(world, "users", world.editor.user_id)


def test_a_swapped_recovery_key_gets_no_new_document_key(world: World) -> None:
    _sql(world, "UPDATE recovery_keys SET public_key = :k", k=bytes(32))
    _refused(world.init.recovery_key_id, lambda: _store(world))
    _fsck_names(world, "recovery_keys", world.init.recovery_key_id)


def test_an_inserted_approval_gets_no_key(world: World) -> None:
    outsider = world.add_user("outsider", Role.JOURNALIST, member=False)
    doc = _store(world)
    now = datetime.now(UTC)
    _sql(
        world,
        "INSERT INTO case_members (case_id, user_id, added_at, keys_pending, approved_by, "
        "approved_at) VALUES (:c, :u, :t, :p, :a, :t)",
        c=_hex(world.case_id, world),
        u=_hex(outsider.user_id, world),
        t=now,
        p=True,
        a=_hex(world.editor.user_id, world),
    )
    record = f"{world.case_id}/{outsider.user_id}"
    # The next request of a member who can read completes flagged grants: refused.
    token = world.tokens.get("editor")
    if token is not None:
        _refused(record, lambda: world.vault.auth.authenticate(token))
    # A new document is wrapped for the case's approved members: refused.
    _refused(record, lambda: _store(world))
    with pytest.raises(Exception):  # noqa: B017, PT011 - no key of the document was given
        world.vault.documents.open(outsider, doc)
    _fsck_names(world, "case_members", record)


def test_an_inserted_credential_is_refused(world: World) -> None:
    from vault import crypto

    token = "forged-token-0123456789abcdef"
    now = datetime.now(UTC)
    _sql(
        world,
        "INSERT INTO credentials (id, token_hash, kind, user_id, scopes, created_at, "
        "last_used_at, expires_at, with_otp) VALUES (:i, :h, 'session', :u, 'read,write', :t, "
        ":t, :e, :o)",
        i=_hex(uuid.UUID(int=7), world),
        h=crypto.hash_bearer_token(token),
        u=_hex(world.admin.user_id, world),
        t=now,
        e=now + timedelta(hours=1),
        o=True,
    )
    _refused(uuid.UUID(int=7), lambda: world.vault.auth.authenticate(token))
    _fsck_names(world, "credentials", uuid.UUID(int=7))


def test_an_unrevoked_credential_is_refused(world: World) -> None:
    token = world.tokens.get("editor")
    if token is None:
        pytest.skip("the template has no session of the editor")
    actor = world.vault.auth.authenticate(token)
    world.vault.auth.logout(actor)
    with world.db() as db:
        row = db.get(Credential, actor.credential_id)
        assert row is not None
        assert row.kind == CredentialKind.SESSION
    _sql(
        world,
        "UPDATE credentials SET revoked_at = NULL WHERE id = :i",
        i=_hex(actor.credential_id, world),
    )  # type: ignore[arg-type]
    _refused(actor.credential_id, lambda: world.vault.auth.authenticate(token))
    _fsck_names(world, "credentials", actor.credential_id)
