"""Key transparency and the witness, in memory: ``transparency.check_key_record`` accepts a
user's key only with a signed checkpoint whose tree holds a successful key entry about that
user naming exactly that key, and refuses every substitution, misplaced entry and damaged
proof (reason ``key``); ``witness.advance`` accepts a new checkpoint only if it is signed by
the pinned key (or one its rotations lead to) and extends the saved one, and refuses a fork,
a shrunk tree and an unknown key."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID

import pytest

from vault.audit import checkpoint, log, merkle, rotation, witness
from vault.audit.transparency import (
    KEY_ACTIONS,
    RECOVERY_KEY_ACTIONS,
    KeyRecord,
    check_key_record,
    check_recovery_record,
    fingerprint,
    gives,
    gives_recovery,
    logged_key,
)
from vault.crypto import PrivateKey, PublicKey, SigningKey
from vault.errors import IntegrityError

NAME = "vault.example/log"
LOG_KEY = SigningKey(bytes(range(32)))
OTHER_LOG_KEY = SigningKey(bytes(range(1, 33)))
VKEY = checkpoint.encode_vkey(NAME, LOG_KEY.public_bytes())
OTHER_VKEY = checkpoint.encode_vkey(NAME, OTHER_LOG_KEY.public_bytes())
TIME = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
ALICE = UUID("00000000-0000-4000-8000-00000000a11c")
BOB = UUID("00000000-0000-4000-8000-000000000b0b")
ALICE_KEY = PrivateKey(b"\x01" * 32).public_key()
ALICE_NEW_KEY = PrivateKey(b"\x02" * 32).public_key()
BOB_KEY = PrivateKey(b"\x03" * 32).public_key()
RECOVERY_KEY = PrivateKey(b"\x04" * 32).public_key()
NEW_RECOVERY_KEY = PrivateKey(b"\x05" * 32).public_key()


def _leaf(index: int, action: str, user: UUID, key_id: str, *, outcome: str = "ok") -> bytes:
    entry = log.NewEntry(
        action=action,
        actor=user,
        time=TIME,
        outcome=outcome,
        targets={"user": str(user)},
        extra={"key_id": key_id},
    )
    return entry.leaf(index)


LEAVES = [
    _leaf(0, "user.create", ALICE, "none"),
    _leaf(1, "auth.enroll", ALICE, ALICE_KEY.key_id),
    _leaf(2, "document.upload", ALICE, ALICE_KEY.key_id),
    _leaf(3, "auth.enroll", BOB, BOB_KEY.key_id),
    _leaf(4, "user.key.rotate", ALICE, ALICE_NEW_KEY.key_id, outcome="denied"),
    _leaf(9, "user.key.rotate", ALICE, ALICE_NEW_KEY.key_id),  # at index 5, says 9
    b"not json \xff",
    b'["a", "list"]',
    _leaf(8, "user.key.logged", ALICE, ALICE_NEW_KEY.key_id),
]
SIZE = len(LEAVES)
FORK_AT = 4
FORK_LEAVES = [*LEAVES[:FORK_AT], *(_leaf(i, "auth.login", ALICE, "none") for i in range(4, 9))]


def _tree(leaves: Sequence[bytes]) -> merkle.MemoryNodes:
    nodes = merkle.MemoryNodes()
    for leaf in leaves:
        nodes.append(merkle.leaf_hash(leaf))
    return nodes


TREE = _tree(LEAVES)
FORK = _tree(FORK_LEAVES)


def _note(nodes: merkle.MemoryNodes, size: int, key: SigningKey = LOG_KEY) -> str:
    return checkpoint.sign(checkpoint.Checkpoint(NAME, size, merkle.root(nodes, size)), NAME, key)


def _record(
    index: int, public: PublicKey = ALICE_KEY, user: UUID = ALICE, *, size: int = SIZE
) -> KeyRecord:
    """The server's answer for ``user``'s key ``public`` with entry ``index`` of ``TREE``."""
    return KeyRecord(
        username="alice" if user == ALICE else "bob",
        user_id=user,
        public_key=public.to_bytes(),
        index=index,
        leaf=LEAVES[index],
        checkpoint=_note(TREE, size),
        inclusion=tuple(merkle.inclusion_proof(TREE, index, size)) if index < size else (),
    )


def _with(record: KeyRecord, **change: object) -> KeyRecord:
    return dataclasses.replace(record, **change)  # type: ignore[arg-type]


def _flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


# -- check_key_record --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "public", "user", "size", "action"),
    [
        (1, ALICE_KEY, ALICE, SIZE, "auth.enroll"),
        (1, ALICE_KEY, ALICE, 2, "auth.enroll"),  # an older checkpoint that already holds it
        (3, BOB_KEY, BOB, SIZE, "auth.enroll"),
        (8, ALICE_NEW_KEY, ALICE, SIZE, "user.key.logged"),
    ],
)
def test_a_genuine_record_gives_its_key(
    index: int, public: PublicKey, user: UUID, size: int, action: str
) -> None:
    entry = check_key_record(_record(index, public, user, size=size), log_key=VKEY)
    assert (entry.key_id, entry.index, entry.action) == (public.key_id, index, action)
    assert (entry.user_id, entry.public_key, entry.time) == (user, public, "2025-05-06T07:08:09Z")
    assert (entry.checkpoint.size, entry.checkpoint.root) == (size, merkle.root(TREE, size))


PROOF = _record(1).inclusion


LOW_ORDER = ALICE_KEY.to_bytes()[:-32] + bytes(32)  # its X25519 half a low-order point


REFUSED: list[tuple[str, Callable[[], KeyRecord], str]] = [
    ("swapped key", lambda: _record(1, BOB_KEY), "another key"),
    ("other user", lambda: _record(3, BOB_KEY, ALICE), "another user"),
    ("non-key action", lambda: _record(2), "does not give a key"),
    ("denied", lambda: _record(4, ALICE_NEW_KEY), "does not give a key"),
    ("index field", lambda: _record(5, ALICE_NEW_KEY), "another index"),
    ("leaf byte", lambda: _with(_record(1), leaf=_flip(LEAVES[1], 40)), "inclusion proof"),
    (
        "leaf swapped in",
        lambda: _with(_record(1, ALICE_NEW_KEY), leaf=LEAVES[8]),
        "inclusion proof",
    ),
    (
        "proof node",
        lambda: _with(_record(1), inclusion=(_flip(PROOF[0]), *PROOF[1:])),
        "inclusion proof",
    ),
    (
        "proof for another index",
        lambda: _with(_record(1), inclusion=tuple(merkle.inclusion_proof(TREE, 0, SIZE))),
        "inclusion proof",
    ),
    ("short proof", lambda: _with(_record(1), inclusion=PROOF[:-1]), "inclusion proof"),
    ("index == size", lambda: _record(8, ALICE_NEW_KEY, size=8), "not in the checkpoint"),
    ("index > size", lambda: _record(8, ALICE_NEW_KEY, size=3), "not in the checkpoint"),
    ("negative index", lambda: _with(_record(1), index=-1), "not in the checkpoint"),
    ("short key", lambda: _with(_record(1), public_key=ALICE_KEY.to_bytes()[:-1]), "malformed"),
    ("low-order key", lambda: _with(_record(1), public_key=LOW_ORDER), "malformed"),
    ("not JSON", lambda: _record(6), "not JSON"),
    ("JSON list", lambda: _record(7), "not a JSON object"),
]


@pytest.mark.parametrize(("make", "detail"), [p[1:] for p in REFUSED], ids=[p[0] for p in REFUSED])
def test_a_record_that_does_not_prove_the_key_is_refused(
    make: Callable[[], KeyRecord], detail: str
) -> None:
    with pytest.raises(IntegrityError, match=detail) as info:
        check_key_record(make(), log_key=VKEY)
    assert info.value.reason == "key"


def test_a_checkpoint_signed_by_another_log_key_is_refused() -> None:
    record = _with(_record(1), checkpoint=_note(TREE, SIZE, OTHER_LOG_KEY))
    with pytest.raises(IntegrityError, match="not signed by the log's key") as info:
        check_key_record(record, log_key=VKEY)
    assert info.value.reason == "key"
    assert check_key_record(record, log_key=OTHER_VKEY).key_id == ALICE_KEY.key_id


_ODD = log.canonical(
    {"index": 1, "action": ["auth.enroll"], "outcome": "ok", "targets": {"user": str(ALICE)}}
)


@pytest.mark.parametrize("check", ["gives", "check_key_record"])
def test_an_entry_whose_action_is_not_a_string_gives_no_key(check: str) -> None:
    # A logged entry with {"action": [...]}: a refusal, not a TypeError from `in KEY_ACTIONS`.
    if check == "gives":
        assert not gives(_ODD, user_id=ALICE, key_id=ALICE_KEY.key_id)
        return
    record = dataclasses.replace(
        _record(1),
        leaf=_ODD,
        checkpoint=_note(_tree([LEAVES[0], _ODD]), 2),
        inclusion=(merkle.leaf_hash(LEAVES[0]),),
    )
    with pytest.raises(IntegrityError, match="does not give a key") as info:
        check_key_record(record, log_key=VKEY)
    assert info.value.reason == "key"


def test_a_checkpoint_of_another_log_under_the_same_key_is_refused() -> None:
    """Signed by the log's key, but for a tree of another origin (another log it signs)."""
    other = checkpoint.Checkpoint("vault.example/other", SIZE, merkle.root(TREE, SIZE))
    record = _with(_record(1), checkpoint=checkpoint.sign(other, NAME, LOG_KEY))
    with pytest.raises(IntegrityError, match="of another log") as info:
        check_key_record(record, log_key=VKEY)
    assert info.value.reason == "key"


# -- gives, logged_key, fingerprint ------------------------------------------------------------


def test_gives_only_for_the_entrys_user_and_key() -> None:
    assert gives(LEAVES[1], user_id=ALICE, key_id=ALICE_KEY.key_id)
    assert gives(LEAVES[8], user_id=ALICE, key_id=ALICE_NEW_KEY.key_id)
    assert not gives(LEAVES[1], user_id=BOB, key_id=ALICE_KEY.key_id)
    assert not gives(LEAVES[1], user_id=ALICE, key_id=BOB_KEY.key_id)
    assert not gives(LEAVES[2], user_id=ALICE, key_id=ALICE_KEY.key_id)  # not a key action
    assert not gives(LEAVES[4], user_id=ALICE, key_id=ALICE_NEW_KEY.key_id)  # denied
    for garbage in (LEAVES[6], LEAVES[7], b"", b"\xff\xfe", b"null", b'"auth.enroll"'):
        assert not gives(garbage, user_id=ALICE, key_id=ALICE_KEY.key_id)


@pytest.mark.parametrize("action", sorted(KEY_ACTIONS))
def test_logged_key_of_every_key_action(action: str) -> None:
    user = {"user": str(ALICE)}
    assert logged_key(action, "ok", {"key_id": ALICE_KEY.key_id}, user) == ALICE_KEY.key_id
    assert logged_key(action, "ok", {"key_id": "none"}, user) is None
    assert logged_key(action, "denied", {"key_id": ALICE_KEY.key_id}, user) is None
    assert logged_key(action, "ok", {}, user) is None
    # A user entry's recovery_key target (there is none) is not what it gives.
    assert logged_key(action, "ok", {}, {"recovery_key": ALICE_KEY.key_id}) is None


@pytest.mark.parametrize("action", sorted(RECOVERY_KEY_ACTIONS))
def test_logged_key_of_every_recovery_key_action(action: str) -> None:
    targets = {"recovery_key": RECOVERY_KEY.key_id}
    assert logged_key(action, "ok", {}, targets) == RECOVERY_KEY.key_id
    assert logged_key(action, "denied", {}, targets) is None
    assert logged_key(action, "ok", {"key_id": ALICE_KEY.key_id}, {}) is None


@pytest.mark.parametrize(
    "action", ["document.upload", "auth.login", "log.key.rotate", "recovery.reshare", ""]
)
def test_logged_key_of_other_actions_is_none(action: str) -> None:
    targets = {"recovery_key": RECOVERY_KEY.key_id}
    assert logged_key(action, "ok", {"key_id": ALICE_KEY.key_id}, targets) is None


# -- check_recovery_record ---------------------------------------------------------------------


def _recovery_leaf(index: int, action: str, key_id: str, *, outcome: str = "ok") -> bytes:
    return log.NewEntry(
        action=action, actor="system", time=TIME, outcome=outcome, targets={"recovery_key": key_id}
    ).leaf(index)


RECOVERY_LEAVES = [
    _recovery_leaf(0, "vault.init", RECOVERY_KEY.key_id),
    _leaf(1, "auth.enroll", ALICE, ALICE_KEY.key_id),
    _recovery_leaf(2, "recovery.key.rotate", NEW_RECOVERY_KEY.key_id, outcome="denied"),
    _recovery_leaf(3, "recovery.reshare", NEW_RECOVERY_KEY.key_id),
    _recovery_leaf(4, "recovery.key.rotate", NEW_RECOVERY_KEY.key_id),
]
RECOVERY_TREE = _tree(RECOVERY_LEAVES)


def _recovery_record(index: int, public: PublicKey) -> KeyRecord:
    size = len(RECOVERY_LEAVES)
    return KeyRecord(
        username="",
        user_id=UUID(int=0),
        public_key=public.to_bytes(),
        index=index,
        leaf=RECOVERY_LEAVES[index],
        checkpoint=_note(RECOVERY_TREE, size),
        inclusion=tuple(merkle.inclusion_proof(RECOVERY_TREE, index, size)),
    )


def test_recovery_record_accepted_for_the_key_its_entry_sets() -> None:
    first = check_recovery_record(_recovery_record(0, RECOVERY_KEY), log_key=VKEY)
    assert (first.key_id, first.index, first.action) == (RECOVERY_KEY.key_id, 0, "vault.init")
    rotated = check_recovery_record(_recovery_record(4, NEW_RECOVERY_KEY), log_key=VKEY)
    assert rotated.action == "recovery.key.rotate"


@pytest.mark.parametrize(
    ("index", "public", "why"),
    [
        (0, NEW_RECOVERY_KEY, "another recovery key"),  # a substituted key
        (1, ALICE_KEY, "does not set the recovery key"),  # a user's key entry
        (2, NEW_RECOVERY_KEY, "does not set the recovery key"),  # a denied rotation
        (3, NEW_RECOVERY_KEY, "does not set the recovery key"),  # a reshare sets no key
    ],
)
def test_recovery_record_refused_unless_its_entry_sets_that_key(
    index: int, public: PublicKey, why: str
) -> None:
    with pytest.raises(IntegrityError, match=why) as info:
        check_recovery_record(_recovery_record(index, public), log_key=VKEY)
    assert info.value.reason == "key"


def test_recovery_record_refused_off_the_log() -> None:
    record = _recovery_record(4, NEW_RECOVERY_KEY)
    with pytest.raises(IntegrityError, match="not signed"):
        check_recovery_record(record, log_key=OTHER_VKEY)
    forged = dataclasses.replace(record, leaf=_recovery_leaf(4, "vault.init", ALICE_KEY.key_id))
    with pytest.raises(IntegrityError, match="inclusion proof"):
        check_recovery_record(
            dataclasses.replace(forged, public_key=ALICE_KEY.to_bytes()), log_key=VKEY
        )
    assert gives_recovery(RECOVERY_LEAVES[4], key_id=NEW_RECOVERY_KEY.key_id)
    assert not gives_recovery(RECOVERY_LEAVES[4], key_id=RECOVERY_KEY.key_id)
    for garbage in (b"", b"null", b"\xff", LEAVES[1]):
        assert not gives_recovery(garbage, key_id=ALICE_KEY.key_id)


def test_fingerprint_groups_the_key_id_by_four() -> None:
    assert fingerprint("0123456789abcdef" * 4) == " ".join(["0123 4567 89ab cdef"] * 4)
    printed = fingerprint(ALICE_KEY.key_id)
    assert re.fullmatch(r"[0-9a-f]{4}( [0-9a-f]{4}){15}", printed)
    assert printed.replace(" ", "") == ALICE_KEY.key_id


# -- witness.advance ---------------------------------------------------------------------------


class FakeLog:
    """A server's log as ``witness.LogSource``: its key, rotations and consistency proofs."""

    def __init__(
        self,
        nodes: merkle.MemoryNodes,
        key: str = VKEY,
        transitions: Sequence[rotation.Transition] = (),
    ) -> None:
        self.nodes, self.key, self.transitions = nodes, key, list(transitions)
        self.asked: list[tuple[int, int]] = []

    def verifier_key(self) -> str:
        return self.key

    def rotations(self) -> list[rotation.Transition]:
        return list(self.transitions)

    def consistency(self, first: int, second: int) -> list[bytes]:
        self.asked.append((first, second))
        return merkle.consistency_proof(self.nodes, first, second)


def _refusal(source: witness.LogSource, note: str, pinned: str | None, saved: str | None) -> str:
    with pytest.raises(IntegrityError) as info:
        witness.advance(source, note, pinned_key=pinned, saved=saved)
    return info.value.reason


def test_first_contact_trusts_the_served_key() -> None:
    done = witness.advance(FakeLog(TREE), _note(TREE, SIZE), pinned_key=None, saved=None)
    assert (done.key, done.rotations) == (VKEY, [])
    assert (done.checkpoint.size, done.checkpoint.root) == (SIZE, merkle.root(TREE, SIZE))


@pytest.mark.parametrize(("saved", "size"), [(0, 9), (1, 9), (4, 9), (5, 9), (3, 5), (9, 9)])
def test_a_checkpoint_that_extends_the_saved_one_passes(saved: int, size: int) -> None:
    source = FakeLog(TREE)
    done = witness.advance(source, _note(TREE, size), pinned_key=VKEY, saved=_note(TREE, saved))
    assert (done.key, done.checkpoint.size) == (VKEY, size)
    assert source.asked == ([(saved, size)] if 0 < saved < size else [])


@pytest.mark.parametrize("saved", range(1, FORK_AT + 1))
def test_a_fork_after_the_saved_checkpoint_passes(saved: int) -> None:
    witness.advance(FakeLog(TREE), _note(TREE, SIZE), pinned_key=VKEY, saved=_note(FORK, saved))


@pytest.mark.parametrize("saved", range(FORK_AT + 1, SIZE + 1))
def test_a_fork_before_the_saved_checkpoint_is_inconsistent(saved: int) -> None:
    # saved == SIZE: the same size with another root.
    for seen, served in ((FORK, TREE), (TREE, FORK)):
        note = _note(served, SIZE)
        assert _refusal(FakeLog(served), note, VKEY, _note(seen, saved)) == "inconsistent"


def test_a_smaller_tree_than_the_saved_one_has_shrunk() -> None:
    assert _refusal(FakeLog(TREE), _note(TREE, 5), VKEY, _note(TREE, 6)) == "shrunk"


def test_another_log_key_without_a_rotation_is_refused() -> None:
    source = FakeLog(TREE, key=OTHER_VKEY)
    note = _note(TREE, SIZE, OTHER_LOG_KEY)
    assert _refusal(source, note, VKEY, None) == "key"
    assert _refusal(source, note, VKEY, _note(TREE, 3)) == "key"
    # The served key, but a note signed by another: the signature check refuses it.
    assert _refusal(FakeLog(TREE), note, VKEY, None) == "no-signature"


NEW_LOG_KEY = SigningKey(bytes(range(2, 34)))
NEW_VKEY = checkpoint.encode_vkey(NAME, NEW_LOG_KEY.public_bytes())


def test_a_rotation_leads_from_the_pinned_key_through_its_tree() -> None:
    extra = {"old_key": VKEY, "new_key": NEW_VKEY}
    entry = log.NewEntry(rotation.ACTION, "system", TIME, extra=extra).leaf(SIZE)
    nodes = _tree([*LEAVES, entry, _leaf(10, "auth.login", BOB, "none"), b"x"])
    head = checkpoint.Checkpoint(NAME, SIZE + 1, merkle.root(nodes, SIZE + 1))
    transition = rotation.Transition(
        index=SIZE,
        old_key=VKEY,
        new_key=NEW_VKEY,
        entry=entry,
        checkpoint=checkpoint.sign_all(head, [(NAME, LOG_KEY), (NAME, NEW_LOG_KEY)]),
        proof=tuple(merkle.inclusion_proof(nodes, SIZE, SIZE + 1)),
    )
    source = FakeLog(nodes, NEW_VKEY, [transition])
    note = _note(nodes, SIZE + 3, NEW_LOG_KEY)
    done = witness.advance(source, note, pinned_key=VKEY, saved=_note(nodes, 5))
    assert (done.key, done.rotations, done.checkpoint.size) == (NEW_VKEY, [transition], SIZE + 3)
    assert source.asked == [(5, SIZE + 1), (SIZE + 1, SIZE + 3)]
    # A saved checkpoint of a fork is refused through the rotation's tree too.
    assert _refusal(source, note, VKEY, _note(FORK, 6)) == "inconsistent"
