"""Edits made directly in the database, outside the vault's code, by someone without the seal
key: each is refused, naming the record, by the action that would have used it, and fsck names
it too (docs/security-model.md, "An operator with database access"). SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.support.world import PASSPHRASE, World
from vault.errors import IntegrityError
from vault.services import fsck
from vault.services.cases import Retention
from vault.services.documents import DocumentInfo, NewDocument
from vault.services.users import Actor
from vault.storage.models import Credential, CredentialKind, RetentionStart, Role

# The helpers below are shared by the other tampering tests (tests/vault/test_tampered_records.py,
# tests/api/test_tampered_api.py, tests/cli/test_fsck_seals.py).


def sql(world: World, statement: str, **params: object) -> None:
    """An edit made in SQL on the vault's database, outside its code and without its seal key."""
    with world.vault.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def stored(value: uuid.UUID | None, world: World) -> object:
    """``value`` as the dialect stores a UUID column (32 hex digits on SQLite, uuid on
    PostgreSQL), for a parameter of ``sql``."""
    assert value is not None
    return value.hex if world.vault.engine.dialect.name == "sqlite" else value


def token_of(world: World, actor: Actor) -> str:
    """A session token of ``actor``: the template's (``World.tokens``, by username), or a new
    login where the world was built without one."""
    token = world.tokens.get(actor.username)
    if token is None:
        token = world.vault.auth.login(actor.username, PASSPHRASE, None, address="127.0.0.1").token
        world.tokens[actor.username] = token
    return token


def store(world: World) -> uuid.UUID:
    """A new document of the world's case, uploaded by its journalist."""
    return world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[b"minutes"],
        document=NewDocument(title="m"),
    ).id


def refused(record: object, call: object) -> IntegrityError:
    """``call()`` raises the row seal's ``IntegrityError``, naming ``record``."""
    with pytest.raises(IntegrityError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.reason == "row-seal"
    assert str(record) in str(caught.value)
    return caught.value


def fsck_names(world: World, table: str, record: object) -> None:
    """``vault fsck``'s check lists ``record`` of ``table`` among the broken seals."""
    report = fsck.check(world.vault.engine, world.vault.blobs)
    assert (table, str(record)) in {(t, r) for t, r, _ in report.broken_seals}
    assert not report.clean


def test_a_document_moved_into_another_case_is_refused(world: World) -> None:
    doc = store(world)
    other = world.vault.cases.create(world.admin, "other").id
    sql(
        world,
        "UPDATE documents SET case_id = :c WHERE id = :d",
        c=stored(other, world),
        d=stored(doc, world),
    )
    refused(doc, lambda: world.vault.documents.open(world.journalist, doc))
    fsck_names(world, "documents", doc)


def test_a_misattributed_upload_is_refused(world: World) -> None:
    doc = store(world)
    editor = stored(world.editor.user_id, world)
    sql(
        world, "UPDATE documents SET uploader_id = :u WHERE id = :d", u=editor, d=stored(doc, world)
    )
    refused(doc, lambda: world.vault.documents.get(world.journalist, doc))
    fsck_names(world, "documents", doc)


def test_a_shortened_retention_deletes_nothing(world: World) -> None:
    doc = store(world)
    world.vault.cases.update(
        world.admin, world.case_id, retention=Retention(3650, RetentionStart.UPLOAD)
    )
    sql(world, "UPDATE cases SET retain_days = 0 WHERE id = :c", c=stored(world.case_id, world))
    refused(world.case_id, world.vault.retention.run)
    fsck_names(world, "cases", world.case_id)
    _, stream = _unsealed_read(world, doc)
    assert b"".join(stream) == b"minutes"


def _unsealed_read(world: World, doc: uuid.UUID) -> tuple[DocumentInfo, Iterator[bytes]]:
    # The document is still there: put the seal back as it was to read it.
    with world.vault.engine.begin() as conn:
        conn.execute(sa.text("UPDATE cases SET retain_days = 3650"))
    return world.vault.documents.open(world.journalist, doc)


def test_a_cleared_legal_hold_deletes_nothing(world: World) -> None:
    doc = store(world)
    world.vault.holds.set_document(world.admin, doc, held=True)
    world.vault.cases.update(
        world.admin, world.case_id, retention=Retention(1, RetentionStart.UPLOAD)
    )
    sql(
        world,
        "UPDATE documents SET held_at = NULL, created_at = :t WHERE id = :d",
        t=datetime(2000, 1, 1, tzinfo=UTC),
        d=stored(doc, world),
    )
    refused(doc, world.vault.retention.run)
    fsck_names(world, "documents", doc)


def test_a_self_made_administrator_is_refused_at_authentication(world: World) -> None:
    token = token_of(world, world.journalist)
    sql(
        world,
        "UPDATE users SET role = 'admin' WHERE id = :u",
        u=stored(world.journalist.user_id, world),
    )
    refused(world.journalist.user_id, lambda: world.vault.auth.authenticate(token))
    fsck_names(world, "users", world.journalist.user_id)


def test_a_swapped_public_key_gets_no_new_document_key(world: World) -> None:
    sql(
        world,
        "UPDATE users SET public_key = :k WHERE id = :u",
        k=bytes(32),
        u=stored(world.editor.user_id, world),
    )
    refused(world.editor.user_id, lambda: store(world))
    fsck_names(world, "users", world.editor.user_id)


def test_a_swapped_recovery_key_gets_no_new_document_key(world: World) -> None:
    sql(world, "UPDATE recovery_keys SET public_key = :k", k=bytes(32))
    refused(world.init.recovery_key_id, lambda: store(world))
    fsck_names(world, "recovery_keys", world.init.recovery_key_id)


def test_an_inserted_approval_gets_no_key(world: World) -> None:
    outsider = world.add_user("outsider", Role.JOURNALIST, member=False)
    doc = store(world)
    now = datetime.now(UTC)
    sql(
        world,
        "INSERT INTO case_members (case_id, user_id, added_at, keys_pending, approved_by, "
        "approved_at) VALUES (:c, :u, :t, :p, :a, :t)",
        c=stored(world.case_id, world),
        u=stored(outsider.user_id, world),
        t=now,
        p=True,
        a=stored(world.editor.user_id, world),
    )
    record = f"{world.case_id}/{outsider.user_id}"
    # The next request of a member who can read completes flagged grants: refused.
    token = token_of(world, world.editor)
    refused(record, lambda: world.vault.auth.authenticate(token))
    # A new document is wrapped for the case's approved members: refused.
    refused(record, lambda: store(world))
    with pytest.raises(Exception):  # noqa: B017, PT011 - no key of the document was given
        world.vault.documents.open(outsider, doc)
    fsck_names(world, "case_members", record)


def test_an_inserted_credential_is_refused(world: World) -> None:
    from vault import crypto

    token = "forged-token-0123456789abcdef"
    now = datetime.now(UTC)
    sql(
        world,
        "INSERT INTO credentials (id, token_hash, kind, user_id, scopes, created_at, "
        "last_used_at, expires_at, with_otp) VALUES (:i, :h, 'session', :u, 'read,write', :t, "
        ":t, :e, :o)",
        i=stored(uuid.UUID(int=7), world),
        h=crypto.hash_bearer_token(token),
        u=stored(world.admin.user_id, world),
        t=now,
        e=now + timedelta(hours=1),
        o=True,
    )
    refused(uuid.UUID(int=7), lambda: world.vault.auth.authenticate(token))
    fsck_names(world, "credentials", uuid.UUID(int=7))


def test_an_unrevoked_credential_is_refused(world: World) -> None:
    token = token_of(world, world.editor)
    actor = world.vault.auth.authenticate(token)
    world.vault.auth.logout(actor)
    with world.db() as db:
        row = db.get(Credential, actor.credential_id)
        assert row is not None
        assert row.kind == CredentialKind.SESSION
    sql(
        world,
        "UPDATE credentials SET revoked_at = NULL WHERE id = :i",
        i=stored(actor.credential_id, world),
    )
    refused(actor.credential_id, lambda: world.vault.auth.authenticate(token))
    fsck_names(world, "credentials", actor.credential_id)
