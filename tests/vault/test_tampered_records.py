"""More edits made in SQL by someone without the seal key, column by column: sources, redactions,
memberships, legal holds, case closure, token scopes, accounts and recovery keys. Each is refused,
naming the record, by the action that would have used it, and fsck names it (the helpers and the
first columns are in tests/vault/test_tampered_rows.py). SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.world import PASSPHRASE, World
from tests.vault.test_tampered_rows import fsck_names, refused, sql, store, stored, token_of
from vault.errors import IntegrityError
from vault.redaction.model import Category, Kind
from vault.services.cases import Retention
from vault.services.documents import NewDocument
from vault.services.redaction_records import Proposal
from vault.services.retention import RetentionService
from vault.services.users import Actor
from vault.storage.models import RetentionStart, Role

NAME = "Marisol Quintero Vidal"
TEXT = f"La asistente, {NAME}, tomó notas durante la sesión cerrada.\n".encode()


@pytest.fixture
def rosa(world: World) -> Actor:
    """A second editor of the case: the reviewer four-eyes review needs."""
    return world.add_user("rosa", Role.EDITOR)


# -- sources -------------------------------------------------------------------------------


def _source(world: World) -> uuid.UUID:
    """A source of the case with identity notes, handled by the editor."""
    return world.vault.sources.create(world.editor, world.case_id, "met at the port").id


def _identity(world: World, actor: Actor, source: uuid.UUID) -> object:
    return world.vault.sources.identity(actor, source, reason="checking a date")


def test_a_source_moved_into_another_case_is_refused(world: World) -> None:
    source = _source(world)
    other = world.vault.cases.create(world.admin, "dredging").id
    world.vault.cases.add_member(world.admin, other, "erin")  # the handler, in both cases
    sql(
        world,
        "UPDATE sources SET case_id = :c WHERE id = :s",
        c=stored(other, world),
        s=stored(source, world),
    )
    refused(source, lambda: _identity(world, world.editor, source))
    refused(source, lambda: world.vault.sources.in_case(world.editor, other))
    fsck_names(world, "sources", source)


def test_a_source_given_to_another_handler_is_refused(world: World) -> None:
    source = _source(world)
    jules = stored(world.journalist.user_id, world)
    sql(world, "UPDATE sources SET handler_id = :u WHERE id = :s", u=jules, s=stored(source, world))
    # The new "handler" asks for the notes; the real one tries to hand the source on.
    refused(source, lambda: _identity(world, world.journalist, source))
    refused(source, lambda: world.vault.sources.hand_over(world.editor, source, "jules"))
    fsck_names(world, "sources", source)


def test_a_forged_handover_is_not_completed_by_the_recovery_key_holders(world: World) -> None:
    # The recovery key holders complete pending handovers: a handover marked pending in SQL,
    # to a handler of the editor's choosing, would have them wrap the source's key for them.
    source = _source(world)
    sql(
        world,
        "UPDATE sources SET handler_id = :u, handover_pending = :p WHERE id = :s",
        u=stored(world.journalist.user_id, world),
        p=True,
        s=stored(source, world),
    )
    shares = world.init.mnemonics[:2]
    refused(source, lambda: world.vault.recovery.complete_handovers(shares))
    refused(source, lambda: world.vault.recovery.recover_case(world.case_id, shares))
    fsck_names(world, "sources", source)


def test_a_handover_marked_pending_in_sql_is_refused(world: World) -> None:
    source = _source(world)
    sql(
        world,
        "UPDATE sources SET handover_pending = :p WHERE id = :s",
        p=True,
        s=stored(source, world),
    )
    refused(source, lambda: world.vault.recovery.complete_handovers(world.init.mnemonics[:2]))
    fsck_names(world, "sources", source)


# -- redactions ----------------------------------------------------------------------------


def _text(world: World) -> uuid.UUID:
    return world.vault.documents.add(
        world.editor,
        case_id=world.case_id,
        content=[TEXT],
        document=NewDocument(title="testimonio", media_type="text/plain"),
    ).id


def _proposed(world: World, doc: uuid.UUID) -> uuid.UUID:
    proposal = Proposal(Kind.TERM, Category.SOURCE_IDENTITY, term=NAME)
    return world.vault.redactions.propose(world.editor, doc, proposal).id


def _every_use_refused(world: World, doc: uuid.UUID, rid: uuid.UUID) -> None:
    refused(rid, lambda: world.vault.redactions.of_document(world.editor, doc))
    refused(rid, lambda: world.vault.redactions.export(world.editor, doc))
    # fsck naming the record: test_fsck_lists_an_edited_redaction below.


def test_a_proposal_approved_in_sql_is_refused(world: World) -> None:
    doc = _text(world)
    rid = _proposed(world, doc)
    sql(world, "UPDATE redactions SET status = 'approved' WHERE id = :r", r=stored(rid, world))
    _every_use_refused(world, doc, rid)


@pytest.mark.parametrize("status", ["rejected", "withdrawn", "proposed"])
def test_an_approved_redaction_put_in_another_state_is_refused(
    world: World, rosa: Actor, status: str
) -> None:
    doc = _text(world)
    rid = _proposed(world, doc)
    world.vault.redactions.approve(rosa, rid)
    sql(world, "UPDATE redactions SET status = :s WHERE id = :r", s=status, r=stored(rid, world))
    _every_use_refused(world, doc, rid)


def test_a_proposal_credited_to_another_proposer_cannot_be_self_approved(
    world: World, rosa: Actor
) -> None:
    # Four eyes: erin may not approve her own proposal. Credited to rosa in SQL, it would be.
    doc = _text(world)
    rid = _proposed(world, doc)
    sql(
        world,
        "UPDATE redactions SET proposer_id = :u WHERE id = :r",
        u=stored(rosa.user_id, world),
        r=stored(rid, world),
    )
    refused(rid, lambda: world.vault.redactions.approve(world.editor, rid))
    _every_use_refused(world, doc, rid)


def test_an_approval_credited_to_another_reviewer_is_refused(world: World, rosa: Actor) -> None:
    doc = _text(world)
    rid = _proposed(world, doc)
    world.vault.redactions.approve(rosa, rid)
    sql(
        world,
        "UPDATE redactions SET reviewer_id = :u WHERE id = :r",
        u=stored(world.editor.user_id, world),
        r=stored(rid, world),
    )
    _every_use_refused(world, doc, rid)


def test_a_cleared_reviewer_is_refused(world: World, rosa: Actor) -> None:
    doc = _text(world)
    rid = _proposed(world, doc)
    world.vault.redactions.approve(rosa, rid)
    sql(world, "UPDATE redactions SET reviewer_id = NULL WHERE id = :r", r=stored(rid, world))
    _every_use_refused(world, doc, rid)


@pytest.mark.parametrize(
    "edit",
    [
        "status = 'rejected'",
        "reviewer_id = proposer_id",
        "reviewer_id = NULL, reviewed_at = NULL, status = 'proposed'",
    ],
)
def test_fsck_lists_an_edited_redaction(world: World, rosa: Actor, edit: str) -> None:
    doc = _text(world)
    rid = _proposed(world, doc)
    world.vault.redactions.approve(rosa, rid)
    sql(world, f"UPDATE redactions SET {edit} WHERE id = :r", r=stored(rid, world))  # noqa: S608
    fsck_names(world, "redactions", rid)


# -- memberships ---------------------------------------------------------------------------


def test_an_approval_set_in_sql_gets_no_key(world: World) -> None:
    outsider = world.add_user("olga", Role.JOURNALIST, member=False)
    world.add_member(outsider, approve=False)  # awaiting the editor's approval
    sql(
        world,
        "UPDATE case_members SET approved_at = added_at WHERE case_id = :c AND user_id = :u",
        c=stored(world.case_id, world),
        u=stored(outsider.user_id, world),
    )
    record = f"{world.case_id}/{outsider.user_id}"
    # A new document would be wrapped for the case's approved members: refused.
    refused(record, lambda: store(world))
    # The editor's approval, which would hand over the case's keys, reads the record first.
    refused(record, lambda: world.vault.cases.approve(world.editor, world.case_id, "olga"))
    fsck_names(world, "case_members", record)


def test_an_approval_without_approver_is_refused(world: World) -> None:
    # Only the approver is cleared: the approval stays, attributed to nobody.
    sql(
        world,
        "UPDATE case_members SET approved_by = NULL WHERE case_id = :c AND user_id = :u",
        c=stored(world.case_id, world),
        u=stored(world.journalist.user_id, world),
    )
    record = f"{world.case_id}/{world.journalist.user_id}"
    refused(record, lambda: store(world))
    fsck_names(world, "case_members", record)


def test_a_cleared_approval_is_refused(world: World) -> None:
    # The journalist's approval undone in SQL: the editor's next approval of them (which would
    # be logged as a fresh one) reads the edited record.
    doc = store(world)
    sql(
        world,
        "UPDATE case_members SET approved_at = NULL WHERE case_id = :c AND user_id = :u",
        c=stored(world.case_id, world),
        u=stored(world.journalist.user_id, world),
    )
    record = f"{world.case_id}/{world.journalist.user_id}"
    refused(record, lambda: world.vault.cases.approve(world.editor, world.case_id, "jules"))
    refused(record, lambda: world.vault.documents.open(world.journalist, doc))
    fsck_names(world, "case_members", record)


# -- retention: legal holds and closed cases ------------------------------------------------


def _later(world: World, days: int) -> RetentionService:
    """The retention service of the world's vault with a clock ``days`` ahead."""
    return RetentionService(
        engine=world.vault.engine,
        blobs=world.vault.blobs,
        clock=lambda: datetime.now(UTC) + timedelta(days=days),
    )


def test_a_cleared_document_hold_deletes_nothing(world: World) -> None:
    doc = store(world)
    world.vault.holds.set_document(world.admin, doc, held=True)
    world.vault.cases.update(
        world.admin, world.case_id, retention=Retention(1, RetentionStart.UPLOAD)
    )
    assert [d.held for d in _later(world, 2).due()] == ["document"]
    sql(world, "UPDATE documents SET held_at = NULL WHERE id = :d", d=stored(doc, world))
    refused(doc, _later(world, 2).run)
    fsck_names(world, "documents", doc)
    assert world.vault.blobs.blob_ids()  # the content is still there


def test_a_cleared_case_hold_deletes_nothing(world: World) -> None:
    store(world)
    world.vault.holds.set_case(world.admin, world.case_id, held=True)
    world.vault.cases.update(
        world.admin, world.case_id, retention=Retention(1, RetentionStart.UPLOAD)
    )
    sql(world, "UPDATE cases SET held_at = NULL WHERE id = :c", c=stored(world.case_id, world))
    refused(world.case_id, _later(world, 2).run)
    fsck_names(world, "cases", world.case_id)
    with world.vault.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM documents").scalar() == 1


def test_a_case_closed_in_sql_deletes_nothing(world: World) -> None:
    # Retention counted from the case's closing: a closing dated in SQL would start it.
    store(world)
    world.vault.cases.update(
        world.admin, world.case_id, retention=Retention(30, RetentionStart.CLOSE)
    )
    assert _later(world, 60).due() == []
    sql(
        world,
        "UPDATE cases SET closed_at = created_at WHERE id = :c",
        c=stored(world.case_id, world),
    )
    refused(world.case_id, _later(world, 60).run)
    refused(world.case_id, lambda: world.vault.cases.get(world.admin, world.case_id))
    fsck_names(world, "cases", world.case_id)


def test_a_case_reopened_in_sql_is_refused(world: World) -> None:
    # Reopened in SQL, a closed case's retention clock would stop: kept past its period.
    store(world)
    world.vault.cases.update(
        world.admin,
        world.case_id,
        retention=Retention(30, RetentionStart.CLOSE),
        closed=True,
    )
    assert len(_later(world, 60).due()) == 1
    sql(world, "UPDATE cases SET closed_at = NULL WHERE id = :c", c=stored(world.case_id, world))
    refused(world.case_id, _later(world, 60).due)
    refused(world.case_id, lambda: world.vault.cases.get(world.admin, world.case_id))
    refused(
        world.case_id,
        lambda: world.vault.cases.update(world.admin, world.case_id, closed=True),
    )
    fsck_names(world, "cases", world.case_id)


# -- credentials, accounts, recovery keys ----------------------------------------------------


def test_widened_token_scopes_are_refused(world: World) -> None:
    session = world.vault.auth.authenticate(token_of(world, world.editor))
    issued = world.vault.auth.create_token(
        session, name="scanner", scopes=["upload"], expires_in=3600
    )
    assert world.vault.auth.authenticate(issued.token).scopes == {"upload"}
    sql(
        world,
        "UPDATE credentials SET scopes = 'read,upload' WHERE id = :i",
        i=stored(issued.credential.id, world),
    )
    refused(issued.credential.id, lambda: world.vault.auth.authenticate(issued.token))
    fsck_names(world, "credentials", issued.credential.id)


def test_a_disabled_account_enabled_in_sql_is_refused(world: World) -> None:
    world.vault.users.set_enabled("jules", enabled=False)
    sql(
        world,
        "UPDATE users SET enabled = :t WHERE id = :u",
        t=True,
        u=stored(world.journalist.user_id, world),
    )
    user = world.journalist.user_id
    refused(user, lambda: world.vault.auth.login("jules", PASSPHRASE, None, address="127.0.0.1"))
    fsck_names(world, "users", user)


def test_a_disabled_account_with_its_session_restored_is_refused(world: World) -> None:
    token = token_of(world, world.journalist)
    credential = world.vault.auth.authenticate(token).credential_id
    world.vault.users.set_enabled("jules", enabled=False)
    sql(
        world,
        "UPDATE users SET enabled = :t WHERE id = :u",
        t=True,
        u=stored(world.journalist.user_id, world),
    )
    sql(
        world,
        "UPDATE credentials SET revoked_at = NULL WHERE id = :i",
        i=stored(credential, world),
    )
    # Whichever record is read first is refused: both are named by fsck.
    with pytest.raises(IntegrityError) as caught:
        world.vault.auth.authenticate(token)
    assert caught.value.reason == "row-seal"
    fsck_names(world, "users", world.journalist.user_id)
    fsck_names(world, "credentials", credential)


def test_a_retired_recovery_key_made_active_again_gets_no_new_document_key(
    world: World,
) -> None:
    # The old shares may be in hands the rotation meant to shut out: new keys must not be
    # wrapped for the old recovery key again.
    old = world.init.recovery_key_id
    world.vault.recovery.reshare(
        world.init.mnemonics[:2], threshold=2, shares=3, rotate_key=True, deliver=lambda _: None
    )
    sql(world, "UPDATE recovery_keys SET active = (key_id = :k)", k=old)
    refused(old, lambda: store(world))
    refused(old, world.vault.recovery.threshold)
    fsck_names(world, "recovery_keys", old)


def test_a_recovery_key_deactivated_in_sql_is_named_by_the_refusal(world: World) -> None:
    # The row drops out of "the active key", but every recovery key is loaded, and checked.
    key = world.init.recovery_key_id
    sql(world, "UPDATE recovery_keys SET active = :f", f=False)
    refused(key, lambda: store(world))
    fsck_names(world, "recovery_keys", key)
