"""The access log's signing key and its signed checkpoints.

The Ed25519 seed is stored in the database sealed (AES-256-GCM) under a 32-byte key kept in a
file outside it (``log-seal.key`` in the data directory, mode 0600, or ``VAULT_LOG_SEAL_KEY_FILE``
for replicas that share a database): a database copy can neither read the key nor forge a
checkpoint with it. Every replica that signs needs the file; its public key is published at
``GET /v1/audit/key``.

``rotate_log_key`` replaces the key: the rotation is an entry in the log, the checkpoint of the
tree ending with it is signed by both keys (``vault.audit.rotation`` says how a client follows),
and the old key's sealed seed is erased while its public half stays, so that the checkpoints it
signed still verify. Every stored checkpoint is signed by the key that was active when its tree
was the log's head, so the checkpoints signed by a key and its successors are exactly those
from its transition on: ``load_transitions`` finds each transition by bisection over sizes.
``verify_vault`` checks all of that offline, and the log itself with it.

Every signature is made under the lock of the pinned checkpoint (``vault.audit.pin``), after
checking that the log in the database extends the newest tree this server signed, and that tree
is pinned again once the new checkpoint is committed: a database rolled back to an older state
is refused (``IntegrityError``, reason ``log-rollback``) before anything is signed on it.
"""

from __future__ import annotations

import bisect
import secrets
import uuid
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlmodel import Session, col, select

from vault import crypto
from vault.audit import checkpoint, log, pin, rotation
from vault.audit.seal_key import read_seal_key
from vault.audit.verify import VerifyReport, verify_log
from vault.clock import Clock
from vault.errors import Conflict, IntegrityError, StorageError
from vault.settings import Settings
from vault.storage.models import AuditCheckpoint, LogKey

__all__ = [
    "Signer",
    "check_pinned",
    "create_log_key",
    "latest_checkpoint",
    "load_signer",
    "load_transitions",
    "pin_problem",
    "rotate_log_key",
    "verify_vault",
]

_LABEL = "log-signing-key"


class Signer:
    """The active log key, unsealed, and the pinned checkpoint file it keeps up to date
    (``None``: none, for a key used outside a vault's data directory)."""

    def __init__(self, name: str, key: crypto.SigningKey, pin: Path | None = None) -> None:
        self.name = name
        self.key = key
        self.public = key.public_bytes()
        self.pin = pin

    @property
    def vkey(self) -> str:
        return checkpoint.encode_vkey(self.name, self.public)

    @property
    def key_id(self) -> str:
        """The key id in hex, as ``LogKey.key_id`` stores it."""
        return checkpoint.key_id(self.name, self.public).hex()


def _subject(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, name)


def create_log_key(db: Session, settings: Settings, clock: Clock) -> Signer:
    """Make a new active log key (not committed); the seal key file is created if missing."""
    name = settings.log_origin or f"source-vault.local/{secrets.token_hex(8)}"
    key = crypto.generate_signing_key()
    sealed = crypto.seal_record(
        read_seal_key(settings.seal_key_path, create=True),
        key.seed,
        label=_LABEL,
        subject_id=_subject(name),
    )
    for row in db.exec(select(LogKey).where(col(LogKey.active).is_(True))):
        row.active = False
        db.add(row)
    public = key.public_bytes()
    db.add(
        LogKey(
            key_id=checkpoint.key_id(name, public).hex(),
            name=name,
            public_key=public,
            sealed_seed=sealed,
            active=True,
            created_at=clock(),
        )
    )
    return Signer(name, key, settings.checkpoint_pin_path)


def load_signer(db: Session, settings: Settings) -> Signer | None:
    """The active key, unsealed; ``None`` if the vault has none yet."""
    row = db.exec(select(LogKey).where(col(LogKey.active).is_(True))).first()
    if row is None:
        return None
    seed = crypto.open_record(
        read_seal_key(settings.seal_key_path, create=False),
        row.sealed_seed,
        label=_LABEL,
        subject_id=_subject(row.name),
    )
    signer = Signer(row.name, crypto.SigningKey(seed), settings.checkpoint_pin_path)
    if signer.public != row.public_key:
        raise IntegrityError("the log key does not match its public key", reason="log-key")
    return signer


def _active_key_ids(db: Session) -> list[str]:
    return list(db.exec(select(LogKey.key_id).where(col(LogKey.active).is_(True))))


def _check_pin(
    db: Session, path: Path | None, size: int, root: bytes
) -> checkpoint.Checkpoint | None:
    """``pin.check`` when there is a pinned file to keep (the caller holds its lock)."""
    return None if path is None else pin.check(db, path, size, root, pin.log_keys(db))


def _advance(path: Path | None, note: str, size: int, pinned: checkpoint.Checkpoint | None) -> None:
    """Pin ``note`` (a tree of ``size`` that extends ``pinned``, checked under the lock the
    caller still holds) if it is larger: the file never moves back."""
    if path is not None and (pinned is None or size > pinned.size):
        pin.write(path, note)


def latest_checkpoint(db: Session, signer: Signer, clock: Clock) -> str:
    """A signed checkpoint of the log as it is now, stored once per size, and pinned.
    ``IntegrityError`` (reason ``log-rollback``) if the log does not extend the pinned
    checkpoint; ``Conflict`` if ``signer`` was rotated out after the caller loaded it: ask
    again with the new key."""
    with pin.locked(signer.pin):
        size, root = pin.current_head(db)
        pinned = _check_pin(db, signer.pin, size, root)
        stored = db.get(AuditCheckpoint, size)
        if stored is not None:
            _advance_stored(db, signer.pin, stored.note, size, root, pinned)
            return stored.note
        # Read after the head: if the key is still active now, it was when the head was read,
        # so the tree predates any rotation and is the old key's to sign. Signing a tree that
        # holds the rotation entry with the old key would let it speak past its retirement.
        if _active_key_ids(db) != [signer.key_id]:
            raise Conflict("the access log's key was rotated meanwhile")
        note = checkpoint.sign(
            checkpoint.Checkpoint(signer.name, size, root), signer.name, signer.key
        )
        db.add(AuditCheckpoint(size=size, note=note, created_at=clock()))
        try:
            db.commit()
        except DBIntegrityError:
            db.rollback()  # another replica stored this size first; serve theirs
            again = db.get(AuditCheckpoint, size)
            if again is None:
                raise
            _advance_stored(db, signer.pin, again.note, size, root, pinned)
            return again.note
        _advance(signer.pin, note, size, pinned)
        return note


def _advance_stored(
    db: Session,
    path: Path | None,
    note: str,
    size: int,
    root: bytes,
    pinned: checkpoint.Checkpoint | None,
) -> None:
    """Pin a checkpoint read from the database, only if a log key signed it for this tree:
    a row whoever writes the database made up is not pinned."""
    if path is None or (pinned is not None and size <= pinned.size):
        return
    try:
        opened = pin.open_pinned(note.encode("utf-8"), pin.log_keys(db))
    except IntegrityError:
        return
    if (opened.size, opened.root) == (size, root):
        _advance(path, note, size, pinned)


def check_pinned(engine: Engine, settings: Settings, clock: Clock) -> None:
    """At open: refuse (``IntegrityError``, reason ``log-rollback``) a database whose log does
    not extend the pinned checkpoint. With nothing pinned yet (a new vault, or one from before
    the pinned file), the log as it is now is pinned: trust on first use. Its checkpoint is the
    one stored for its size, or one signed now and not stored (Ed25519 is deterministic, so it
    is the note that will be stored for that size)."""
    path = settings.checkpoint_pin_path
    with Session(engine, expire_on_commit=False) as db, pin.locked(path):
        size, root = pin.current_head(db)
        if _check_pin(db, path, size, root) is not None:
            return
        stored = db.get(AuditCheckpoint, size)
        if stored is not None:
            _advance_stored(db, path, stored.note, size, root, None)
            if pin.read(path) is not None:
                return
        found = load_signer(db, settings)
        if found is None:
            raise StorageError("the access log has no signing key")
        if _active_key_ids(db) != [found.key_id]:
            raise Conflict("the access log's key was rotated meanwhile")
        tree = checkpoint.Checkpoint(found.name, size, root)
        _advance(path, checkpoint.sign(tree, found.name, found.key), size, None)


def pin_problem(engine: Engine, path: Path) -> tuple[int | None, str | None]:
    """For checking without writing: the pinned checkpoint's size (``None`` if nothing is
    pinned) and, if the database's log does not extend it, what is wrong."""
    with Session(engine) as db:
        size, root = pin.current_head(db)
        try:
            pinned = _check_pin(db, path, size, root)
        except IntegrityError as exc:
            return None, str(exc)
    return (pinned.size if pinned is not None else None), None


def rotate_log_key(db: Session, settings: Settings, clock: Clock) -> rotation.Transition:
    """Replace the active log key with a new one (committed): log the rotation, store the
    checkpoint of the tree that ends with it signed by both keys, and erase the old key's
    sealed seed. ``Unavailable`` if the log cannot be written (nothing changes then)."""
    path = settings.checkpoint_pin_path
    with pin.locked(path):
        transition = _rotate(db, settings, clock, path)
    return transition


def _rotate(db: Session, settings: Settings, clock: Clock, path: Path) -> rotation.Transition:
    # Under the appenders' lock the active key read next is current, and stays so until the
    # commit: a second rotation elsewhere waits, then starts from this one's key.
    log.lock(db)
    pinned = _check_pin(db, path, *pin.current_head(db))
    old = load_signer(db, settings)
    if old is None:
        raise StorageError("the access log has no signing key")
    seal = read_seal_key(settings.seal_key_path, create=False)
    # The origin stays: it names the log, and a checkpoint's origin is its signer's name.
    new = Signer(old.name, crypto.generate_signing_key(), path)
    now = clock()
    index = log.append(
        db,
        action=rotation.ACTION,
        actor="system",
        time=now,
        extra={"old_key": old.vkey, "new_key": new.vkey},
    )
    size, root = log.head(db)
    if size != index + 1:
        raise StorageError("the access log grew during its key rotation")
    note = checkpoint.sign_all(
        checkpoint.Checkpoint(old.name, size, root), [(old.name, old.key), (new.name, new.key)]
    )
    db.add(AuditCheckpoint(size=size, note=note, created_at=now))
    retired = db.get(LogKey, old.key_id)
    if retired is None:
        raise StorageError("the active log key vanished during its rotation")
    retired.active = False
    retired.sealed_seed = b""  # the public half stays: the checkpoints it signed still verify
    db.add(retired)
    db.add(
        LogKey(
            key_id=new.key_id,
            name=new.name,
            public_key=new.public,
            sealed_seed=crypto.seal_record(
                seal, new.key.seed, label=_LABEL, subject_id=_subject(new.name)
            ),
            active=True,
            created_at=now,
        )
    )
    transition = rotation.Transition(
        index=index,
        old_key=old.vkey,
        new_key=new.vkey,
        entry=log.receipt(db, index).leaf,
        checkpoint=note,
        proof=tuple(log.inclusion_proof(db, index, size)),
    )
    log.commit(db)
    _advance(path, note, size, pinned)
    return transition


def _signed_by(note: str, keys: Sequence[tuple[str, bytes]]) -> bool:
    for name, public in keys:
        try:
            checkpoint.open_note(note, name=name, public=public)
        except IntegrityError:
            continue
        return True
    return False


def _first_signed_by(
    db: Session, keys: Sequence[tuple[str, bytes]], lo: int, hi: int
) -> AuditCheckpoint | None:
    """The stored checkpoint of least size in ``[lo, hi)`` signed by one of ``keys``, given
    that every checkpoint after one so signed is so signed too: about 64 indexed reads at
    most, however many checkpoints are stored."""
    found = None
    while lo < hi:
        mid = (lo + hi) // 2
        row = db.exec(
            select(AuditCheckpoint)
            .where(col(AuditCheckpoint.size) >= mid, col(AuditCheckpoint.size) < hi)
            .order_by(col(AuditCheckpoint.size))
            .limit(1)
        ).first()
        if row is None:
            hi = mid
        elif _signed_by(row.note, keys):
            found, hi = row, mid
        else:
            lo = row.size + 1
    return found


def load_transitions(db: Session) -> list[rotation.Transition]:
    """Every rotation of the log's key, oldest first, as ``rotation.follow`` checks them.
    ``IntegrityError`` (reason ``rotation``) if a key has no transition checkpoint."""
    keys = list(db.exec(select(LogKey).order_by(col(LogKey.created_at))))
    end = log.head(db)[0] + 1
    found: list[rotation.Transition] = []
    start = 0
    for at in range(1, len(keys)):
        later = [(k.name, k.public_key) for k in keys[at:]]
        row = _first_signed_by(db, later, start, end)
        if row is None or row.size == 0:
            raise IntegrityError(
                "a rotation of the access log's key has no transition checkpoint",
                reason="rotation",
            )
        index = row.size - 1
        previous, key = keys[at - 1], keys[at]
        found.append(
            rotation.Transition(
                index=index,
                old_key=checkpoint.encode_vkey(previous.name, previous.public_key),
                new_key=checkpoint.encode_vkey(key.name, key.public_key),
                entry=log.receipt(db, index).leaf,
                checkpoint=row.note,
                proof=tuple(log.inclusion_proof(db, index, row.size)),
            )
        )
        start = row.size + 1
    return found


def verify_vault(engine: Engine, pin_path: Path | None = None) -> VerifyReport:
    """Check that the log's keys follow one another by verified rotations and that every
    stored checkpoint is signed by the key of its time (the transitions by both), then
    recompute the whole log and compare it with the head and with every checkpoint's root;
    last, that the log extends the checkpoint pinned in ``pin_path`` (if there is one)."""
    with Session(engine) as db:
        keys = [
            (k.name, k.public_key) for k in db.exec(select(LogKey).order_by(col(LogKey.created_at)))
        ]
        notes = list(db.exec(select(AuditCheckpoint).order_by(col(AuditCheckpoint.size))))
        size, root = log.head(db)
        try:
            transitions = load_transitions(db)
            chain = rotation.follow(checkpoint.encode_vkey(*keys[0]), transitions) if keys else []
        except (IntegrityError, StorageError) as exc:
            return VerifyReport(size, root, str(exc))
    if len(keys) > 1 and len(chain) != len(keys) - 1:
        return VerifyReport(size, root, "a log key was not introduced by a verified rotation")
    # keys[j] signs the trees from the size of its transition on (keys[0]: from the start).
    starts = [0, *(transition.index + 1 for transition, _ in chain)]
    roots: dict[int, bytes] = {}
    for stored in notes:
        opened = None
        if keys:
            name, public = keys[bisect.bisect_right(starts, stored.size) - 1]
            try:
                opened = checkpoint.open_checkpoint(stored.note, name=name, public=public)
            except IntegrityError:
                opened = None
        if opened is None:
            return VerifyReport(
                size, root, f"the checkpoint at size {stored.size} is not signed by the log key"
            )
        if opened.size != stored.size:
            return VerifyReport(
                size,
                root,
                f"the checkpoint stored at size {stored.size} is signed for size {opened.size}",
            )
        roots[stored.size] = opened.root
    report = verify_log(engine, checkpoint_roots=roots)
    if report.ok and pin_path is not None:
        report.pinned, report.problem = pin_problem(engine, pin_path)
    return report
