"""The content stream (``docs/format.md`` §2): round trips at every segment edge and under any
chunking, and every way of damaging a stream rejected with ``IntegrityError`` before a byte of
an unauthenticated segment comes out."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator

import pytest

from vault import crypto
from vault.crypto import _stream
from vault.errors import IntegrityError

DATA_KEY = bytes(range(32))
DOC = uuid.UUID("0b3f6e2a-58d4-4c1e-9a7b-2d5c8e1f4a60")
SMALL = 16
MIB = crypto.DEFAULT_SEGMENT_SIZE
HEADER = crypto.HEADER_SIZE
TAG = 16


def pattern(size: int) -> bytes:
    return bytes((i * 31 + 7) % 256 for i in range(size))


def one_chunk(data: bytes) -> list[bytes]:
    return [data]


def byte_chunks(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def uneven_chunks(data: bytes) -> list[bytes]:
    """Chunks of 1, 2, 3, ... bytes, then repeated, with an empty chunk now and then: no chunk
    boundary lines up with a segment boundary for long."""
    out, i, n = [], 0, 1
    while i < len(data):
        out.append(data[i : i + n])
        if n % 5 == 0:
            out.append(b"")
        i += n
        n = n % 97 + 1 if len(data) < 100_000 else n % 97 * 4099 + 1
    return out


CHUNKERS = {"one-chunk": one_chunk, "byte-chunks": byte_chunks, "uneven-chunks": uneven_chunks}


def encrypt(plaintext: bytes, *, segment_size: int = SMALL, doc: uuid.UUID = DOC) -> bytes:
    return b"".join(crypto.encrypt_stream(DATA_KEY, doc, [plaintext], segment_size=segment_size))


def decrypt(blob: bytes | Iterable[bytes], *, key: bytes = DATA_KEY, doc: uuid.UUID = DOC) -> bytes:
    chunks = [blob] if isinstance(blob, bytes) else blob
    return b"".join(crypto.decrypt_stream(key, doc, chunks, commitment=None))


def consume(
    blob: bytes, *, key: bytes = DATA_KEY, doc: uuid.UUID = DOC
) -> tuple[bytes, IntegrityError]:
    """Read a stream that must fail: what it yielded before failing, and the error."""
    out = bytearray()
    try:
        for piece in crypto.decrypt_stream(
            key, doc, byte_chunks(blob) if len(blob) < 400 else [blob], commitment=None
        ):
            out += piece
    except IntegrityError as exc:
        return bytes(out), exc
    pytest.fail("a damaged stream decrypted without error")


def sealed_segments(blob: bytes, segment_size: int = SMALL) -> tuple[bytes, list[bytes]]:
    step = segment_size + TAG
    body = blob[HEADER:]
    return blob[:HEADER], [body[i : i + step] for i in range(0, len(body), step)]


# -- round trips -------------------------------------------------------------------------------


def _sizes(segment: int) -> list[int]:
    return [0, 1, segment - 1, segment, segment + 1, 3 * segment, 3 * segment + 5]


ROUND_TRIPS = [
    pytest.param(SMALL, size, chunker, id=f"seg{SMALL}-{size}-{chunker}")
    for size in _sizes(SMALL)
    for chunker in CHUNKERS
] + [
    # 1-byte chunks of a multi-MiB plaintext would only measure the Python loop; the small
    # segment size above covers that path.
    pytest.param(MIB, size, chunker, id=f"1MiB-{size}-{chunker}")
    for size in _sizes(MIB)
    for chunker in ("one-chunk", "uneven-chunks")
]


@pytest.mark.parametrize(("segment_size", "size", "chunker"), ROUND_TRIPS)
def test_round_trip(segment_size: int, size: int, chunker: str) -> None:
    plaintext = pattern(size)
    split = CHUNKERS[chunker]
    stream = crypto.encrypt_stream(DATA_KEY, DOC, split(plaintext), segment_size=segment_size)
    blob = b"".join(stream)
    assert len(blob) == crypto.ciphertext_size(size, segment_size)
    assert blob[:4] == b"SVLT"
    assert decrypt(split(blob)) == plaintext


@pytest.mark.parametrize("size", [SMALL, 3 * SMALL, 3 * SMALL + 5, 2 * SMALL + 1])
@pytest.mark.parametrize("chunk", [SMALL, 2 * SMALL, 2 * SMALL + 3])
def test_chunks_that_hold_whole_segments_round_trip(size: int, chunk: int) -> None:
    # Whole segments are sealed straight from the caller's ``bytes`` chunks, without a copy.
    plaintext = pattern(size)
    chunks = [plaintext[i : i + chunk] for i in range(0, size, chunk)]
    blob = b"".join(crypto.encrypt_stream(DATA_KEY, DOC, chunks, segment_size=SMALL))
    assert decrypt(blob) == plaintext
    assert len(blob) == crypto.ciphertext_size(size, SMALL)


def test_a_reused_mutable_chunk_buffer_is_not_sealed_late() -> None:
    # A producer may refill one bytearray for every chunk; a full segment waits for the next
    # chunk (to learn whether it is the last), so it must not wait as a view of that buffer.
    plaintext = pattern(4 * SMALL)
    buffer = bytearray(SMALL)

    def refilled() -> Iterator[bytes]:
        for i in range(0, len(plaintext), SMALL):
            buffer[:] = plaintext[i : i + SMALL]
            yield buffer  # type: ignore[misc]

    blob = b"".join(crypto.encrypt_stream(DATA_KEY, DOC, refilled(), segment_size=SMALL))
    assert decrypt(blob) == plaintext


def test_default_segment_size_is_one_mib() -> None:
    blob = b"".join(crypto.encrypt_stream(DATA_KEY, DOC, [b"x"]))
    assert int.from_bytes(blob[5:9], "big") == 1 << 20
    assert len(blob) == HEADER + 1 + TAG


def test_encryption_yields_header_then_one_piece_per_segment() -> None:
    pieces = list(
        crypto.encrypt_stream(DATA_KEY, DOC, [pattern(3 * SMALL + 5)], segment_size=SMALL)
    )
    assert [len(p) for p in pieces] == [HEADER, SMALL + TAG, SMALL + TAG, SMALL + TAG, 5 + TAG]


def test_encryption_is_randomised_per_stream() -> None:
    # A fresh salt and nonce prefix per stream: two encryptions of the same content under the
    # same key share neither header fields nor any segment.
    a = encrypt(pattern(100))
    b = encrypt(pattern(100))
    assert a[9:48] != b[9:48]
    assert set(sealed_segments(a)[1]).isdisjoint(sealed_segments(b)[1])


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000, MIB - 1, MIB, MIB + 1, 10 * MIB + 3])
@pytest.mark.parametrize("segment_size", [16, 1000, MIB])
def test_ciphertext_size_is_exact(size: int, segment_size: int) -> None:
    segments = max(1, -(-size // segment_size))
    expected = HEADER + size + segments * TAG
    assert crypto.ciphertext_size(size, segment_size) == expected
    if size <= MIB + 1 and (size // segment_size) < 5000:
        assert len(encrypt(pattern(size), segment_size=segment_size)) == expected


@pytest.mark.parametrize("segment_size", [-1, 0, 1, 15, _stream.MAX_SEGMENT_SIZE + 1, 1 << 32])
def test_invalid_segment_size_is_rejected_at_encryption(segment_size: int) -> None:
    with pytest.raises(ValueError, match="segment size"):
        list(crypto.encrypt_stream(DATA_KEY, DOC, [b"abc"], segment_size=segment_size))


@pytest.mark.parametrize("segment_size", [_stream.MIN_SEGMENT_SIZE, _stream.MAX_SEGMENT_SIZE])
def test_segment_size_bounds_are_accepted(segment_size: int) -> None:
    assert decrypt(encrypt(b"edge", segment_size=segment_size)) == b"edge"


@pytest.mark.parametrize("key", [b"", bytes(16), bytes(31), bytes(33)])
def test_data_key_must_be_32_bytes(key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        list(crypto.encrypt_stream(key, DOC, [b"abc"]))


# -- tampering ---------------------------------------------------------------------------------

# Three full segments of 16 bytes: header (96) + 3 x (16 + 16) = 192 bytes, 1536 bits.
THREE = pattern(3 * SMALL)


@pytest.fixture(scope="module")
def three() -> bytes:
    return encrypt(THREE)


def test_three_segment_fixture_is_what_the_tamper_tests_assume(three: bytes) -> None:
    header, segs = sealed_segments(three)
    assert header == three[:HEADER]
    assert len(three) == 192
    assert [len(s) for s in segs] == [SMALL + TAG] * 3
    assert decrypt(three) == THREE


def _expected_yield(position: int, segment_size: int = SMALL) -> bytes:
    """The plaintext a reader may have yielded when the byte at ``position`` is bad: that of
    every segment before the one holding it; nothing for a bad header."""
    if position < HEADER:
        return b""
    return THREE[: (position - HEADER) // (segment_size + TAG) * segment_size]


def test_every_single_bit_flip_is_rejected(three: bytes) -> None:
    failures = []
    for position in range(len(three)):
        for bit in range(8):
            damaged = bytearray(three)
            damaged[position] ^= 1 << bit
            out = bytearray()
            try:
                for piece in crypto.decrypt_stream(
                    DATA_KEY, DOC, [bytes(damaged)], commitment=None
                ):
                    out += piece
            except IntegrityError:
                if bytes(out) != _expected_yield(position):
                    failures.append((position, bit, "yielded unauthenticated bytes"))
            else:
                failures.append((position, bit, "accepted"))
    assert failures == []


@pytest.mark.parametrize(
    ("position", "reason"),
    [
        (0, "bad-header"),  # magic
        (4, "unsupported-version"),  # version
        (5, "bad-header"),  # segment size, high byte: far beyond the 64 MiB bound
        (20, "segment-auth"),  # salt
        (45, "segment-auth"),  # nonce prefix
        (50, "wrong-document"),  # document id
        (70, "key-commitment"),  # key commitment
        (HEADER + 3, "segment-auth"),  # first segment
        (191, "segment-auth"),  # last segment's tag
    ],
)
def test_header_and_segment_flips_name_their_reason(
    three: bytes, position: int, reason: str
) -> None:
    damaged = bytearray(three)
    damaged[position] ^= 0x80
    _, exc = consume(bytes(damaged))
    assert exc.reason == reason


@pytest.mark.parametrize("kept", range(0, 3))
def test_truncation_at_every_segment_boundary(three: bytes, kept: int) -> None:
    # Keep the header and ``kept`` whole segments (kept = 0: the header alone).
    cut = three[: HEADER + kept * (SMALL + TAG)]
    out, exc = consume(cut)
    assert exc.reason == "truncated"
    # The last kept segment authenticates only as a middle segment and is withheld.
    assert out == THREE[: max(0, kept - 1) * SMALL]


def test_truncation_at_every_byte_is_rejected(three: bytes) -> None:
    accepted = []
    for length in range(len(three)):
        try:
            decrypt(three[:length])
        except IntegrityError:
            continue
        accepted.append(length)
    assert accepted == []


def test_dropping_the_last_segment(three: bytes) -> None:
    header, segs = sealed_segments(three)
    out, exc = consume(header + segs[0] + segs[1])
    assert exc.reason == "truncated"
    assert out == THREE[:SMALL]


def test_dropping_a_short_last_segment() -> None:
    plaintext = pattern(2 * SMALL + 5)
    header, segs = sealed_segments(encrypt(plaintext))
    assert len(segs[-1]) == 5 + TAG
    out, exc = consume(header + segs[0] + segs[1])
    assert exc.reason == "truncated"
    assert out == plaintext[:SMALL]


def first_failure(order: tuple[int, ...]) -> int:
    """Where a stream of the three segments in ``order`` stops authenticating: the first place
    holding another segment than its counter, or the original last segment anywhere but at
    the end (or a middle one at the end)."""
    for position, segment in enumerate(order):
        at_end = position == len(order) - 1
        if segment != position or (segment == 2) != at_end:
            return position
    raise AssertionError("order is the original stream")


@pytest.mark.parametrize(
    "order",
    [(1, 0, 2), (0, 2, 1), (2, 1, 0), (1, 2, 0), (2, 0, 1)],
    ids=lambda order: "".join(map(str, order)),
)
def test_reordering_is_rejected(three: bytes, order: tuple[int, int, int]) -> None:
    header, segs = sealed_segments(three)
    out, exc = consume(header + b"".join(segs[i] for i in order))
    assert exc.reason == "segment-auth"
    assert out == THREE[: first_failure(order) * SMALL]


@pytest.mark.parametrize(
    "order",
    [(0, 0, 1, 2), (0, 1, 1, 2), (0, 1, 2, 2), (0, 0, 2), (0, 1, 1), (0, 1, 2, 0)],
    ids=lambda order: "".join(map(str, order)),
)
def test_duplicating_a_segment_is_rejected(three: bytes, order: tuple[int, ...]) -> None:
    header, segs = sealed_segments(three)
    out, exc = consume(header + b"".join(segs[i] for i in order))
    assert exc.reason == "segment-auth"
    assert out == THREE[: first_failure(order) * SMALL]


@pytest.mark.parametrize("index", range(3))
def test_splicing_a_segment_from_another_blob_is_rejected(three: bytes, index: int) -> None:
    # Same data key, same document, same plaintext: only the salt and nonce prefix differ.
    header, segs = sealed_segments(three)
    _, other = sealed_segments(encrypt(THREE))
    spliced = list(segs)
    spliced[index] = other[index]
    out, exc = consume(header + b"".join(spliced))
    assert exc.reason == "segment-auth"
    assert out == THREE[: index * SMALL]


def test_another_blobs_header_is_rejected(three: bytes) -> None:
    _, segs = sealed_segments(three)
    other_header, _ = sealed_segments(encrypt(THREE))
    out, exc = consume(other_header + b"".join(segs))
    assert exc.reason == "segment-auth"
    assert out == b""


def test_moving_a_blob_to_another_document_is_rejected(three: bytes) -> None:
    out, exc = consume(three, doc=uuid.uuid4())
    assert exc.reason == "wrong-document"
    assert out == b""


def test_rewriting_the_header_to_another_document_is_rejected(three: bytes) -> None:
    # The attacker also edits the document id in the header: the commitment is derived for
    # the document id, so it no longer matches; and the header is every segment's associated
    # data, so the first segment would not open either.
    other = uuid.uuid4()
    moved = three[:48] + other.bytes + three[64:]
    out, exc = consume(moved, doc=other)
    assert exc.reason == "key-commitment"
    assert out == b""


def test_wrong_data_key_is_rejected(three: bytes) -> None:
    # Caught by the header's key commitment, before any segment is tried.
    out, exc = consume(three, key=os.urandom(32))
    assert exc.reason == "key-commitment"
    assert out == b""


def test_trailing_bytes_are_rejected(three: bytes) -> None:
    for extra in (b"\x00", bytes(TAG), bytes(SMALL + TAG)):
        out, exc = consume(three + extra)
        assert exc.reason == "segment-auth"
        assert out == THREE[: 2 * SMALL]


def test_an_empty_stream_cannot_be_extended_or_emptied() -> None:
    blob = encrypt(b"")
    assert len(blob) == HEADER + TAG
    assert decrypt(blob) == b""
    assert consume(blob[:HEADER])[1].reason == "truncated"
    assert consume(blob + encrypt(b"")[HEADER:])[1].reason == "segment-auth"


def test_no_segment_is_yielded_before_it_authenticates() -> None:
    # Feed the stream piece by piece and look at what comes out after each piece: a segment's
    # plaintext appears only once the next segment has started (so it is known not to be the
    # last), and the last only at the end.
    plaintext = pattern(3 * SMALL)
    blob = encrypt(plaintext)
    header, segs = sealed_segments(blob)
    seen: list[int] = []
    fed = 0

    def source() -> Iterator[bytes]:
        nonlocal fed
        for piece in [header, *segs]:
            fed += 1
            yield piece

    out = bytearray()
    for piece in crypto.decrypt_stream(DATA_KEY, DOC, source(), commitment=None):
        seen.append(fed)
        out += piece
    assert bytes(out) == plaintext
    # segment 0 after segment 1 arrived (piece 3), segment 1 after piece 4, the last at the end
    assert seen == [3, 4, 4]


def test_decryption_closes_its_source_when_it_fails(three: bytes) -> None:
    closed = []

    def source() -> Iterator[bytes]:
        try:
            yield three[:100]
            yield b"\x00" * 60
        finally:
            closed.append(True)

    with pytest.raises(IntegrityError):
        decrypt(source())
    assert closed == [True]
