"""What a database writer's edits do to documents, sources and redactions: the action that
would have used the edited record refuses, naming it, on SQLite and PostgreSQL.

Two writers are played. One without the data directory's seal key edits rows with SQL: the
row seals refuse those (``tests/vault/test_row_seals.py`` covers each column). One who also
holds the seal key edits through the ORM, so every row seal is recomputed: what still refuses
then is what the data keys bind (the sealed records' associated data, the key commitment) and
what the access log witnesses (redaction decisions, checked by exports). Those are this file.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from tests.conftest import World
from vault import crypto
from vault.errors import IntegrityError
from vault.redaction.model import Category, Kind, Status
from vault.services import fsck, grants, keyring, redaction_ledger
from vault.services.documents import NewDocument
from vault.services.redaction_records import Proposal
from vault.services.users import Actor
from vault.storage.models import AuditEntry, Document, Redaction, Role, Source

NAME = "Marisol Quintero Vidal"
TEXT = f"La asistente, {NAME}, tomó notas durante la sesión cerrada.\n".encode()


@pytest.fixture
def rosa(world: World) -> Actor:
    return world.add_user("rosa", Role.EDITOR)


def _upload(world: World, content: bytes = TEXT) -> uuid.UUID:
    info = world.vault.documents.add(
        world.editor,
        case_id=world.case_id,
        content=[content],
        document=NewDocument(title="testimonio", media_type="text/plain"),
    )
    return info.id


def _edit(world: World, model: Any, key: Any, **values: Any) -> None:
    """An edit by whoever holds the seal key as well: through the ORM, so that the row's seal
    is made anew and only what the data keys and the log bind is left to catch it."""
    with world.db() as db:
        row = db.get(model, key)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        db.add(row)
        db.commit()


def _refused(reason: str | None, record: str) -> Any:
    class _Check:
        def __enter__(self) -> None:
            return None

        def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
            assert isinstance(exc, IntegrityError), f"expected a refusal, got {exc!r}"
            assert record in str(exc), str(exc)
            if reason is not None:
                assert exc.reason == reason, exc.reason
            return True

    return _Check()


# -- documents -----------------------------------------------------------------------------


def test_a_document_moved_to_another_case_refuses_to_open(world: World) -> None:
    other = world.vault.cases.create(world.admin, "dredging")
    world.vault.cases.add_member(world.admin, other.id, "erin")  # the editor, in both cases
    doc = _upload(world)
    _edit(world, Document, doc, case_id=other.id)
    with _refused("sealed-record", str(doc)):
        world.vault.documents.get(world.editor, doc)
    with _refused("sealed-record", str(doc)):
        world.vault.documents.open(world.editor, doc)


def test_a_document_credited_to_another_uploader_refuses_to_open(world: World, rosa: Actor) -> None:
    doc = _upload(world)
    _edit(world, Document, doc, uploader_id=rosa.user_id)
    with _refused("sealed-record", str(doc)):
        world.vault.documents.get(world.editor, doc)


def test_a_document_with_another_upload_time_refuses_to_open(world: World) -> None:
    doc = _upload(world)
    with world.db() as db:
        row = db.get(Document, doc)
        assert row is not None
        earlier = row.created_at - timedelta(days=400)
    _edit(world, Document, doc, created_at=earlier)
    with _refused("sealed-record", str(doc)):
        world.vault.documents.get(world.editor, doc)


def test_a_document_with_another_key_commitment_refuses_every_key(world: World) -> None:
    doc = _upload(world)
    _edit(world, Document, doc, key_commitment=bytes(32))
    with _refused("wrapped-key", ""):
        world.vault.documents.open(world.editor, doc)


def test_a_document_downgraded_to_the_old_format_refuses_every_key(world: World) -> None:
    # Without a commitment the reader would expect version 1 wraps and records: the copies
    # wrapped in version 2 do not open that way.
    doc = _upload(world)
    _edit(world, Document, doc, key_commitment=None)
    with _refused("wrapped-key", ""):
        world.vault.documents.open(world.editor, doc)


def test_the_upload_entry_names_the_key_commitment(world: World) -> None:
    doc = _upload(world)
    with world.db() as db:
        row = db.get(Document, doc)
        assert row is not None
        assert row.key_commitment is not None
        leaves = [bytes(e.leaf) for e in db.exec(select(AuditEntry))]
    assert any(row.key_commitment.hex().encode() in leaf for leaf in leaves)


# -- sources -------------------------------------------------------------------------------


def test_a_source_moved_to_another_case_refuses_to_reveal(world: World) -> None:
    other = world.vault.cases.create(world.admin, "dredging")
    source = world.vault.sources.create(world.editor, world.case_id, "met at the port").id
    _edit(world, Source, source, case_id=other.id)
    world.vault.cases.add_member(world.admin, other.id, "erin")
    with _refused("sealed-record", str(source)):
        world.vault.sources.identity(world.editor, source, reason="checking")


def test_a_source_has_a_key_commitment(world: World) -> None:
    source = world.vault.sources.create(world.editor, world.case_id, "met at the port").id
    with world.db() as db:
        row = db.get(Source, source)
        assert row is not None
        assert row.key_commitment is not None
        assert len(row.key_commitment) == 32


# -- redactions ----------------------------------------------------------------------------


def _term(term: str = NAME) -> Proposal:
    return Proposal(Kind.TERM, Category.SOURCE_IDENTITY, term=term)


def _approved(world: World, rosa: Actor, doc: uuid.UUID) -> uuid.UUID:
    made = world.vault.redactions.propose(world.editor, doc, _term())
    world.vault.redactions.approve(rosa, made.id)
    return made.id


def test_an_exported_name_is_hidden_before_the_attacks(world: World, rosa: Actor) -> None:
    doc = _upload(world)
    _approved(world, rosa, doc)
    assert NAME not in world.vault.redactions.export(world.editor, doc).content.decode()


@pytest.mark.parametrize("status", [Status.REJECTED, Status.WITHDRAWN, Status.PROPOSED])
def test_an_approved_redaction_turned_into_another_state_refuses(
    world: World, rosa: Actor, status: Status
) -> None:
    doc = _upload(world)
    rid = _approved(world, rosa, doc)
    _edit(world, Redaction, rid, status=status.value)
    # The export checks the log first: it says approved.
    with _refused("record-state", str(rid)):
        world.vault.redactions.export(world.editor, doc)
    # Listing opens the record, which is bound to the state it was sealed in.
    with _refused("sealed-record", str(rid)):
        world.vault.redactions.of_document(world.editor, doc)


def test_a_redaction_credited_to_another_proposer_or_reviewer_refuses(
    world: World, rosa: Actor
) -> None:
    doc = _upload(world)
    rid = _approved(world, rosa, doc)
    _edit(world, Redaction, rid, reviewer_id=world.editor.user_id)
    with _refused("sealed-record", str(rid)):
        world.vault.redactions.of_document(world.editor, doc)
    _edit(world, Redaction, rid, reviewer_id=rosa.user_id, proposer_id=rosa.user_id)
    with _refused("sealed-record", str(rid)):
        world.vault.redactions.of_document(world.editor, doc)


def _raw(world: World, sql: str, **params: Any) -> None:
    """An edit in SQL, outside the vault's code (deletions need no seal key at all)."""
    with world.vault.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _hex(world: World, value: uuid.UUID) -> Any:
    # How the dialect stores a UUID column: 32 hex digits on SQLite, native on PostgreSQL.
    return value.hex if world.vault.engine.dialect.name == "sqlite" else value


def test_a_deleted_approved_redaction_refuses_the_export(world: World, rosa: Actor) -> None:
    doc = _upload(world)
    rid = _approved(world, rosa, doc)
    _raw(world, "DELETE FROM redactions WHERE id = :id", id=_hex(world, rid))
    with _refused("record-missing", str(rid)):
        world.vault.redactions.export(world.editor, doc)
    assert _fsck_names(world) == [(str(rid), "missing")]


def _fsck_names(world: World) -> list[tuple[str, str]]:
    report = fsck.check(world.vault.engine, world.vault.blobs, grace_seconds=0)
    assert not report.clean
    return [(record, what) for record, what, _ in report.unwitnessed]


def test_a_deleted_pending_proposal_refuses_the_export(world: World) -> None:
    doc = _upload(world)
    made = world.vault.redactions.propose(world.editor, doc, _term())
    _raw(world, "DELETE FROM redactions WHERE id = :id", id=_hex(world, made.id))
    with _refused("record-missing", str(made.id)):
        world.vault.redactions.export(world.editor, doc)


def test_suggested_proposals_are_logged_one_by_one(world: World) -> None:
    doc = _upload(world, TEXT + b"Su correo es marisol@example.org, tel. +52 55 1234 5678.\n")
    found = world.vault.redactions.suggest(world.editor, doc, accept_all=True)
    assert found.created
    rid = found.created[0].id
    _raw(world, "DELETE FROM redactions WHERE id = :id", id=_hex(world, rid))
    with _refused("record-missing", str(rid)):
        world.vault.redactions.export(world.editor, doc)


def test_an_approved_redaction_put_back_to_its_proposed_row_refuses(
    world: World, rosa: Actor
) -> None:
    # Replay: the row exactly as it was while proposed (its seal and record were valid then).
    doc = _upload(world)
    made = world.vault.redactions.propose(world.editor, doc, _term())
    with world.vault.engine.connect() as conn:
        old = conn.execute(
            sa.text("SELECT status, sealed, seal FROM redactions WHERE id = :id"),
            {"id": _hex(world, made.id)},
        ).one()
    world.vault.redactions.approve(rosa, made.id)
    _raw(
        world,
        "UPDATE redactions SET status = :status, sealed = :sealed, seal = :seal, "
        "reviewer_id = NULL, reviewed_at = NULL WHERE id = :id",
        status=old[0],
        sealed=old[1],
        seal=old[2],
        id=_hex(world, made.id),
    )
    with _refused("record-state", str(made.id)):
        world.vault.redactions.export(world.editor, doc)
    assert _fsck_names(world) == [(str(made.id), "state")]


def test_hiding_the_decision_from_the_index_column_does_not_hide_it(
    world: World, rosa: Actor
) -> None:
    doc = _upload(world)
    rid = _approved(world, rosa, doc)
    _raw(world, "UPDATE audit_entries SET document_id = NULL")
    _raw(world, "DELETE FROM redactions WHERE id = :id", id=_hex(world, rid))
    with _refused("record-missing", str(rid)):
        world.vault.redactions.export(world.editor, doc)


def test_deleting_the_decisions_from_the_log_refuses_the_export(world: World, rosa: Actor) -> None:
    doc = _upload(world)
    rid = _approved(world, rosa, doc)
    with world.db() as db:
        doomed = [
            e.idx
            for e in db.exec(select(AuditEntry).order_by(col(AuditEntry.idx)))
            if str(rid).encode() in bytes(e.leaf)
        ]
    assert doomed
    _raw(world, "DELETE FROM redactions WHERE id = :id", id=_hex(world, rid))
    for idx in doomed:
        _raw(world, "DELETE FROM audit_entries WHERE idx = :idx", idx=idx)
    with _refused("log", ""):
        world.vault.redactions.export(world.editor, doc)


def test_every_decision_is_followed_by_a_pinned_checkpoint(world: World, rosa: Actor) -> None:
    doc = _upload(world)
    _approved(world, rosa, doc)
    pinned = world.vault.settings.checkpoint_pin_path.read_bytes()
    with world.db() as db:
        size = db.exec(select(sa.func.count()).select_from(AuditEntry)).one()
    assert f"\n{size}\n".encode() in pinned


def test_a_key_commitment_is_bound_for_every_reader(world: World, rosa: Actor) -> None:
    # Both editors' copies of the key open to the key the document's record commits to.
    doc = _upload(world)
    with world.db() as db:
        row = db.get(Document, doc)
        assert row is not None
        assert row.key_commitment is not None
        expected = row.key_commitment
    for reader in (world.editor, rosa):
        _, chunks = world.vault.documents.open(reader, doc)
        assert b"".join(chunks) == TEXT
    assert expected == crypto.key_commitment(_data_key(world, doc), kind="document", subject_id=doc)


def _data_key(world: World, doc: uuid.UUID) -> bytes:
    with world.db() as db:
        key = keyring.open_data_key(
            db, kind=keyring.DOCUMENT, subject_id=doc, key=world.editor.require_key()
        )
    assert key is not None
    return key


def test_a_document_moved_into_another_case_is_not_granted_to_its_members(
    world: World,
) -> None:
    # The editor belongs to both cases; tomas only to the other one. Moved there by whoever
    # holds the seal key, the document must not be wrapped for tomas when the editor's next
    # request completes the other case's pending grants.
    other = world.vault.cases.create(world.admin, "dredging")
    world.vault.cases.add_member(world.admin, other.id, "erin")  # founding member: approved
    tomas = world.add_user("tomas", Role.EDITOR, member=False)
    world.add_member(tomas, other.id)
    doc = _upload(world)
    _edit(world, Document, doc, case_id=other.id)
    with world.db() as db:
        assert grants.pending_grants(db, other.id) == [grants.PendingGrant(doc, tomas.user_id)]
    with _refused("sealed-record", str(doc)), world.db() as db:
        grants.complete_grants(db, world.editor, case_id=other.id, clock=world.vault.clock)
    with world.db() as db:
        held = keyring.find_wrapped(
            db,
            kind=keyring.DOCUMENT,
            subject_id=doc,
            key_id=tomas.require_key().public_key().key_id,
        )
    assert held is None


def test_a_status_written_in_the_database_is_not_echoed() -> None:
    # fsck reads the column as it is; an escape sequence put there must not reach a terminal.
    rid = uuid.uuid4()
    row = SimpleNamespace(id=rid, status="\x1b[31mapproved")
    found = redaction_ledger.problems({str(rid): Status.APPROVED}, [row])
    assert found == [
        (str(rid), "state", "it is in an unknown state in the database but approved in the log")
    ]
