"""Membership decisions and source handovers: an administrator who adds themselves reads
nothing until a reader approves them; a removed handler keeps no source; a source handed on
reaches its new handler through the handler's key or the recovery shares, never otherwise."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlmodel import select

from tests.conftest import PASSPHRASE, World
from vault.audit import verify as audit_verify
from vault.errors import Conflict, InvalidInput, NotFound
from vault.services import cases, grants, keyring, users
from vault.services.documents import NewDocument
from vault.services.recovery import split_new_recovery_key
from vault.storage.models import AuditEntry, CaseMember, Role, Source, WrappedKey

NOTES = "the cousin of the delegation's driver; call only from a landline"


def store(world: World, content: bytes = b"minutes of the meeting") -> uuid.UUID:
    return world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[content],
        document=NewDocument(title="minutes"),
    ).id


def read(world: World, actor: object, doc_id: uuid.UUID) -> bytes:
    _, stream = world.vault.documents.open(actor, doc_id)  # type: ignore[arg-type]
    return b"".join(stream)


def entries(world: World) -> list[dict[str, object]]:
    with world.db() as db:
        return [json.loads(e.leaf) for e in db.exec(select(AuditEntry))]


def actions(world: World) -> list[str]:
    return [str(e["action"]) for e in entries(world)]


# -- an administrator adding themselves --------------------------------------------------------


def test_an_administrator_who_adds_themselves_reads_nothing(world: World) -> None:
    doc_id = store(world)
    world.vault.cases.add_member(world.admin, world.case_id, "admin")
    # Every member's requests and logins go by: nothing is granted automatically.
    world.vault.auth.login("erin", PASSPHRASE, None, address="127.0.0.1")
    world.vault.auth.login("jules", PASSPHRASE, None, address="127.0.0.1")
    token = world.vault.auth.login("erin", PASSPHRASE, None, address="127.0.0.1").token
    world.vault.auth.authenticate(token)
    with pytest.raises(Conflict):  # pending: the document exists, its key is not theirs
        read(world, world.admin, doc_id)
    # Nor is anything stored after they joined wrapped for them.
    later = store(world, b"a later document")
    with pytest.raises(Conflict):
        read(world, world.admin, later)
    # Nor may they approve themselves, or shred what they cannot read.
    with pytest.raises(NotFound):
        world.vault.cases.approve(world.admin, world.case_id, "admin")
    with pytest.raises(NotFound):
        world.vault.documents.delete(world.admin, doc_id)
    # The members see who added whom, and decide.
    [awaiting] = world.vault.cases.awaiting(world.editor, world.case_id)
    assert (awaiting.username, awaiting.added_by, awaiting.documents) == ("admin", "admin", 2)
    assert world.vault.cases.approve(world.editor, world.case_id, "admin") == 2
    assert read(world, world.admin, doc_id) == b"minutes of the meeting"
    assert world.vault.cases.awaiting(world.editor, world.case_id) == []
    last = [e for e in entries(world) if e["action"] == "case.member.approve"][-1]
    assert last["actor"] == str(world.editor.user_id)
    assert last["targets"] == {"case": str(world.case_id), "user": str(world.admin.user_id)}


def test_the_first_member_of_an_empty_case_is_approved_by_being_added(world: World) -> None:
    case = world.vault.cases.create(world.admin, "new-leak")
    assert world.vault.cases.add_member(world.admin, case.id, "erin") is True
    assert world.vault.cases.add_member(world.admin, case.id, "jules") is False
    with world.db() as db:
        assert grants.is_approved(db, case.id, world.editor.user_id)
        assert not grants.is_approved(db, case.id, world.journalist.user_id)


def test_a_case_with_documents_but_no_approved_member_approves_nobody_by_adding(
    world: World,
) -> None:
    store(world)
    with world.db() as db:
        for member in db.exec(select(CaseMember)):
            db.delete(member)
        db.commit()
    assert world.vault.cases.add_member(world.admin, world.case_id, "admin") is False


def test_a_reset_account_awaits_approval_again(world: World) -> None:
    doc_id = store(world)
    world.vault.users.reset_enrolment("jules")
    with world.db() as db:
        assert not grants.is_approved(db, world.case_id, world.journalist.user_id)
    # Whoever enrols with the code gets a new key, and no grant until a reader decides.
    with world.db() as db:
        user = users.find_user(db, "jules")
        key = users.set_passphrase(
            db, user, "a whole new passphrase here", world.vault.settings.argon2
        )
        user.enrolment_code_hash = None
        db.add(user)
        db.commit()
        newcomer = users.actor_for(user, key)
    world.vault.auth.login("erin", PASSPHRASE, None, address="127.0.0.1")
    with pytest.raises(Conflict):
        read(world, newcomer, doc_id)
    world.vault.cases.approve(world.editor, world.case_id, "jules")
    assert read(world, newcomer, doc_id) == b"minutes of the meeting"


# -- a removed handler -------------------------------------------------------------------------


def _source(world: World, handler: object) -> uuid.UUID:
    return world.vault.sources.create(handler, world.case_id, NOTES, ["Ana Ruiz"]).id  # type: ignore[arg-type]


def _identity(world: World, actor: object, source_id: uuid.UUID) -> str | None:
    _, notes, _ = world.vault.sources.identity(actor, source_id, reason="fact check")  # type: ignore[arg-type]
    return notes


def test_removing_a_handler_needs_a_decision_about_their_sources(world: World) -> None:
    source_id = _source(world, world.journalist)
    with pytest.raises(Conflict) as refused:
        world.vault.cases.remove_member(world.admin, world.case_id, "jules")
    assert refused.value.details == {"sources": [str(source_id)]}
    assert "jules" not in str(refused.value)
    assert "Ana" not in str(refused.value)
    with world.db() as db:  # nothing changed
        assert grants.is_member(db, world.case_id, world.journalist.user_id)
    assert _identity(world, world.journalist, source_id) == NOTES


def test_a_removed_handler_reads_no_identity_and_the_source_goes_to_the_recovery_key(
    world: World,
) -> None:
    source_id = _source(world, world.journalist)
    key_id = world.journalist.require_key().public_key().key_id
    removal = world.vault.cases.remove_member(
        world.admin, world.case_id, "jules", sources_to=cases.RECOVERY
    )
    assert [(h.source_id, h.handler, h.awaiting_recovery) for h in removal.sources] == [
        (source_id, None, False)
    ]
    with pytest.raises(NotFound):
        _identity(world, world.journalist, source_id)
    with world.db() as db:
        held = db.exec(select(WrappedKey).where(WrappedKey.recipient_key_id == key_id)).all()
        assert held == []  # no copy of any key of the case: documents or sources
        source = db.get(Source, source_id)
        assert source is not None
        assert source.handler_id is None
        # The recovery key still holds the source's key.
        recovery = keyring.active_recovery_key(db).key_id
        assert keyring.find_wrapped(db, kind=keyring.SOURCE, subject_id=source_id, key_id=recovery)


def test_a_handler_row_left_pointing_at_a_former_member_opens_nothing(world: World) -> None:
    """Even if a removal had left the handler column alone (an older vault, or an edited row),
    the handler must still be a member to read."""
    source_id = _source(world, world.journalist)
    with world.db() as db:
        db.delete(db.get(CaseMember, (world.case_id, world.journalist.user_id)))
        db.commit()
    with pytest.raises(NotFound):
        _identity(world, world.journalist, source_id)


def test_a_source_handed_to_a_member_on_removal_waits_for_the_recovery_shares(
    world: World,
) -> None:
    source_id = _source(world, world.journalist)
    removal = world.vault.cases.remove_member(
        world.admin, world.case_id, "jules", sources_to="erin"
    )
    assert [(h.handler, h.awaiting_recovery) for h in removal.sources] == [("erin", True)]
    with pytest.raises(NotFound):  # erin is the handler, but holds no key yet
        _identity(world, world.editor, source_id)
    service = world.vault.recovery
    assert service.threshold() == 2
    with pytest.raises(InvalidInput):
        service.complete_handovers(world.init.mnemonics[:1])
    done, waiting = service.complete_handovers(world.init.mnemonics[1:3])
    assert (len(done), waiting) == (1, 0)
    assert _identity(world, world.editor, source_id) == NOTES
    with pytest.raises(NotFound):
        _identity(world, world.journalist, source_id)
    assert {"case.member.remove", "source.handover.complete"} <= set(actions(world))
    assert audit_verify.verify_log(world.vault.engine, workers=1).ok


def test_shares_of_another_vault_are_refused(world: World) -> None:
    other = split_new_recovery_key(threshold=2, shares=3)
    service = world.vault.recovery
    with pytest.raises(InvalidInput, match="not this vault's recovery key"):
        service.complete_handovers(other.mnemonics[:2])


def test_removal_refuses_a_new_handler_who_cannot_take_the_source(world: World) -> None:
    _source(world, world.journalist)
    outsider = world.add_user("olga", Role.EDITOR, member=False)
    awaiting = world.add_user("abe", Role.EDITOR, member=False)
    world.add_member(awaiting, approve=False)
    for who in ("olga", "abe", "jules", "nobody"):
        with pytest.raises(InvalidInput):
            world.vault.cases.remove_member(world.admin, world.case_id, "jules", sources_to=who)
    assert outsider.username == "olga"
    with world.db() as db:
        assert grants.is_member(db, world.case_id, world.journalist.user_id)


def test_a_handler_hands_a_source_over_with_their_own_key(world: World) -> None:
    source_id = _source(world, world.journalist)
    world.vault.sources.hand_over(world.journalist, source_id, "erin")
    assert _identity(world, world.editor, source_id) == NOTES
    with pytest.raises(NotFound):
        _identity(world, world.journalist, source_id)
    with pytest.raises(NotFound):  # no longer theirs to hand on
        world.vault.sources.hand_over(world.journalist, source_id, "erin")
    assert "source.handover" in actions(world)
    # Now jules handles nothing: removing them needs no decision.
    assert world.vault.cases.remove_member(world.admin, world.case_id, "jules").sources == []
