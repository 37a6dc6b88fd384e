"""The JSON test vectors of ``tests/vectors`` (see its README), checked byte for byte.

Valid content-stream and sealed-record vectors are checked in both directions: encrypting with
the recorded salt, nonce prefix or nonce gives exactly the recorded bytes, and decrypting them
gives the plaintext back. Wrapped keys are checked in the decrypt direction only (HPKE is
randomised). Every invalid vector must raise ``IntegrityError`` with its recorded ``reason``.

Each family also has a reference reader written here from ``docs/format.md`` alone, with
nothing from ``vault.crypto`` but the vectors: if the document and the code drift apart, these
fail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault import crypto
from vault.crypto import _sealed, _stream
from vault.errors import IntegrityError
from vault.services.document_records import DocumentMetadata
from vault.services.redaction_records import SealedRedaction

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
# The format version the vector files pin: content stream version 1, "source-vault/v1" labels.
FORMAT_VERSION = 1


def load_vectors(filename: str, group: str) -> list[Any]:
    """One ``pytest.param`` per vector in ``group`` ("valid" or "invalid") of a vector file,
    with the vector's ``id`` as the test id."""
    data = json.loads((VECTORS / filename).read_text(encoding="utf-8"))
    assert data["version"] == FORMAT_VERSION, f"{filename} is for another format version"
    return [pytest.param(vector, id=vector["id"]) for vector in data[group]]


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def hkdf(ikm: bytes, *, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


# -- content stream (docs/format.md §2) --------------------------------------------------------


@pytest.mark.parametrize("vector", load_vectors("stream.json", "valid"))
def test_stream_encrypts_to_the_vector(vector: dict[str, Any]) -> None:
    blob = b"".join(
        _stream.encrypt_segments(
            h(vector["data_key"]),
            UUID(vector["document_id"]),
            [h(vector["plaintext"])],
            segment_size=vector["segment_size"],
            salt=h(vector["salt"]),
            nonce_prefix=h(vector["nonce_prefix"]),
            version=FORMAT_VERSION,
        )
    )
    assert blob.hex() == vector["ciphertext"]
    size = _stream.ciphertext_size(
        len(h(vector["plaintext"])), vector["segment_size"], version=FORMAT_VERSION
    )
    assert len(blob) == size


@pytest.mark.parametrize("vector", load_vectors("stream.json", "valid"))
def test_stream_vector_decrypts(vector: dict[str, Any]) -> None:
    plaintext = b"".join(
        crypto.decrypt_stream(
            h(vector["data_key"]),
            UUID(vector["document_id"]),
            [h(vector["ciphertext"])],
            commitment=None,
        )
    )
    assert plaintext.hex() == vector["plaintext"]


@pytest.mark.parametrize("vector", load_vectors("stream.json", "invalid"))
def test_invalid_stream_vector_is_rejected(vector: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError) as exc_info:
        b"".join(
            crypto.decrypt_stream(
                h(vector["data_key"]),
                UUID(vector["document_id"]),
                [h(vector["ciphertext"])],
                commitment=None,
            )
        )
    assert exc_info.value.reason == vector["reason"]


def reference_stream_decrypt(data_key: bytes, document_id: UUID, blob: bytes) -> bytes:
    """A content-stream reader written from docs/format.md §2 (whole blob in memory)."""
    header, body = blob[:64], blob[64:]
    assert len(header) == 64
    assert header[0:4] == b"SVLT"
    assert header[4] == 1
    segment_size = int.from_bytes(header[5:9], "big")
    assert 16 <= segment_size <= 64 * 1024 * 1024
    salt, prefix, doc = header[9:41], header[41:48], header[48:64]
    assert doc == document_id.bytes
    aead = AESGCM(hkdf(data_key, salt=salt, info=b"source-vault/v1 content"))
    sealed = segment_size + 16
    pieces = [body[i : i + sealed] for i in range(0, len(body), sealed)] or [b""]
    out = bytearray()
    for counter, piece in enumerate(pieces):
        last = counter == len(pieces) - 1
        nonce = prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
        out += aead.decrypt(nonce, piece, header)
    return bytes(out)


@pytest.mark.parametrize("vector", load_vectors("stream.json", "valid"))
def test_stream_vector_matches_the_written_format(vector: dict[str, Any]) -> None:
    blob = h(vector["ciphertext"])
    assert blob[9:41].hex() == vector["salt"]
    assert blob[41:48].hex() == vector["nonce_prefix"]
    assert int.from_bytes(blob[5:9], "big") == vector["segment_size"]
    plaintext = reference_stream_decrypt(h(vector["data_key"]), UUID(vector["document_id"]), blob)
    assert plaintext.hex() == vector["plaintext"]


def test_stream_vectors_cover_the_segment_edges() -> None:
    # The sizes the README promises: 0, 1, s-1, s, s+1 and 3s+5 for s = 64, and one with 1024.
    sizes = {
        (v.values[0]["segment_size"], len(v.values[0]["plaintext"]) // 2)
        for v in load_vectors("stream.json", "valid")
    }
    assert {(64, n) for n in (0, 1, 63, 64, 65, 197)} <= sizes
    assert any(segment == 1024 for segment, _ in sizes)


# -- wrapped keys (docs/format.md §3) ----------------------------------------------------------


@pytest.mark.parametrize("vector", load_vectors("wrap.json", "valid"))
def test_wrap_vector_unwraps(vector: dict[str, Any]) -> None:
    recipient = crypto.PrivateKey(h(vector["recipient_seed"]))
    assert recipient.public_key().to_bytes().hex() == vector["recipient_public_key"]
    assert recipient.public_key().key_id == vector["recipient_key_id"]
    data_key = crypto.unwrap_key(
        h(vector["wrapped"]),
        recipient,
        kind=vector["kind"],
        subject_id=UUID(vector["subject_id"]),
        commitment=None,
    )
    assert data_key.hex() == vector["data_key"]


@pytest.mark.parametrize("vector", load_vectors("wrap.json", "invalid"))
def test_invalid_wrap_vector_is_rejected(vector: dict[str, Any]) -> None:
    recipient = crypto.PrivateKey(h(vector["recipient_seed"]))
    with pytest.raises(IntegrityError) as exc_info:
        crypto.unwrap_key(
            h(vector["wrapped"]),
            recipient,
            kind=vector["kind"],
            subject_id=UUID(vector["subject_id"]),
            commitment=None,
        )
    assert exc_info.value.reason == vector["reason"]


def _hmac_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def _hmac_expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def reference_unwrap(seed: bytes, kind: str, subject_id: UUID, wrapped: bytes) -> bytes:
    """HPKE base mode (RFC 9180) with KEM MLKEM768-X25519 (X-Wing, KEM id 0x647A),
    HKDF-SHA256 and AES-256-GCM, written from docs/format.md §3."""
    material = hkdf(seed, salt=None, info=b"source-vault/v1 key-pair", length=96)
    sk_m = mlkem.MLKEM768PrivateKey.from_seed_bytes(material[:64])
    sk_x = x25519.X25519PrivateKey.from_private_bytes(material[64:])
    pk_x = sk_x.public_key().public_bytes_raw()
    public = sk_m.public_key().public_bytes_raw() + pk_x
    key_id = hashlib.sha256(b"source-vault/v1 key-id\x00" + public).digest()

    enc, ciphertext = wrapped[:1120], wrapped[1120:]
    ct_m, ct_x = enc[:1088], enc[1088:]
    ss_m = sk_m.decapsulate(ct_m)
    ss_x = sk_x.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
    shared = hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + b"\\.//^\\").digest()

    suite_id = (
        b"HPKE" + (0x647A).to_bytes(2, "big") + (1).to_bytes(2, "big") + (2).to_bytes(2, "big")
    )

    def labeled_extract(salt: bytes, label: bytes, ikm: bytes) -> bytes:
        return _hmac_extract(salt, b"HPKE-v1" + suite_id + label + ikm)

    def labeled_expand(prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
        labeled = length.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
        return _hmac_expand(prk, labeled, length)

    info = b"source-vault/v1 wrap\x00" + kind.encode("ascii") + b"\x00" + subject_id.bytes + key_id
    context = (
        b"\x00"
        + labeled_extract(b"", b"psk_id_hash", b"")
        + labeled_extract(b"", b"info_hash", info)
    )
    secret = labeled_extract(shared, b"secret", b"")
    key = labeled_expand(secret, b"key", context, 32)
    base_nonce = labeled_expand(secret, b"base_nonce", context, 12)
    return AESGCM(key).decrypt(base_nonce, ciphertext, b"")


@pytest.mark.parametrize("vector", load_vectors("wrap.json", "valid"))
def test_wrap_vector_matches_the_written_format(vector: dict[str, Any]) -> None:
    assert len(h(vector["wrapped"])) == 1120 + 32 + 16
    data_key = reference_unwrap(
        h(vector["recipient_seed"]),
        vector["kind"],
        UUID(vector["subject_id"]),
        h(vector["wrapped"]),
    )
    assert data_key.hex() == vector["data_key"]


# -- sealed records (docs/format.md §5) --------------------------------------------------------


@pytest.mark.parametrize("vector", load_vectors("record.json", "valid"))
def test_record_seals_to_the_vector(vector: dict[str, Any]) -> None:
    with _sealed.fixed_nonces(h(vector["nonce"])):
        sealed = crypto.seal_record(
            h(vector["data_key"]),
            h(vector["plaintext"]),
            label=vector["label"],
            subject_id=UUID(vector["subject_id"]),
        )
    assert sealed.hex() == vector["sealed"]


@pytest.mark.parametrize("vector", load_vectors("record.json", "valid"))
def test_record_vector_opens(vector: dict[str, Any]) -> None:
    plaintext = crypto.open_record(
        h(vector["data_key"]),
        h(vector["sealed"]),
        label=vector["label"],
        subject_id=UUID(vector["subject_id"]),
    )
    assert plaintext.hex() == vector["plaintext"]
    if vector["plaintext_utf8"] is not None:
        assert plaintext.decode("utf-8") == vector["plaintext_utf8"]


@pytest.mark.parametrize("vector", load_vectors("record.json", "invalid"))
def test_invalid_record_vector_is_rejected(vector: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError) as exc_info:
        crypto.open_record(
            h(vector["data_key"]),
            h(vector["sealed"]),
            label=vector["label"],
            subject_id=UUID(vector["subject_id"]),
        )
    assert exc_info.value.reason == vector["reason"]


@pytest.mark.parametrize("vector", load_vectors("record.json", "valid"))
def test_record_vector_matches_the_written_format(vector: dict[str, Any]) -> None:
    key = hkdf(
        h(vector["data_key"]),
        salt=None,
        info=b"source-vault/v1 record\x00" + vector["label"].encode("ascii"),
    )
    sealed = h(vector["sealed"])
    assert sealed[:12].hex() == vector["nonce"]
    plaintext = AESGCM(key).decrypt(sealed[:12], sealed[12:], UUID(vector["subject_id"]).bytes)
    assert plaintext.hex() == vector["plaintext"]
    if vector["label"] == "document-metadata":
        # §5: nine members (eight in records sealed before derived_from existed).
        members = {"title", "filename", "media_type", "notes", "source_id", "kind", "sha256"}
        members |= {"size", "derived_from"}
        if not vector["written_today"]:
            members.remove("derived_from")
        assert list(json.loads(plaintext)) == sorted(members)
    if vector["label"] in ("document-metadata", "redaction"):
        # §7: keys sorted, no whitespace, everything outside printable ASCII escaped.
        record = json.loads(plaintext)
        assert plaintext == json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    if vector["label"] == "source-names":
        assert plaintext == json.dumps(json.loads(plaintext)).encode()


@pytest.mark.parametrize("vector", load_vectors("record.json", "valid"))
def test_record_vector_reads_back_through_the_writer(vector: dict[str, Any]) -> None:
    """What the services read from a plaintext, written again, is that plaintext: the JSON
    writers are the ones that made the vectors. A record sealed before derived_from existed
    reads as derived_from null, and is then written with nine members."""
    plaintext = h(vector["plaintext"])
    if vector["label"] == "document-metadata":
        meta = DocumentMetadata.from_bytes(plaintext)
        if vector["written_today"]:
            assert meta.to_bytes() == plaintext
        else:
            assert meta.derived_from is None
            assert len(json.loads(meta.to_bytes())) == 9
    elif vector["label"] == "redaction":
        assert SealedRedaction.from_bytes(plaintext).to_bytes() == plaintext
