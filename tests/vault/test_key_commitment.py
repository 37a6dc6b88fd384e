"""Key commitment (docs/format.md §2.6, §3.3): every reader of a subject opens the same key.

The attack it stops: whoever can write wrapped keys (the database, or an uploader's modified
client) wraps key K1 for one editor and K2 for another over one blob crafted to authenticate
under both. Crafting such a blob is the published AES-GCM key-commitment attack; what these
tests pin is that no second key gets that far: a wrap of another key under the subject's
commitment does not open, a stream whose header commitment is not its key's is refused before
any segment, and a record's commitment must match the stream's.
"""

from __future__ import annotations

import os
import uuid

import pytest

from vault import crypto
from vault.crypto import _keys, _stream
from vault.errors import IntegrityError

DOC = uuid.UUID("6b1d1f57-0d53-4a0e-9a55-58a4c1c7a0b4")
K1 = bytes(range(32))
K2 = bytes(range(1, 33))


def _commit(key: bytes, kind: str = "document", subject: uuid.UUID = DOC) -> bytes:
    return crypto.key_commitment(key, kind=kind, subject_id=subject)


def test_commitment_depends_on_key_kind_and_subject() -> None:
    seen = {
        _commit(K1),
        _commit(K2),
        _commit(K1, "source"),
        _commit(K1, subject=uuid.uuid4()),
    }
    assert len(seen) == 4
    assert all(len(c) == 32 for c in seen)
    assert _commit(K1) == _commit(K1)


def test_a_second_key_wrapped_under_the_first_keys_commitment_is_refused() -> None:
    # The database writer cannot call wrap_key with a mismatched commitment (it refuses), so
    # build the forged wrap the way they would: HPKE with the v2 info naming K1's commitment,
    # over K2.
    editor = crypto.generate_private_key()
    info = _keys._wrap_info("document", DOC, editor.public_key().key_id, _commit(K1))
    forged = _keys._SUITE.encrypt(K2, editor.public_key()._hpke, info=info)
    with pytest.raises(IntegrityError) as exc:
        crypto.unwrap_key(forged, editor, kind="document", subject_id=DOC, commitment=_commit(K1))
    assert exc.value.reason == "key-commitment"


def test_wrap_key_refuses_a_commitment_that_is_not_the_keys() -> None:
    editor = crypto.generate_private_key()
    with pytest.raises(ValueError, match="commitment"):
        crypto.wrap_key(
            K2, editor.public_key(), kind="document", subject_id=DOC, commitment=_commit(K1)
        )


def test_a_wrap_made_for_another_commitment_does_not_open() -> None:
    editor = crypto.generate_private_key()
    wrapped = crypto.wrap_key(
        K2, editor.public_key(), kind="document", subject_id=DOC, commitment=_commit(K2)
    )
    with pytest.raises(IntegrityError) as exc:
        crypto.unwrap_key(wrapped, editor, kind="document", subject_id=DOC, commitment=_commit(K1))
    assert exc.value.reason == "wrapped-key"


def test_a_legacy_wrap_does_not_open_where_a_commitment_is_recorded() -> None:
    # Downgrade: the writer wraps K2 in the version 1 format (no commitment in the info).
    editor = crypto.generate_private_key()
    legacy = crypto.wrap_key(
        K2, editor.public_key(), kind="document", subject_id=DOC, commitment=None
    )
    with pytest.raises(IntegrityError) as exc:
        crypto.unwrap_key(legacy, editor, kind="document", subject_id=DOC, commitment=_commit(K1))
    assert exc.value.reason == "wrapped-key"
    opened = crypto.unwrap_key(legacy, editor, kind="document", subject_id=DOC, commitment=None)
    assert opened == K2


def _stream_bytes(key: bytes, version: int = _stream.VERSION) -> bytes:
    return b"".join(
        _stream.encrypt_segments(
            key,
            DOC,
            [b"the same ciphertext for every reader"],
            segment_size=16,
            salt=os.urandom(32),
            nonce_prefix=os.urandom(7),
            version=version,
        )
    )


def _read(blob: bytes, key: bytes, commitment: bytes | None) -> bytes:
    return b"".join(crypto.decrypt_stream(key, DOC, [blob], commitment=commitment))


def test_a_stream_refuses_a_key_its_header_does_not_commit_to() -> None:
    blob = _stream_bytes(K1)
    assert blob[64:96] == _commit(K1)
    with pytest.raises(IntegrityError) as exc:
        _read(blob, K2, None)
    assert exc.value.reason == "key-commitment"


def test_a_stream_whose_header_commitment_is_rewritten_is_refused() -> None:
    # A header naming K2's commitment over segments sealed with K1: the commitment check
    # passes for K2, but K2 opens no segment; for K1 the header no longer names its key.
    blob = _stream_bytes(K1)
    edited = blob[:64] + _commit(K2) + blob[96:]
    with pytest.raises(IntegrityError) as exc:
        _read(edited, K1, None)
    assert exc.value.reason == "key-commitment"
    with pytest.raises(IntegrityError) as exc:
        _read(edited, K2, _commit(K2))
    assert exc.value.reason == "segment-auth"


def test_a_stream_must_carry_the_commitment_its_record_names() -> None:
    blob = _stream_bytes(K2)
    with pytest.raises(IntegrityError) as exc:
        _read(blob, K2, _commit(K1))
    assert exc.value.reason == "key-commitment"
    assert _read(blob, K2, _commit(K2)) == b"the same ciphertext for every reader"


def test_version_1_streams_still_read_but_not_where_a_commitment_is_recorded() -> None:
    old = _stream_bytes(K1, version=1)
    assert old[4] == 1
    assert len(old) == crypto.ciphertext_size(36, 16, version=1)
    assert _read(old, K1, None) == b"the same ciphertext for every reader"
    with pytest.raises(IntegrityError) as exc:
        _read(old, K1, _commit(K1))
    assert exc.value.reason == "key-commitment"


def test_the_header_is_96_bytes_and_version_2() -> None:
    blob = _stream_bytes(K1)
    assert blob[:5] == b"SVLT\x02"
    assert crypto.HEADER_SIZE == 96
    assert len(blob) == crypto.ciphertext_size(36, 16)
