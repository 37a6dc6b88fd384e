"""Recovery with the shares: k holders give a person who lost their passphrase everything they
could read (at once, nothing pending once they enrol), or give a case nobody can read any more
back to its members. k-1 shares, a wrong share or another vault's shares change nothing, and
nothing of the key or the shares is stored."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlmodel import col, select

from tests.conftest import PASSPHRASE, World
from vault.errors import AuthenticationFailed, InvalidInput, NotFound
from vault.services import keyring
from vault.services.documents import NewDocument
from vault.services.recovery import split_new_recovery_key
from vault.storage.models import AuditEntry, RecoveryKey, Role, User

NEW_PASSPHRASE = "amber ledger crosses the quay at dawn"
NOTES = "the driver's cousin; landline only"


def store(world: World, content: bytes) -> uuid.UUID:
    return world.vault.documents.add(
        world.journalist, case_id=world.case_id, content=[content], document=NewDocument(title="t")
    ).id


def read(world: World, actor: object, doc_id: uuid.UUID) -> bytes:
    _, stream = world.vault.documents.open(actor, doc_id)  # type: ignore[arg-type]
    return b"".join(stream)


def entries(world: World, action: str) -> list[dict[str, object]]:
    with world.db() as db:
        found = [json.loads(e.leaf) for e in db.exec(select(AuditEntry))]
    return [e for e in found if e["action"] == action]


def test_a_journalist_who_forgot_their_passphrase_reads_everything_once_enrolled(
    world: World,
) -> None:
    docs = [store(world, f"page {n}".encode()) for n in range(3)]
    source = world.vault.sources.create(world.journalist, world.case_id, NOTES).id
    shares = world.init.mnemonics
    code, regrant = world.vault.recovery.recover_user("jules", [shares[0], shares[2]])
    assert (regrant.documents, regrant.sources) == (3, 1)
    with pytest.raises(AuthenticationFailed):  # the old passphrase is gone
        world.vault.auth.login("jules", PASSPHRASE, None, address="127.0.0.1")
    world.vault.auth.enroll("jules", code, NEW_PASSPHRASE, address="127.0.0.1")
    jules = world.vault.auth.login("jules", NEW_PASSPHRASE, None, address="127.0.0.1").actor
    # At once: no member's action, nothing pending.
    assert [read(world, jules, d) for d in docs] == [b"page 0", b"page 1", b"page 2"]
    _, notes, _ = world.vault.sources.identity(jules, source, reason="checking a date")
    assert notes == NOTES
    [used] = entries(world, "recovery.used")
    assert used["actor"] == "recovery"
    assert (used["for"], used["documents"], used["sources"]) == ("user", "3", "1")
    with world.db() as db:
        user = db.exec(select(User).where(User.username == "jules")).one()
        assert user.sealed_recovered_key is None  # re-sealed under the passphrase


def test_too_few_wrong_or_foreign_shares_change_nothing(world: World) -> None:
    doc_id = store(world, b"minutes")
    shares = world.init.mnemonics
    words = shares[1].split()
    garbled = " ".join([*words[:-1], "academic" if words[-1] != "academic" else "acid"])
    other = split_new_recovery_key(threshold=2, shares=3).mnemonics
    for attempt in ([shares[0]], [shares[0], garbled], other[:2], [shares[0], other[1]]):
        with pytest.raises(InvalidInput):
            world.vault.recovery.recover_user("jules", attempt)
    # The account and its keys are as they were.
    jules = world.vault.auth.login("jules", PASSPHRASE, None, address="127.0.0.1").actor
    assert read(world, jules, doc_id) == b"minutes"
    assert entries(world, "recovery.used") == []
    assert entries(world, "user.reset") == []


def test_an_unknown_user_is_not_found_and_nothing_changes(world: World) -> None:
    with pytest.raises(NotFound):
        world.vault.recovery.recover_user("nobody", world.init.mnemonics[:2])
    assert entries(world, "recovery.used") == []


def test_a_case_whose_only_editor_left_is_given_back_to_its_members(world: World) -> None:
    case = world.vault.cases.create(world.admin, "dredging")
    world.vault.cases.add_member(world.admin, case.id, "erin")  # the founding, only editor
    doc = world.vault.documents.add(
        world.editor,
        case_id=case.id,
        content=[b"dredging permits"],
        document=NewDocument(title="p"),
    ).id
    source = world.vault.sources.create(world.editor, case.id, NOTES).id
    world.vault.cases.remove_member(world.admin, case.id, "erin", sources_to="recovery")
    eddie = world.add_user("eddie", Role.EDITOR, member=False)
    assert world.vault.cases.add_member(world.admin, case.id, "eddie") is False  # awaiting
    # Nobody can approve eddie or grant him anything now.
    assert world.vault.recovery.case_members(case.id) == ["eddie"]
    regrant = world.vault.recovery.recover_case(case.id, world.init.mnemonics[1:])
    assert (regrant.users, regrant.documents) == (["eddie"], 1)
    assert read(world, eddie, doc) == b"dredging permits"
    # The source was left to the recovery key with no handler: it stays so (the share holders
    # gave the case back, not the source to someone).
    with pytest.raises(NotFound):
        world.vault.sources.identity(eddie, source, reason="checking a date")
    [used] = entries(world, "recovery.used")
    assert used["for"] == "case"


def test_resharing_the_same_key_keeps_the_old_shares_working(world: World) -> None:
    old = world.init.mnemonics
    delivered: list[list[str]] = []
    rewrapped = world.vault.recovery.reshare(
        old[:2],
        threshold=3,
        shares=5,
        rotate_key=False,
        deliver=lambda new: delivered.append(new.mnemonics),
    )
    assert rewrapped == 0
    [new] = delivered
    assert len(new) == 5
    assert world.vault.recovery.threshold() == 3
    world.vault.recovery.rebuild(new[1:4])  # any three new shares
    world.vault.recovery.rebuild(old[1:])  # and the old ones still rebuild the same key
    with pytest.raises(InvalidInput):
        world.vault.recovery.rebuild(new[:2])  # two are no longer enough


def test_rotating_the_recovery_key_rewraps_everything_and_retires_the_old_shares(
    world: World,
) -> None:
    doc_id = store(world, b"minutes")
    world.vault.sources.create(world.journalist, world.case_id, NOTES)
    delivered: list[list[str]] = []
    rewrapped = world.vault.recovery.reshare(
        world.init.mnemonics[:2],
        threshold=2,
        shares=3,
        rotate_key=True,
        deliver=lambda new: delivered.append(new.mnemonics),
    )
    assert rewrapped == 2  # the document's key and the source's
    [new] = delivered
    with pytest.raises(InvalidInput, match="not this vault's recovery key"):
        world.vault.recovery.rebuild(world.init.mnemonics[:2])
    # The new key opens what the old one did: recover the journalist with it.
    code, regrant = world.vault.recovery.recover_user("jules", new[:2])
    assert (regrant.documents, regrant.sources) == (1, 1)
    world.vault.auth.enroll("jules", code, NEW_PASSPHRASE, address="127.0.0.1")
    jules = world.vault.auth.login("jules", NEW_PASSPHRASE, None, address="127.0.0.1").actor
    assert read(world, jules, doc_id) == b"minutes"
    # Documents stored from now on are wrapped for the new recovery key.
    later = store(world, b"later")
    with world.db() as db:
        assert keyring.active_recovery_key(db).key_id == regrant_key(world)
        assert keyring.find_wrapped(
            db, kind=keyring.DOCUMENT, subject_id=later, key_id=regrant_key(world)
        )


def test_a_failed_delivery_of_new_shares_changes_nothing(world: World) -> None:
    def fail(new: object) -> None:
        raise OSError("the USB stick was pulled")

    with pytest.raises(OSError, match="USB"):
        world.vault.recovery.reshare(
            world.init.mnemonics[:2], threshold=2, shares=3, rotate_key=True, deliver=fail
        )
    world.vault.recovery.rebuild(world.init.mnemonics[:2])  # still the vault's key


def regrant_key(world: World) -> str:
    with world.db() as db:
        row = db.exec(select(RecoveryKey).where(col(RecoveryKey.active).is_(True))).one()
        return row.key_id
