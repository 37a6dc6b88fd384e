"""Reader key pairs and HPKE key wrapping (``docs/format.md`` §3): a wrapped data key opens only
for its recipient, its kind and its subject; key pairs are a pure function of their seed; and
no representation of a key shows its secret."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable

import pytest
from cryptography.exceptions import InvalidTag

from vault import crypto
from vault.crypto import PassphraseKeys, PrivateKey, PublicKey, _keys
from vault.errors import IntegrityError

DATA_KEY = bytes(range(100, 132))
SUBJECT = uuid.UUID("6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5")
FIXED_SEED = bytes(range(32))
# key_id of PrivateKey(bytes(range(32))): pins the seed -> key pair -> key id derivation, so a
# change that would orphan every sealed seed and SLIP-39 share fails here first.
FIXED_SEED_KEY_ID = "48998738f085262117e7c3a0ae51ee44c6eb80ce028a6893a550e5860ec9cea9"


def _c(kind: str, subject: uuid.UUID) -> bytes:
    """What DATA_KEY commits to as the key of that subject: what its record would store."""
    return crypto.key_commitment(DATA_KEY, kind=kind, subject_id=subject)


@pytest.fixture(scope="module")
def alice() -> PrivateKey:
    return crypto.generate_private_key()


@pytest.fixture(scope="module")
def bob() -> PrivateKey:
    return crypto.generate_private_key()


def wrap_for(
    recipient: PrivateKey, *, kind: str = "document", subject: uuid.UUID = SUBJECT
) -> bytes:
    return crypto.wrap_key(
        DATA_KEY,
        recipient.public_key(),
        kind=kind,
        subject_id=subject,
        commitment=_c(kind, subject),
    )


# -- wrapping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["document", "source"])
def test_wrapped_key_round_trips(alice: PrivateKey, kind: str) -> None:
    wrapped = wrap_for(alice, kind=kind)
    assert len(wrapped) == _keys.WRAPPED_KEY_SIZE
    assert DATA_KEY not in wrapped
    assert (
        crypto.unwrap_key(
            wrapped, alice, kind=kind, subject_id=SUBJECT, commitment=_c(kind, SUBJECT)
        )
        == DATA_KEY
    )


def test_wrapping_is_randomised(alice: PrivateKey) -> None:
    # A fresh encapsulation each time: two wraps of one key for one reader share nothing.
    assert wrap_for(alice) != wrap_for(alice)


def test_wrong_recipient_is_an_integrity_error(alice: PrivateKey, bob: PrivateKey) -> None:
    wrapped = wrap_for(alice)
    with pytest.raises(IntegrityError) as exc_info:
        crypto.unwrap_key(
            wrapped, bob, kind="document", subject_id=SUBJECT, commitment=_c("document", SUBJECT)
        )
    assert exc_info.value.reason == "wrapped-key"


def test_wrapped_key_moved_to_another_subject_fails(alice: PrivateKey) -> None:
    wrapped = wrap_for(alice)
    with pytest.raises(IntegrityError) as exc_info:
        crypto.unwrap_key(
            wrapped,
            alice,
            kind="document",
            subject_id=uuid.uuid4(),
            commitment=_c("document", uuid.uuid4()),
        )
    assert exc_info.value.reason == "wrapped-key"


def test_wrapped_key_moved_to_another_kind_fails(alice: PrivateKey) -> None:
    # A document's key relabelled as a source's (same subject id) must not open.
    wrapped = wrap_for(alice, kind="document")
    with pytest.raises(IntegrityError) as exc_info:
        crypto.unwrap_key(
            wrapped, alice, kind="source", subject_id=SUBJECT, commitment=_c("source", SUBJECT)
        )
    assert exc_info.value.reason == "wrapped-key"


def test_key_wrapped_for_a_presented_by_b_fails(alice: PrivateKey, bob: PrivateKey) -> None:
    # B copies A's wrapped key into a row of their own (same kind, same subject) and presents
    # it with B's key: the recipient's key id is bound into the wrap, so it does not open, and
    # B's own copy of the same data key still does.
    for_alice, for_bob = wrap_for(alice), wrap_for(bob)
    with pytest.raises(IntegrityError) as exc_info:
        crypto.unwrap_key(
            for_alice, bob, kind="document", subject_id=SUBJECT, commitment=_c("document", SUBJECT)
        )
    assert exc_info.value.reason == "wrapped-key"
    assert (
        crypto.unwrap_key(
            for_bob, bob, kind="document", subject_id=SUBJECT, commitment=_c("document", SUBJECT)
        )
        == DATA_KEY
    )


def test_wrap_binds_the_recipients_key_id(alice: PrivateKey, bob: PrivateKey) -> None:
    # White-box, because no honest caller can tell: HPKE already stops B from opening A's
    # wrap, and the key id in the info is the extra binding of §3. Opened with A's own HPKE key
    # but an info that names B, the wrap must not authenticate.
    wrapped = wrap_for(alice)
    naming = {
        key.public_key().key_id: _keys._wrap_info(
            "document", SUBJECT, key.public_key().key_id, _c("document", SUBJECT)
        )
        for key in (alice, bob)
    }
    assert _keys._SUITE.decrypt(wrapped, alice._hpke, info=naming[alice.public_key().key_id])
    with pytest.raises(InvalidTag):
        _keys._SUITE.decrypt(wrapped, alice._hpke, info=naming[bob.public_key().key_id])


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda w: w[:-1], id="truncated"),
        pytest.param(lambda w: w + b"\x00", id="extended"),
        pytest.param(lambda w: b"", id="empty"),
        pytest.param(lambda w: w[:-1] + bytes([w[-1] ^ 1]), id="tag-bit-flipped"),
        pytest.param(lambda w: bytes([w[0] ^ 1]) + w[1:], id="encapsulation-bit-flipped"),
        pytest.param(lambda w: os.urandom(len(w)), id="random"),
    ],
)
def test_damaged_wrapped_key_is_an_integrity_error(
    alice: PrivateKey, damage: Callable[[bytes], bytes]
) -> None:
    wrapped = damage(wrap_for(alice))
    with pytest.raises(IntegrityError) as exc_info:
        crypto.unwrap_key(
            wrapped, alice, kind="document", subject_id=SUBJECT, commitment=_c("document", SUBJECT)
        )
    assert exc_info.value.reason == "wrapped-key"


def test_integrity_error_message_is_the_same_for_every_cause(
    alice: PrivateKey, bob: PrivateKey
) -> None:
    # One opaque failure: the message does not say whether recipient, subject or bytes were wrong.
    wrapped = wrap_for(alice)
    attempts = [
        (wrapped, bob, "document", SUBJECT),
        (wrapped, alice, "document", uuid.uuid4()),
        (wrapped, alice, "source", SUBJECT),
        (wrapped[:-1], alice, "document", SUBJECT),
    ]
    messages = set()
    for blob, key, kind, subject in attempts:
        with pytest.raises(IntegrityError) as exc_info:
            crypto.unwrap_key(
                blob, key, kind=kind, subject_id=subject, commitment=_c(kind, subject)
            )
        messages.add(str(exc_info.value))
    assert len(messages) == 1


# -- key pairs ---------------------------------------------------------------------------------


def test_private_key_is_deterministic_in_its_seed() -> None:
    first, second = PrivateKey(FIXED_SEED), PrivateKey(FIXED_SEED)
    assert first.public_key() == second.public_key()
    assert first.public_key().to_bytes() == second.public_key().to_bytes()
    assert first.public_key().key_id == second.public_key().key_id == FIXED_SEED_KEY_ID
    # The same seed really is the same reader: what one instance wraps the other opens.
    wrapped = wrap_for(first)
    assert (
        crypto.unwrap_key(
            wrapped, second, kind="document", subject_id=SUBJECT, commitment=_c("document", SUBJECT)
        )
        == DATA_KEY
    )


def test_different_seeds_give_different_keys() -> None:
    other = PrivateKey(bytes(31) + b"\x01")
    assert other.public_key().key_id != FIXED_SEED_KEY_ID
    assert other.public_key() != PrivateKey(FIXED_SEED).public_key()


def test_key_id_survives_a_round_trip_through_bytes(alice: PrivateKey) -> None:
    public = alice.public_key()
    raw = public.to_bytes()
    assert len(raw) == _keys.PUBLIC_KEY_SIZE
    loaded = PublicKey(raw)
    assert loaded == public
    assert hash(loaded) == hash(public)
    assert loaded.key_id == public.key_id
    assert re.fullmatch(r"[0-9a-f]{64}", public.key_id)
    # A key loaded from its bytes is as good a recipient as the original.
    wrapped = crypto.wrap_key(
        DATA_KEY, loaded, kind="document", subject_id=SUBJECT, commitment=_c("document", SUBJECT)
    )
    assert (
        crypto.unwrap_key(
            wrapped, alice, kind="document", subject_id=SUBJECT, commitment=_c("document", SUBJECT)
        )
        == DATA_KEY
    )


@pytest.mark.parametrize("length", [0, 32, _keys.PUBLIC_KEY_SIZE - 1, _keys.PUBLIC_KEY_SIZE + 1])
def test_public_key_of_the_wrong_length_is_refused(alice: PrivateKey, length: int) -> None:
    raw = (alice.public_key().to_bytes() * 2)[:length]
    with pytest.raises(IntegrityError) as exc_info:
        PublicKey(raw)
    assert exc_info.value.reason == "bad-public-key"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\xff" * _keys.PUBLIC_KEY_SIZE, id="all-ones"),
        pytest.param(os.urandom(_keys.PUBLIC_KEY_SIZE), id="random"),
    ],
)
def test_public_key_that_is_not_an_ml_kem_key_is_refused(raw: bytes) -> None:
    # FIPS 203 §7.2 modulus check: every 12-bit coefficient of the encapsulation key is < q.
    with pytest.raises(IntegrityError) as exc_info:
        PublicKey(raw)
    assert exc_info.value.reason == "bad-public-key"


def test_public_key_with_a_low_order_x25519_half_is_an_integrity_error(alice: PrivateKey) -> None:
    raw = alice.public_key().to_bytes()[: _keys.MLKEM_PUBLIC_SIZE] + bytes(_keys.X25519_SIZE)
    with pytest.raises(IntegrityError):
        crypto.wrap_key(
            DATA_KEY,
            PublicKey(raw),
            kind="document",
            subject_id=SUBJECT,
            commitment=_c("document", SUBJECT),
        )


def test_private_key_seed_must_be_32_bytes() -> None:
    # A programmer mistake, not a ciphertext problem: plain ValueError.
    for seed in (b"", bytes(31), bytes(33)):
        with pytest.raises(ValueError, match="32 bytes"):
            PrivateKey(seed)


# -- representations ---------------------------------------------------------------------------


def _forms(secret: bytes) -> list[str]:
    return [secret.hex(), secret.hex().upper(), repr(secret), str(list(secret))[1:-1]]


def test_private_key_repr_never_shows_the_seed() -> None:
    key = PrivateKey(FIXED_SEED)
    for text in (repr(key), str(key), f"{key!r}", repr([key]), repr({"k": key})):
        for form in _forms(FIXED_SEED):
            assert form not in text
    assert FIXED_SEED_KEY_ID[:16] in repr(key)  # the public id is fine, and useful


def test_public_key_repr_is_short(alice: PrivateKey) -> None:
    text = repr(alice.public_key())
    assert alice.public_key().to_bytes().hex()[:64] not in text
    assert len(text) < 80


def test_passphrase_keys_repr_never_shows_either_key() -> None:
    verifier, kek = bytes(range(32)), bytes(range(32, 64))
    keys = PassphraseKeys(verifier=verifier, kek=kek)
    for text in (repr(keys), str(keys), repr([keys])):
        for form in _forms(verifier) + _forms(kek):
            assert form not in text
