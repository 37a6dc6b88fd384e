"""WARNING: low-level segmented AEAD stream. Use ``vault.crypto`` instead.

This module implements the content format of ``docs/format.md`` §2: a header (64 bytes in
version 1; 96 in version 2, which adds the data key's commitment) followed by AES-256-GCM
segments whose nonces follow the STREAM construction
(Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
Misuse-Resistance", CRYPTO 2015): ``nonce_prefix(7) || counter(4, big-endian) || last(1)``.
The counter stops reordering, duplication and dropping; the last-segment flag stops truncation
at a segment boundary; the header (with the document id) is the associated data of every
segment, so a segment cannot be spliced into another blob nor a blob moved to another document.

Hand-written because no maintained Python library offers a seekable, constant-memory AEAD
stream over AES-GCM with a documented wire format (Tink's streaming AEAD is the closest and is
not available as a light dependency).
"""

from __future__ import annotations

import hmac
import logging
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault.crypto import _commit
from vault.errors import IntegrityError, InvalidInput, LimitExceeded

log = logging.getLogger(__name__)

MAGIC = b"SVLT"
VERSION = 2  # what the writer writes; version 1 streams (no key commitment) are still read
LEGACY_VERSION = 1
HEADER_SIZE = 96
LEGACY_HEADER_SIZE = 64
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
TAG_SIZE = 16
KEY_SIZE = 32
DEFAULT_SEGMENT_SIZE = 1 << 20
# The header is read before anything authenticates it, so bound the segment size it may claim:
# a forged header must not make the reader allocate gigabytes.
MIN_SEGMENT_SIZE = 16
MAX_SEGMENT_SIZE = 64 << 20
MAX_SEGMENTS = 1 << 32
_HEADER_V1 = struct.Struct(">4sBI32s7s16s")
_HEADER_V2 = struct.Struct(">4sBI32s7s16s32s")
_STREAM_INFO = {1: b"source-vault/v1 content", 2: b"source-vault/v2 content"}
_DOCUMENT = "document"

if (_HEADER_V1.size, _HEADER_V2.size) != (LEGACY_HEADER_SIZE, HEADER_SIZE):  # pragma: no cover
    raise ImportError("content header layouts do not add up to 64 and 96 bytes")


@dataclass(frozen=True)
class StreamHeader:
    """The parsed, not yet authenticated, header of a content stream."""

    segment_size: int
    salt: bytes
    nonce_prefix: bytes
    document_id: UUID
    commitment: bytes | None  # version 2; ``None`` in a version 1 stream

    @property
    def version(self) -> int:
        return LEGACY_VERSION if self.commitment is None else VERSION

    def pack(self) -> bytes:
        fields = (MAGIC, self.version, self.segment_size, self.salt, self.nonce_prefix)
        if self.commitment is None:
            return _HEADER_V1.pack(*fields, self.document_id.bytes)
        return _HEADER_V2.pack(*fields, self.document_id.bytes, self.commitment)

    @staticmethod
    def size_of(first: bytes) -> int:
        """The header's size, from at least its first 64 bytes (magic and version checked)."""
        magic, version = first[:4], first[4]
        if magic != MAGIC:
            raise IntegrityError("not a Source Vault content stream", reason="bad-header")
        if version not in (LEGACY_VERSION, VERSION):
            raise IntegrityError(
                f"unsupported content format version {version}", reason="unsupported-version"
            )
        return HEADER_SIZE if version == VERSION else LEGACY_HEADER_SIZE

    @classmethod
    def unpack(cls, data: bytes) -> StreamHeader:
        size = cls.size_of(data)
        if len(data) != size:
            raise IntegrityError("content stream is shorter than its header", reason="truncated")
        commitment: bytes | None = None
        if size == HEADER_SIZE:
            _, _, segment_size, salt, prefix, doc, commitment = _HEADER_V2.unpack(data)
        else:
            _, _, segment_size, salt, prefix, doc = _HEADER_V1.unpack(data)
        if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
            raise IntegrityError(
                "content header names an invalid segment size", reason="bad-header"
            )
        return cls(segment_size, salt, prefix, UUID(bytes=doc), commitment)


def check_segment_size(segment_size: int) -> None:
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(
            f"segment size must be between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE} bytes"
        )


def _stream_cipher(data_key: bytes, salt: bytes, version: int) -> AESGCM:
    if len(data_key) != KEY_SIZE:
        raise ValueError("a data key is 32 bytes")
    info = _STREAM_INFO[version]
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=info)
    return AESGCM(hkdf.derive(data_key))


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= MAX_SEGMENTS:
        raise IntegrityError("content stream has too many segments", reason="too-long")
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def encrypt_segments(
    data_key: bytes,
    document_id: UUID,
    chunks: Iterable[bytes],
    *,
    segment_size: int,
    salt: bytes,
    nonce_prefix: bytes,
    version: int = VERSION,
) -> Iterator[bytes]:
    """Yield the header, then one ciphertext segment at a time. Deterministic in its inputs:
    the public entry point draws ``salt`` and ``nonce_prefix`` at random; vectors pass them
    (and ``version=1`` for the format that old blobs are in, which nothing else writes)."""
    check_segment_size(segment_size)
    if len(salt) != SALT_SIZE or len(nonce_prefix) != NONCE_PREFIX_SIZE:
        raise ValueError("salt is 32 bytes and nonce prefix 7 bytes")
    commitment = None
    if version == VERSION:
        commitment = _commit.commitment(data_key, kind=_DOCUMENT, subject_id=document_id)
    elif version != LEGACY_VERSION:
        raise ValueError(f"no content format version {version}")
    header = StreamHeader(segment_size, salt, nonce_prefix, document_id, commitment).pack()
    aead = _stream_cipher(data_key, salt, version)
    yield header
    source = iter(chunks)
    try:
        yield from _encrypt(aead, header, nonce_prefix, segment_size, source)
    finally:
        _close(source)


def _encrypt(
    aead: AESGCM, header: bytes, nonce_prefix: bytes, segment_size: int, source: Iterator[bytes]
) -> Iterator[bytes]:
    # A full segment is sealed only once more plaintext is known to follow (its ``last`` flag
    # depends on it), so it waits in ``full``. Without copies, for speed: a slice of the
    # caller's chunk when the chunk is immutable ``bytes`` holding a whole segment (the usual
    # case: 1 MiB reads, 1 MiB segments), else the buffer it was gathered in, which is then
    # replaced rather than reused. AES-GCM reads any buffer; nothing else is copied.
    buf = bytearray()
    full: bytearray | memoryview | None = None
    counter = 0
    for chunk in source:
        view = memoryview(chunk)
        while view:
            if full is not None:
                # More plaintext follows, so the waiting segment is not the last.
                yield aead.encrypt(_nonce(nonce_prefix, counter, False), full, header)
                counter += 1
                full = None
            if not buf and len(view) >= segment_size and isinstance(chunk, bytes):
                full, view = view[:segment_size], view[segment_size:]
                continue
            take = segment_size - len(buf)
            buf += view[:take]
            view = view[take:]
            if len(buf) == segment_size:
                full, buf = buf, bytearray()
    yield aead.encrypt(_nonce(nonce_prefix, counter, True), buf if full is None else full, header)


def decrypt_segments(
    data_key: bytes, document_id: UUID, chunks: Iterable[bytes], *, commitment: bytes | None
) -> Iterator[bytes]:
    """Yield the plaintext of each segment once it has authenticated; raise ``IntegrityError``
    at the first segment that does not, before yielding any of its bytes.

    ``commitment`` is what the document's record says its key commits to; ``None`` for a
    document stored before version 2, whose stream alone may then be version 1. Before any
    segment is opened, a version 2 header must carry the commitment of ``data_key`` and, when
    one is expected, that one."""
    it = iter(chunks)
    try:
        yield from _decrypt(data_key, document_id, it, commitment)
    finally:
        _close(it)


def _read_header(it: Iterator[bytes]) -> tuple[bytes, memoryview]:
    head = bytearray()
    size = LEGACY_HEADER_SIZE
    for chunk in it:
        head += chunk
        if len(head) >= LEGACY_HEADER_SIZE:
            size = StreamHeader.size_of(bytes(head[:LEGACY_HEADER_SIZE]))
        if len(head) >= size:
            break
    if len(head) < size:
        raise IntegrityError("content stream is shorter than its header", reason="truncated")
    return bytes(head[:size]), memoryview(bytes(head[size:]))


def _check_commitment(header: StreamHeader, data_key: bytes, expected: bytes | None) -> None:
    if header.commitment is None:
        if expected is not None:
            # A document stored with a commitment never has a version 1 stream: this one was
            # replaced by a stream in the old format, whose key commits to nothing.
            raise IntegrityError(
                "the content is in a format without the key commitment its record names",
                reason="key-commitment",
            )
        return
    if expected is not None and not hmac.compare_digest(header.commitment, expected):
        raise IntegrityError(
            "the content's key commitment is not the one its record names",
            reason="key-commitment",
        )
    _commit.check(data_key, header.commitment, kind=_DOCUMENT, subject_id=header.document_id)


def _decrypt(
    data_key: bytes, document_id: UUID, it: Iterator[bytes], expected: bytes | None
) -> Iterator[bytes]:
    header_bytes, pending = _read_header(it)
    header = StreamHeader.unpack(header_bytes)
    if header.document_id != document_id:
        raise IntegrityError("content belongs to another document", reason="wrong-document")
    _check_commitment(header, data_key, expected)
    aead = _stream_cipher(data_key, header.salt, header.version)
    sealed_size = header.segment_size + TAG_SIZE
    buf = bytearray()
    counter = 0

    def open_segment(last: bool) -> bytes:
        try:
            # ``buf`` itself, not a copy: AES-GCM reads any buffer, and it is not changed
            # until the call returns.
            return aead.decrypt(_nonce(header.nonce_prefix, counter, last), buf, header_bytes)
        except InvalidTag:
            pass
        if last and len(buf) == sealed_size:
            # Tell truncation apart from corruption: a full segment that opens as a middle
            # segment means the stream was cut at a segment boundary.
            try:
                aead.decrypt(_nonce(header.nonce_prefix, counter, False), buf, header_bytes)
            except InvalidTag:
                pass
            else:
                raise IntegrityError(
                    f"content stream ends early, after segment {counter}", reason="truncated"
                ) from None
        log.debug("segment %d failed authentication (last=%s)", counter, last)
        raise IntegrityError(
            f"content segment {counter} failed authentication", reason="segment-auth"
        ) from None

    def feed(view: memoryview) -> Iterator[bytes]:
        nonlocal counter
        while view:
            if len(buf) == sealed_size:
                yield open_segment(last=False)
                counter += 1
                buf.clear()
            take = sealed_size - len(buf)
            buf.extend(view[:take])
            view = view[take:]

    yield from feed(pending)
    for chunk in it:
        yield from feed(memoryview(chunk))
    if len(buf) < TAG_SIZE:
        raise IntegrityError(f"content stream ends inside segment {counter}", reason="truncated")
    yield open_segment(last=True)


def _close(it: Iterator[bytes]) -> None:
    # Release the producer (an open blob file, a request body) even when we stop early.
    close = getattr(it, "close", None)
    if close is not None:
        close()


def ciphertext_size(plaintext_size: int, segment_size: int, version: int = VERSION) -> int:
    """Exact size of the stream that ``encrypt_segments`` produces for a plaintext size."""
    segments = max(1, -(-plaintext_size // segment_size))
    header = HEADER_SIZE if version == VERSION else LEGACY_HEADER_SIZE
    return header + plaintext_size + segments * TAG_SIZE


def plaintext_size(ciphertext_size_: int, segment_size: int) -> int | None:
    """The plaintext size whose version 2 stream is ``ciphertext_size_`` bytes long, or ``None``
    if no stream ``encrypt_segments`` writes has that length (the inverse of
    ``ciphertext_size``)."""
    body = ciphertext_size_ - HEADER_SIZE
    if body < TAG_SIZE:
        return None
    segments = -(-body // (segment_size + TAG_SIZE))
    size = body - segments * TAG_SIZE
    if size < 0 or ciphertext_size(size, segment_size) != ciphertext_size_:
        return None
    return size


def checked_shape(
    chunks: Iterable[bytes],
    *,
    document_id: UUID,
    commitment: bytes,
    max_plaintext: int | None,
) -> Iterator[bytes]:
    """Pass through a version 2 stream encrypted by someone else, checking what can be checked
    without its key: the header names ``document_id`` and ``commitment``, its segment size is
    in bounds, the plaintext it holds stays within ``max_plaintext``, and its length is one a
    whole stream has. ``InvalidInput`` or ``LimitExceeded`` at the first failure: the stream
    is the sender's input. Whether the segments authenticate only a holder of the key can tell,
    and every reader does (``decrypt_segments``)."""
    source = iter(chunks)
    head = bytearray()
    total = 0
    limit: int | None = None
    segment_size = 0
    try:
        for chunk in source:
            total += len(chunk)
            if limit is None:
                head += chunk
                if len(head) < HEADER_SIZE:
                    continue
                segment_size = _checked_header(bytes(head[:HEADER_SIZE]), document_id, commitment)
                limit = (
                    ciphertext_size(max_plaintext, segment_size)
                    if max_plaintext is not None
                    else -1
                )
                head = bytearray()
            if 0 <= limit < total:
                raise LimitExceeded(f"document is larger than the limit of {max_plaintext} bytes")
            yield chunk
    finally:
        _close(source)
    if limit is None or plaintext_size(total, segment_size) is None:
        raise InvalidInput("the ciphertext is not a whole content stream")


def _checked_header(data: bytes, document_id: UUID, commitment: bytes) -> int:
    try:
        header = StreamHeader.unpack(data)
    except IntegrityError:
        raise InvalidInput("the ciphertext does not start with a content header") from None
    if header.version != VERSION:
        raise InvalidInput(f"new content must be in format version {VERSION}")
    if header.document_id != document_id:
        raise InvalidInput("the ciphertext's header names another document")
    if not hmac.compare_digest(header.commitment or b"", commitment):
        raise InvalidInput("the ciphertext's header commits to another key")
    return header.segment_size
