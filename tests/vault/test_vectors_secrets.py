"""``passphrase.json``, ``token.json`` and ``recovery.json`` (docs/format.md §4 and §6): each
valid vector made again through ``vault.crypto`` and the services, and read again by a reference
written from the document alone; each invalid one refused with its reason."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import shamir_mnemonic
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vault import crypto
from vault.cli.local.recover import _read_share_file
from vault.crypto import PrivateKey, _sealed
from vault.errors import IntegrityError, InvalidInput
from vault.services import recovery, users

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    assert data["version"] == 1
    return data


PASSPHRASE = _load("passphrase.json")
TOKEN = _load("token.json")
RECOVERY = _load("recovery.json")


def _params(group: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in group]


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


def _by_id(group: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(v for v in group if v["id"] == name)


# -- §4: Argon2id, the sealed private key, the sealed TOTP secret -----------------------------


def test_argon2id_vector() -> None:
    """One derivation at the floor, by the code and by the document (§4.1, §4.2)."""
    v = PASSPHRASE["argon2id"]
    params = crypto.Argon2Params(v["memory_kib"], v["time_cost"], v["lanes"])
    keys = crypto.derive_passphrase_keys(v["passphrase"], h(v["salt"]), params)
    assert (keys.verifier.hex(), keys.kek.hex()) == (v["login_verifier"], v["kek"])

    encoded = unicodedata.normalize("NFC", v["passphrase"]).encode("utf-8")
    assert encoded.hex() == v["encoded_passphrase"]
    assert encoded != v["passphrase"].encode("utf-8"), "the vector's passphrase is not NFC"
    master = hash_secret_raw(
        encoded,
        h(v["salt"]),
        time_cost=v["time_cost"],
        memory_cost=v["memory_kib"],
        parallelism=v["lanes"],
        hash_len=32,
        type=Type.ID,
        version=0x13,
    )
    assert master.hex() == v["master"]
    assert hkdf(master, b"source-vault/v1 login-verifier").hex() == v["login_verifier"]
    assert hkdf(master, b"source-vault/v1 key-encryption").hex() == v["kek"]


def test_sealed_private_key_vector() -> None:
    v = _by_id(PASSPHRASE["valid"], "sealed-private-key")
    key = PrivateKey(h(v["seed"]))
    assert key.public_key().key_id == v["key_id"]
    with _sealed.fixed_nonces(h(v["nonce"])):
        sealed = crypto.seal_private_key(h(v["kek"]), key, owner_id=UUID(v["owner_id"]))
    assert sealed.hex() == v["sealed"]
    opened = crypto.open_private_key(
        h(v["kek"]), sealed, owner_id=UUID(v["owner_id"]), key_id=v["key_id"]
    )
    assert opened.seed.hex() == v["seed"]
    # §4.3 by hand.
    aad = b"source-vault/v1 private-key\x00" + UUID(v["owner_id"]).bytes + h(v["key_id"])
    assert len(sealed) == 60
    assert AESGCM(h(v["kek"])).decrypt(sealed[:12], sealed[12:], aad).hex() == v["seed"]


def test_sealed_totp_vector() -> None:
    v = _by_id(PASSPHRASE["valid"], "sealed-totp-secret")
    assert v["label"] == users._TOTP_LABEL
    with _sealed.fixed_nonces(h(v["nonce"])):
        sealed = crypto.seal_with_kek(
            h(v["kek"]), h(v["secret"]), label=v["label"], owner_id=UUID(v["owner_id"])
        )
    assert sealed.hex() == v["sealed"]
    aad = b"source-vault/v1 totp-secret\x00" + UUID(v["owner_id"]).bytes
    assert AESGCM(h(v["kek"])).decrypt(sealed[:12], sealed[12:], aad).hex() == v["secret"]


def test_sealed_totp_v2_vector() -> None:
    """Format version 2 (§4.4): under a key from the server's pepper, not the passphrase."""
    v = _by_id(PASSPHRASE["valid"], "sealed-totp-secret-v2")
    pepper = hmac.new(h(v["seal_key"]), b"source-vault/v2 token-pepper", hashlib.sha256).digest()
    assert pepper.hex() == v["pepper"]
    totp_key = hmac.new(pepper, b"source-vault/v2 totp-key", hashlib.sha256).digest()
    assert totp_key.hex() == v["totp_key"]
    sealed = h(v["sealed"])
    aad = b"source-vault/v2 totp-secret\x00" + UUID(v["owner_id"]).bytes
    assert AESGCM(totp_key).decrypt(sealed[:12], sealed[12:], aad).hex() == v["secret"]
    assert crypto.open_totp_secret(pepper, sealed, owner_id=UUID(v["owner_id"])) == h(v["secret"])
    with _sealed.fixed_nonces(h(v["nonce"])):
        again = crypto.seal_totp_secret(pepper, h(v["secret"]), owner_id=UUID(v["owner_id"]))
    assert again == sealed


def _reference_totp(secret: bytes, at: int) -> str:
    """RFC 6238 (RFC 4226 truncation) with HMAC-SHA-1, 6 digits, 30-second steps."""
    mac = hmac.new(secret, (at // 30).to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{number % 10**6:06d}"


@pytest.mark.parametrize("vector", PASSPHRASE["totp"], ids=lambda v: str(v["time"]))
def test_totp_vector(vector: dict[str, Any]) -> None:
    secret = h(vector["secret"])
    assert crypto.totp_code(secret, vector["time"]) == vector["code"]
    assert _reference_totp(secret, vector["time"]) == vector["code"]
    assert crypto.totp_step(secret, vector["code"], vector["time"]) == vector["time"] // 30


@pytest.mark.parametrize("vector", _params(PASSPHRASE["invalid"]))
def test_invalid_sealed_private_key_is_refused(vector: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError) as caught:
        crypto.open_private_key(
            h(vector["kek"]),
            h(vector["sealed"]),
            owner_id=UUID(vector["owner_id"]),
            key_id=vector["key_id"],
        )
    assert caught.value.reason == vector["reason"]


# -- §6.2: bearer tokens and enrolment codes ---------------------------------------------------


def test_bearer_token_vector() -> None:
    v = _by_id(TOKEN["valid"], "bearer-token")
    token = v["token"]
    assert len(token) == 46
    assert token.startswith("sv_")
    assert crypto.hash_bearer_token(token) == v["token_hash"]
    reference = hashlib.sha256(b"source-vault/v1 bearer-token\x00" + token.encode()).hexdigest()
    assert reference == v["token_hash"]
    assert hkdf(token.encode(), b"source-vault/v1 token-key").hex() == v["token_key"]
    key = PrivateKey(h(v["seed"]))
    with _sealed.fixed_nonces(h(v["nonce"])):
        sealed = crypto.seal_with_token(token, key, credential_id=UUID(v["credential_id"]))
    assert sealed.hex() == v["sealed_key"]
    aad = b"source-vault/v1 token-sealed\x00" + UUID(v["credential_id"]).bytes
    assert AESGCM(h(v["token_key"])).decrypt(sealed[:12], sealed[12:], aad).hex() == v["seed"]
    opened = crypto.open_with_token(
        token, sealed, credential_id=UUID(v["credential_id"]), key_id=v["key_id"]
    )
    assert opened.seed.hex() == v["seed"]


def test_enrolment_code_vector() -> None:
    v = _by_id(TOKEN["valid"], "enrolment-code")
    code = v["code"]
    assert users._code_hash(code) == v["code_hash"]
    reference = hashlib.sha256(
        b"source-vault/v1 bearer-token\x00" + b"enrolment-code:" + code.encode()
    ).hexdigest()
    assert reference == v["code_hash"]
    assert hkdf(code.encode(), b"source-vault/v1 enrolment-code-key").hex() == v["code_key"]
    with _sealed.fixed_nonces(h(v["nonce"])):
        sealed = crypto.seal_with_code(code, PrivateKey(h(v["seed"])), owner_id=UUID(v["user_id"]))
    assert sealed.hex() == v["sealed_key"]
    aad = b"source-vault/v1 code-sealed\x00" + UUID(v["user_id"]).bytes
    assert AESGCM(h(v["code_key"])).decrypt(sealed[:12], sealed[12:], aad).hex() == v["seed"]


@pytest.mark.parametrize(
    ("name", "secret_field", "subject_field", "label"),
    [
        ("bearer-token-v2", "token", "credential_id", "token"),
        ("enrolment-code-v2", "code", "user_id", "code"),
    ],
)
def test_version_2_sealed_keys_need_the_servers_pepper(
    name: str, secret_field: str, subject_field: str, label: str
) -> None:
    # Written from docs/format.md §6.2: pepper = HMAC-SHA256(seal key, "source-vault/v2
    # token-pepper"); key = HKDF(ikm = secret, salt = pepper, info = v2 label).
    v = _by_id(TOKEN["valid"], name)
    pepper = hmac.new(h(v["seal_key"]), b"source-vault/v2 token-pepper", hashlib.sha256).digest()
    assert pepper.hex() == v["pepper"]
    info = (
        b"source-vault/v2 token-key" if label == "token" else b"source-vault/v2 enrolment-code-key"
    )
    secret = v[secret_field].encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=pepper, info=info).derive(secret)
    assert key.hex() == v[f"{label}_key"]
    aad_label = (
        b"source-vault/v2 token-sealed\x00"
        if label == "token"
        else b"source-vault/v2 code-sealed\x00"
    )
    sealed = h(v["sealed_key"])
    aad = aad_label + UUID(v[subject_field]).bytes
    assert AESGCM(key).decrypt(sealed[:12], sealed[12:], aad).hex() == v["seed"]
    subject, seed = UUID(v[subject_field]), PrivateKey(h(v["seed"]))
    with _sealed.fixed_nonces(h(v["nonce"])):
        if label == "token":
            made = crypto.seal_with_token(v["token"], seed, credential_id=subject, pepper=pepper)
        else:
            made = crypto.seal_with_code(v["code"], seed, owner_id=subject, pepper=pepper)
    assert made.hex() == v["sealed_key"]


@pytest.mark.parametrize("vector", _params(TOKEN["invalid"]))
def test_invalid_token_or_code_sealed_key_is_refused(vector: dict[str, Any]) -> None:
    sealed, subject = h(vector["sealed"]), UUID(vector["subject_id"])

    def open_it() -> PrivateKey:
        pepper = h(vector["pepper"]) if "pepper" in vector else None
        if vector["with"] == "token":
            return crypto.open_with_token(
                vector["secret"],
                sealed,
                credential_id=subject,
                key_id=vector["key_id"],
                pepper=pepper,
            )
        return crypto.open_with_code(
            vector["secret"], sealed, owner_id=subject, key_id=vector["key_id"], pepper=pepper
        )

    with pytest.raises(IntegrityError) as caught:
        open_it()
    assert caught.value.reason == vector["reason"]


# -- §6.1: recovery shares and share files -----------------------------------------------------


@pytest.mark.parametrize("vector", _params(RECOVERY["valid"]))
def test_recovery_shares_combine_to_the_seed(vector: dict[str, Any]) -> None:
    k, shares = vector["threshold"], vector["shares"]
    # Any k of them, by the vault and by the SLIP-0039 library alone (empty passphrase).
    for chosen in (shares[:k], shares[-k:]):
        assert recovery.combine_shares(chosen).seed.hex() == vector["seed"]
        assert shamir_mnemonic.combine_mnemonics(chosen, b"").hex() == vector["seed"]
    # Whitespace and case do not matter to the vault.
    messy = ["  " + s.upper().replace(" ", "   ") + "\n" for s in shares[:k]]
    assert recovery.combine_shares(messy).seed.hex() == vector["seed"]
    assert PrivateKey(h(vector["seed"])).public_key().key_id == vector["key_id"]
    assert all(len(s.split()) == 33 for s in shares)


@pytest.mark.parametrize("vector", _params(RECOVERY["valid"]))
def test_share_files_are_laid_out_as_documented(vector: dict[str, Any], tmp_path: Path) -> None:
    n, k = len(vector["shares"]), vector["threshold"]
    assert len(vector["share_files"]) == n
    for number, (mnemonic, file) in enumerate(
        zip(vector["shares"], vector["share_files"], strict=True), start=1
    ):
        # §6.1 byte for byte.
        assert file["name"] == f"recovery-share-{number}-of-{n}.txt"
        assert file["mode"] == "0o600"
        expected = (
            f"Source Vault recovery share {number} of {n} (any {k} rebuild the recovery key).\n"
            "Give this share to one person. Keep it offline.\n"
            "\n"
            f"{mnemonic}\n"
        )
        assert file["text"] == expected
        # What `vault recover --share-file` reads from it.
        path = tmp_path / file["name"]
        path.write_text(file["text"], encoding="utf-8")
        assert _read_share_file(path) == mnemonic


@pytest.mark.parametrize("vector", _params(RECOVERY["invalid"]))
def test_invalid_recovery_shares_are_refused(vector: dict[str, Any]) -> None:
    assert vector["error"] == "InvalidInput"
    with pytest.raises(InvalidInput):
        recovery.combine_shares(vector["shares"])
