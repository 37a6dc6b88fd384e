"""``stream-v2.json`` and ``wrap-v2.json``: format version 2 of the content stream and of
wrapped keys (key commitment), checked against ``vault.crypto``: valid streams in both
directions, wrapped keys in the decrypt direction, every invalid vector with its reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from vault import crypto
from vault.crypto import _stream
from vault.errors import IntegrityError

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _load(name: str, group: str) -> list[Any]:
    data = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    assert data["version"] == 2
    return [pytest.param(v, id=v["id"]) for v in data[group]]


def h(value: str | None) -> bytes | None:
    return bytes.fromhex(value) if value is not None else None


@pytest.mark.parametrize("vector", _load("stream-v2.json", "valid"))
def test_stream_v2_vector(vector: dict[str, Any]) -> None:
    key, plaintext = bytes.fromhex(vector["data_key"]), bytes.fromhex(vector["plaintext"])
    document = UUID(vector["document_id"])
    blob = b"".join(
        _stream.encrypt_segments(
            key,
            document,
            [plaintext],
            segment_size=vector["segment_size"],
            salt=bytes.fromhex(vector["salt"]),
            nonce_prefix=bytes.fromhex(vector["nonce_prefix"]),
            version=2,
        )
    )
    assert blob.hex() == vector["ciphertext"]
    assert blob[4] == 2
    assert blob[64:96].hex() == vector["commitment"]
    assert (
        crypto.key_commitment(key, kind="document", subject_id=document).hex()
        == (vector["commitment"])
    )
    opened = b"".join(
        crypto.decrypt_stream(key, document, [blob], commitment=h(vector["commitment"]))
    )
    assert opened == plaintext


@pytest.mark.parametrize("vector", _load("stream-v2.json", "invalid"))
def test_invalid_stream_v2_vector(vector: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError) as caught:
        b"".join(
            crypto.decrypt_stream(
                bytes.fromhex(vector["data_key"]),
                UUID(vector["document_id"]),
                [bytes.fromhex(vector["ciphertext"])],
                commitment=h(vector["commitment"]),
            )
        )
    assert caught.value.reason == vector["reason"]


@pytest.mark.parametrize("vector", _load("wrap-v2.json", "valid"))
def test_wrap_v2_vector(vector: dict[str, Any]) -> None:
    recipient = crypto.PrivateKey(bytes.fromhex(vector["recipient_seed"]))
    assert recipient.public_key().key_id == vector["recipient_key_id"]
    subject = UUID(vector["subject_id"])
    key = crypto.unwrap_key(
        bytes.fromhex(vector["wrapped"]),
        recipient,
        kind=vector["kind"],
        subject_id=subject,
        commitment=h(vector["commitment"]),
    )
    assert key.hex() == vector["data_key"]
    assert (
        crypto.key_commitment(key, kind=vector["kind"], subject_id=subject).hex()
        == (vector["commitment"])
    )


@pytest.mark.parametrize("vector", _load("wrap-v2.json", "invalid"))
def test_invalid_wrap_v2_vector(vector: dict[str, Any]) -> None:
    recipient = crypto.PrivateKey(bytes.fromhex(vector["recipient_seed"]))
    with pytest.raises(IntegrityError) as caught:
        crypto.unwrap_key(
            bytes.fromhex(vector["wrapped"]),
            recipient,
            kind=vector["kind"],
            subject_id=UUID(vector["subject_id"]),
            commitment=h(vector["commitment"]),
        )
    assert caught.value.reason == vector["reason"]
