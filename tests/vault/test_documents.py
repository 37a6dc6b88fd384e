"""The document service on SQLite and PostgreSQL: round trips, reach, grants, shredding."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlmodel import select

from tests.conftest import PASSPHRASE, World
from vault.clock import system_clock
from vault.errors import Conflict, IntegrityError, LimitExceeded, NotFound
from vault.services import grants, keyring, users
from vault.services.documents import NewDocument
from vault.storage.models import CaseMember, Document, Role, User, WrappedKey

TESTIMONY = b"Testimony of an attendee of the 2019 training programme" * 300


def store(world: World, content: bytes = TESTIMONY, **meta: object) -> uuid.UUID:
    info = world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[content[i : i + 1000] for i in range(0, len(content), 1000)],
        document=NewDocument(title=str(meta.pop("title", "testimony")), **meta),  # type: ignore[arg-type]
    )
    return info.id


def read(world: World, actor: object, doc_id: uuid.UUID) -> bytes:
    _, stream = world.vault.documents.open(actor, doc_id)  # type: ignore[arg-type]
    return b"".join(stream)


def test_round_trip_keeps_content_and_metadata(world: World) -> None:
    doc_id = store(world, filename="agenda.pdf", media_type="application/pdf", notes="via Signal")
    info, stream = world.vault.documents.open(world.editor, doc_id)
    assert b"".join(stream) == TESTIMONY
    assert info.metadata is not None
    assert info.metadata.title == "testimony"
    assert info.metadata.filename == "agenda.pdf"
    assert info.metadata.media_type == "application/pdf"
    assert info.metadata.notes == "via Signal"
    assert info.metadata.sha256 == hashlib.sha256(TESTIMONY).hexdigest()
    assert info.metadata.size == len(TESTIMONY)
    assert info.ciphertext_size > len(TESTIMONY)


def test_empty_document_round_trips(world: World) -> None:
    doc_id = store(world, b"")
    assert read(world, world.journalist, doc_id) == b""


def test_key_is_wrapped_for_every_member_and_the_recovery_key(world: World) -> None:
    doc_id = store(world)
    with world.db() as db:
        holders = set(
            db.exec(
                select(WrappedKey.recipient_key_id).where(WrappedKey.subject_id == doc_id)
            ).all()
        )
    expected = {
        world.editor.require_key().public_key().key_id,
        world.journalist.require_key().public_key().key_id,
        world.init.recovery_key_id,
    }
    assert holders == expected


def test_non_member_and_admin_get_not_found_like_a_missing_document(world: World) -> None:
    doc_id = store(world)
    outsider = world.add_user("olga", Role.EDITOR, member=False)
    for actor in (outsider, world.admin):
        with pytest.raises(NotFound) as exc_info:
            world.vault.documents.open(actor, doc_id)
        with pytest.raises(NotFound) as missing:
            world.vault.documents.open(actor, uuid.uuid4())
        assert str(exc_info.value) == str(missing.value)
        with pytest.raises(NotFound):
            world.vault.documents.get(actor, doc_id)
        with pytest.raises(NotFound):
            world.vault.documents.list(actor, world.case_id)


def test_non_member_cannot_upload_into_a_case(world: World) -> None:
    outsider = world.add_user("olga", Role.JOURNALIST, member=False)
    with pytest.raises(NotFound):
        world.vault.documents.add(
            outsider, case_id=world.case_id, content=[b"x"], document=NewDocument(title="t")
        )


def test_new_member_sees_pending_until_a_reader_approves(world: World) -> None:
    doc_id = store(world)
    late = world.add_user("lena", Role.JOURNALIST, member=False)
    world.add_member(late, approve=False)
    listing = world.vault.documents.list(late, world.case_id)
    assert [(d.id, d.pending) for d in listing] == [(doc_id, True)]
    with pytest.raises(Conflict):
        world.vault.documents.open(late, doc_id)
    # Awaiting approval: no grant is pending for them, and nobody's login completes one.
    with world.db() as db:
        assert grants.pending_grants(db, world.case_id) == []
    world.vault.auth.login("erin", PASSPHRASE, None, address="127.0.0.1")
    with pytest.raises(Conflict):
        world.vault.documents.open(late, doc_id)
    # Nor are documents stored meanwhile wrapped for them.
    later_id = store(world, b"second document")
    with pytest.raises(Conflict):
        world.vault.documents.open(late, later_id)
    # A reader's approval wraps every key the reader holds at once.
    assert world.vault.cases.approve(world.editor, world.case_id, late.username)
    assert read(world, late, doc_id) == TESTIMONY
    assert read(world, late, later_id) == b"second document"
    assert read(world, late, store(world, b"third")) == b"third"
    with world.db() as db:
        assert grants.pending_grants(db, world.case_id) == []


def test_a_members_request_completes_flagged_grants_and_then_scans_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc_id = store(world)
    token = world.vault.auth.login("erin", PASSPHRASE, None, address="127.0.0.1").token
    late = world.add_user("lena", Role.JOURNALIST, member=False)
    world.vault.cases.add_member(world.admin, world.case_id, late.username)
    with world.db() as db:
        # Approved by a member who holds no key of the document: the grant stays pending and
        # flagged, for the next member who can complete it.
        member = db.get(CaseMember, (world.case_id, late.user_id))
        member.approved_at = system_clock()
        db.add(member)
        db.commit()
        assert db.get(CaseMember, (world.case_id, late.user_id)).keys_pending
    world.vault.auth.authenticate(token)  # erin's next request wraps the key for lena
    assert read(world, late, doc_id) == TESTIMONY
    with world.db() as db:
        assert not db.get(CaseMember, (world.case_id, late.user_id)).keys_pending

    def scan(*args: object, **kwargs: object) -> list[grants.PendingGrant]:
        raise AssertionError("a request scanned the documents with nothing flagged")

    with world.db() as db:  # the flags of the fixture's own memberships clear on first use
        for member in db.exec(select(CaseMember)):
            member.keys_pending = False
            db.add(member)
        db.commit()
    monkeypatch.setattr(grants, "pending_grants", scan)
    world.vault.auth.authenticate(token)


def test_a_new_key_pair_flags_the_members_cases(world: World) -> None:
    with world.db() as db:
        member = db.get(CaseMember, (world.case_id, world.journalist.user_id))
        member.keys_pending = False
        db.add(member)
        user = db.get(User, world.journalist.user_id)
        users.set_passphrase(db, user, "another correct horse battery", world.vault.settings.argon2)
        db.commit()
        assert db.get(CaseMember, (world.case_id, world.journalist.user_id)).keys_pending


def test_removed_member_loses_every_wrapped_key_of_the_case(world: World) -> None:
    doc_id = store(world)
    key_id = world.journalist.require_key().public_key().key_id
    world.vault.cases.remove_member(world.admin, world.case_id, "jules")
    with world.db() as db:
        left = db.exec(select(WrappedKey).where(WrappedKey.recipient_key_id == key_id)).all()
    assert left == []
    with pytest.raises(NotFound):
        world.vault.documents.open(world.journalist, doc_id)
    assert read(world, world.editor, doc_id) == TESTIMONY


def test_delete_is_a_crypto_shred(world: World) -> None:
    doc_id = store(world)
    with world.db() as db:
        row = db.get(Document, doc_id)
        assert row is not None
        blob_id = row.blob_id
        wrapped = [w.wrapped for w in db.exec(select(WrappedKey)).all()]
    with pytest.raises(NotFound):
        world.vault.documents.delete(world.journalist, doc_id)  # journalists cannot delete
    world.vault.documents.delete(world.editor, doc_id)
    with world.db() as db:
        assert db.get(Document, doc_id) is None
        assert db.exec(select(WrappedKey).where(WrappedKey.subject_id == doc_id)).all() == []
    assert not world.vault.blobs.exists(blob_id)
    with pytest.raises(NotFound):
        world.vault.documents.open(world.editor, doc_id)
    if world.vault.settings.database_url is None:
        # On SQLite no byte of any wrapped key survives in any file (secure_delete + checkpoint).
        files = [p for p in world.vault.settings.data_dir.rglob("*") if p.is_file()]
        for blob in wrapped:
            for path in files:
                assert blob[:64] not in path.read_bytes(), path


def test_max_size_stops_the_upload_and_leaves_nothing(world: World) -> None:
    with pytest.raises(LimitExceeded):
        world.vault.documents.add(
            world.journalist,
            case_id=world.case_id,
            content=[b"x" * 4096] * 10,
            document=NewDocument(title="too big"),
            max_size=10_000,
        )
    assert list(world.vault.blobs.blob_ids()) == []
    assert world.vault.blobs.list_partial() == []
    with world.db() as db:
        assert db.exec(select(Document)).all() == []


def test_failed_upstream_leaves_nothing(world: World) -> None:
    def broken() -> object:
        yield b"partial"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        world.vault.documents.add(
            world.journalist,
            case_id=world.case_id,
            content=broken(),  # type: ignore[arg-type]
            document=NewDocument(title="cut"),
        )
    assert list(world.vault.blobs.blob_ids()) == []
    assert world.vault.blobs.list_partial() == []


def test_corrupted_blob_is_an_integrity_error(world: World) -> None:
    doc_id = store(world)
    with world.db() as db:
        row = db.get(Document, doc_id)
        assert row is not None
    path = world.vault.blobs.root / row.blob_id[:2] / row.blob_id
    data = bytearray(path.read_bytes())
    data[5000] ^= 0x01
    path.write_bytes(bytes(data))
    _, stream = world.vault.documents.open(world.editor, doc_id)
    with pytest.raises(IntegrityError) as exc_info:
        b"".join(stream)
    assert exc_info.value.reason == "segment-auth"


def test_wrapped_key_for_another_document_does_not_open(world: World) -> None:
    first, second = store(world, b"first"), store(world, b"second")
    key_id = world.editor.require_key().public_key().key_id
    with world.db() as db:
        stolen = db.exec(
            select(WrappedKey).where(
                WrappedKey.subject_id == first, WrappedKey.recipient_key_id == key_id
            )
        ).one()
        target = db.exec(
            select(WrappedKey).where(
                WrappedKey.subject_id == second, WrappedKey.recipient_key_id == key_id
            )
        ).one()
        target.wrapped = stolen.wrapped
        db.add(target)
        db.commit()
    with pytest.raises(IntegrityError) as exc_info:
        world.vault.documents.open(world.editor, second)
    assert exc_info.value.reason == "wrapped-key"


def test_blob_moved_to_another_document_is_rejected(world: World) -> None:
    first, second = store(world, b"first" * 100), store(world, b"second" * 100)
    with world.db() as db:
        a, b = db.get(Document, first), db.get(Document, second)
        assert a is not None
        assert b is not None
        first_blob = a.blob_id
        a.blob_id = "0" * 32
        db.add(a)
        db.commit()
        b.blob_id = first_blob
        db.add(b)
        db.commit()
    _, stream = world.vault.documents.open(world.editor, second)
    with pytest.raises(IntegrityError) as exc_info:
        b"".join(stream)
    assert exc_info.value.reason == "wrong-document"


def test_list_filters_by_source_for_readers(world: World) -> None:
    source = world.vault.sources.create(world.journalist, world.case_id, "real name")
    linked = store(world, b"linked", source_id=source.id)
    store(world, b"unlinked")
    listing = world.vault.documents.list(world.editor, world.case_id, source_id=source.id)
    assert [d.id for d in listing] == [linked]
    with pytest.raises(NotFound):
        store(world, b"x", source_id=uuid.uuid4())


def test_source_notes_only_for_the_handler(world: World) -> None:
    source = world.vault.sources.create(
        world.journalist, world.case_id, "Ana Ruiz, +52 55 1234 5678"
    )
    assert source.pseudonym.count("-") == 2
    _, notes, _ = world.vault.sources.identity(world.journalist, source.id, reason="fact check")
    assert notes == "Ana Ruiz, +52 55 1234 5678"
    for other in (world.editor, world.admin):
        with pytest.raises(NotFound):
            world.vault.sources.identity(other, source.id, reason="fact check")
    with world.db() as db:
        holders = set(
            db.exec(
                select(WrappedKey.recipient_key_id).where(WrappedKey.kind == keyring.SOURCE)
            ).all()
        )
    assert holders == {
        world.journalist.require_key().public_key().key_id,
        world.init.recovery_key_id,
    }


def test_a_read_that_races_a_deletion_is_told_the_document_is_gone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the read of the document's row and of its wrapped key, the deletion commits
    (another replica's): the reader gets NotFound, not "access pending"."""
    doc = world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[b"testimony"],
        document=NewDocument(title="t", media_type="text/plain"),
    ).id
    service = type(world.vault.documents)
    original = service._data_key

    def deleted_meanwhile(self: object, db: object, row: Document, actor: object) -> bytes | None:
        world.vault.documents.delete(world.editor, doc)
        return original(self, db, row, actor)  # type: ignore[arg-type]  # the method, unbound

    monkeypatch.setattr(service, "_data_key", deleted_meanwhile)
    with pytest.raises(NotFound):
        world.vault.documents.open(world.editor, doc)
