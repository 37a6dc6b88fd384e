"""Properties of the content stream (``docs/format.md`` §2), for any plaintext, segment size and
chunking: it round-trips, and no single changed byte goes unnoticed."""

from __future__ import annotations

import uuid
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault import crypto
from vault.errors import IntegrityError

DATA_KEY = bytes(range(32, 64))
DOC = uuid.UUID("5d0c9a7e-1f2b-4c3d-8e4f-a5b6c7d8e9f0")

plaintexts = st.binary(max_size=5000)
segment_sizes = st.integers(min_value=16, max_value=512)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at arbitrary points (empty chunks included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=20)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


@settings(max_examples=150, deadline=None)
@given(plaintext=plaintexts, segment_size=segment_sizes, data=st.data())
def test_round_trip_for_any_plaintext_segment_size_and_chunking(
    plaintext: bytes, segment_size: int, data: st.DataObject
) -> None:
    chunks = data.draw(chunked(plaintext), label="plaintext chunks")
    blob = b"".join(crypto.encrypt_stream(DATA_KEY, DOC, chunks, segment_size=segment_size))
    assert len(blob) == crypto.ciphertext_size(len(plaintext), segment_size)
    blob_chunks = data.draw(chunked(blob), label="ciphertext chunks")
    assert b"".join(crypto.decrypt_stream(DATA_KEY, DOC, blob_chunks, commitment=None)) == plaintext


@settings(max_examples=150, deadline=None)
@given(
    plaintext=st.binary(max_size=2000),
    segment_size=segment_sizes,
    data=st.data(),
)
def test_any_single_byte_change_is_rejected(
    plaintext: bytes, segment_size: int, data: st.DataObject
) -> None:
    blob = bytearray(
        b"".join(crypto.encrypt_stream(DATA_KEY, DOC, [plaintext], segment_size=segment_size))
    )
    position = data.draw(st.integers(0, len(blob) - 1), label="position")
    blob[position] ^= data.draw(st.integers(1, 255), label="xor")
    out = bytearray()
    try:
        for piece in crypto.decrypt_stream(DATA_KEY, DOC, [bytes(blob)], commitment=None):
            out += piece
    except IntegrityError:
        pass
    else:
        pytest.fail(f"a stream with byte {position} changed decrypted")
    # Only whole segments before the damaged one may have come out.
    if position < crypto.HEADER_SIZE:
        assert out == b""
    else:
        damaged_segment = (position - crypto.HEADER_SIZE) // (segment_size + 16)
        assert bytes(out) == plaintext[: damaged_segment * segment_size]
