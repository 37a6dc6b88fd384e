"""``passphrase.json`` and ``token.json``: what unlocks a user's key (docs/format.md §4, §6.2).

Argon2id runs once, at the floor the code accepts (m = 65536 KiB, t = 3, p = 4). Every sealed
box comes from the ``vault.crypto`` function the services call, its nonce fixed by
``_sealed.fixed_nonces``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from uuid import UUID

from argon2.low_level import Type, hash_secret_raw

from tests.vectors.common import (
    CREDENTIAL_ID,
    NONCE,
    OTHER_RECIPIENT_SEED,
    OTHER_USER_ID,
    RECIPIENT_SEED,
    USER_ID,
    check,
    expect_failure,
    flip,
    header,
)
from vault import crypto
from vault.crypto import PrivateKey, _passphrase, _sealed
from vault.services import users

# NFD on purpose ("e" + U+0301 COMBINING ACUTE ACCENT): the writer normalises to NFC first.
PASSPHRASE = "correct horse battery stap\u0065\u0301le ünïcödé"
KDF_SALT = bytes.fromhex("73616c742d73616c742d73616c742d31")
TOTP_SECRET = bytes.fromhex("3132333435363738393031323334353637383930")  # RFC 6238's own
TOTP_TIMES = [59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000]
TOKEN = "sv_" + base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode()
ENROLMENT_CODE = "0a1b2c-3d4e5f-6a7b8c-9d0e1f"
# A seal key file's 32 bytes, and the pepper the server derives from it (format version 2).
SEAL_KEY = bytes(range(100, 132))
PEPPER_LABEL = b"source-vault/v2 token-pepper"


def _pepper() -> bytes:
    return hmac.new(SEAL_KEY, PEPPER_LABEL, hashlib.sha256).digest()


def _seal(make: Any, *args: Any, **kwargs: Any) -> bytes:
    with _sealed.fixed_nonces(NONCE):
        sealed: bytes = make(*args, **kwargs)
    return sealed


def passphrase_vectors() -> dict[str, Any]:
    params = crypto.Argon2Params()  # the floor: the only parameters the code accepts this low
    keys = crypto.derive_passphrase_keys(PASSPHRASE, KDF_SALT, params)
    master = hash_secret_raw(
        _passphrase.encode_passphrase(PASSPHRASE),
        KDF_SALT,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.lanes,
        hash_len=32,
        type=Type.ID,
    )
    key = PrivateKey(RECIPIENT_SEED)
    key_id = key.public_key().key_id
    sealed_key = _seal(crypto.seal_private_key, keys.kek, key, owner_id=USER_ID)
    check(
        crypto.open_private_key(keys.kek, sealed_key, owner_id=USER_ID, key_id=key_id).seed
        == RECIPIENT_SEED,
        "sealed private key does not open",
    )
    sealed_totp = _seal(
        crypto.seal_with_kek, keys.kek, TOTP_SECRET, label=users._TOTP_LABEL, owner_id=USER_ID
    )
    # A box that opens but holds another key's seed under this key's id: the key-id check.
    aad = b"source-vault/v1 private-key\x00" + USER_ID.bytes + bytes.fromhex(key_id)
    other_seed_box = _sealed.seal(keys.kek, OTHER_RECIPIENT_SEED, aad=aad, nonce=NONCE)
    other_key_id = PrivateKey(OTHER_RECIPIENT_SEED).public_key().key_id
    invalid = [
        _bad_key("other-owner", "opened for another user id", keys.kek, sealed_key,
                 OTHER_USER_ID, key_id, "sealed-record"),
        _bad_key("other-key-id", "opened expecting another key id (bound in the aad)", keys.kek,
                 sealed_key, USER_ID, other_key_id, "sealed-record"),
        _bad_key("bit-flipped-in-tag", "bit 0 of the last byte", keys.kek,
                 flip(sealed_key, len(sealed_key) - 1), USER_ID, key_id, "sealed-record"),
        _bad_key("wrong-kek", "opened with the login verifier instead of the kek", keys.verifier,
                 sealed_key, USER_ID, key_id, "sealed-record"),
        _bad_key("seed-of-another-key", "opens, but the seed inside is another key's", keys.kek,
                 other_seed_box, USER_ID, key_id, "key-id"),
    ]  # fmt: skip
    for vector in invalid:
        expect_failure("passphrase", vector, _open_key)
    return {
        **header("passphrase keys, sealed private key and TOTP secret, docs/format.md section 4"),
        "argon2id": {
            "passphrase": PASSPHRASE,
            "encoded_passphrase": _passphrase.encode_passphrase(PASSPHRASE).hex(),
            "salt": KDF_SALT.hex(),
            "memory_kib": params.memory_kib,
            "time_cost": params.time_cost,
            "lanes": params.lanes,
            "master": master.hex(),
            "login_verifier": keys.verifier.hex(),
            "kek": keys.kek.hex(),
        },
        "valid": [
            {
                "id": "sealed-private-key",
                "kek": keys.kek.hex(),
                "owner_id": str(USER_ID),
                "seed": RECIPIENT_SEED.hex(),
                "key_id": key_id,
                "nonce": NONCE.hex(),
                "sealed": sealed_key.hex(),
            },
            {
                "id": "sealed-totp-secret",
                "kek": keys.kek.hex(),
                "owner_id": str(USER_ID),
                "label": users._TOTP_LABEL,
                "secret": TOTP_SECRET.hex(),
                "nonce": NONCE.hex(),
                "sealed": sealed_totp.hex(),
            },
            {
                "id": "sealed-totp-secret-v2",
                "seal_key": SEAL_KEY.hex(),
                "pepper": _pepper().hex(),
                "totp_key": hmac.new(_pepper(), b"source-vault/v2 totp-key", hashlib.sha256)
                .digest()
                .hex(),
                "owner_id": str(USER_ID),
                "secret": TOTP_SECRET.hex(),
                "nonce": NONCE.hex(),
                "sealed": _seal(
                    crypto.seal_totp_secret, _pepper(), TOTP_SECRET, owner_id=USER_ID
                ).hex(),
            },
        ],
        "totp": [
            {"secret": TOTP_SECRET.hex(), "time": t, "code": crypto.totp_code(TOTP_SECRET, t)}
            for t in TOTP_TIMES
        ],
        "invalid": invalid,
    }


def _bad_key(
    name: str, description: str, kek: bytes, sealed: bytes, owner: UUID, key_id: str, reason: str
) -> dict[str, Any]:
    return {
        "id": name,
        "description": description,
        "kek": kek.hex(),
        "owner_id": str(owner),
        "key_id": key_id,
        "sealed": sealed.hex(),
        "reason": reason,
    }


def _open_key(vector: dict[str, Any]) -> PrivateKey:
    return crypto.open_private_key(
        bytes.fromhex(vector["kek"]),
        bytes.fromhex(vector["sealed"]),
        owner_id=UUID(vector["owner_id"]),
        key_id=vector["key_id"],
    )


def token_vectors() -> dict[str, Any]:
    key = PrivateKey(RECIPIENT_SEED)
    key_id = key.public_key().key_id
    token_sealed = _seal(crypto.seal_with_token, TOKEN, key, credential_id=CREDENTIAL_ID)
    code_sealed = _seal(crypto.seal_with_code, ENROLMENT_CODE, key, owner_id=USER_ID)
    check(
        crypto.open_with_token(TOKEN, token_sealed, credential_id=CREDENTIAL_ID, key_id=key_id).seed
        == RECIPIENT_SEED,
        "token-sealed key does not open",
    )
    other_token = TOKEN[:-1] + ("B" if TOKEN[-1] != "B" else "C")
    invalid: list[dict[str, Any]] = [
        {"id": "token-other-credential", "description": "opened for another credential id",
         "with": "token", "secret": TOKEN, "subject_id": str(OTHER_USER_ID),
         "key_id": key_id, "sealed": token_sealed.hex(), "reason": "sealed-record"},
        {"id": "token-other-token", "description": "opened with another token",
         "with": "token", "secret": other_token, "subject_id": str(CREDENTIAL_ID),
         "key_id": key_id, "sealed": token_sealed.hex(), "reason": "sealed-record"},
        {"id": "code-other-user", "description": "opened for another user id",
         "with": "code", "secret": ENROLMENT_CODE, "subject_id": str(OTHER_USER_ID),
         "key_id": key_id, "sealed": code_sealed.hex(), "reason": "sealed-record"},
        {"id": "code-as-token", "description": "a code-sealed key opened as a token-sealed one",
         "with": "token", "secret": ENROLMENT_CODE, "subject_id": str(USER_ID),
         "key_id": key_id, "sealed": code_sealed.hex(), "reason": "sealed-record"},
    ]  # fmt: skip
    pepper = _pepper()
    token_v2 = _seal(crypto.seal_with_token, TOKEN, key, credential_id=CREDENTIAL_ID, pepper=pepper)
    code_v2 = _seal(crypto.seal_with_code, ENROLMENT_CODE, key, owner_id=USER_ID, pepper=pepper)
    invalid += [
        {"id": "token-v2-without-pepper", "description": "a version 2 token-sealed key opened "
         "with the token alone (a database copy and a stolen token)",
         "with": "token", "secret": TOKEN, "subject_id": str(CREDENTIAL_ID),
         "key_id": key_id, "sealed": token_v2.hex(), "reason": "sealed-record"},
        {"id": "token-v2-other-pepper", "description": "opened with another server's pepper",
         "with": "token", "secret": TOKEN, "subject_id": str(CREDENTIAL_ID),
         "key_id": key_id, "sealed": token_v2.hex(), "pepper": "00" * 32,
         "reason": "sealed-record"},
        {"id": "code-v2-without-pepper", "description": "a version 2 code-sealed key opened "
         "with the code alone",
         "with": "code", "secret": ENROLMENT_CODE, "subject_id": str(USER_ID),
         "key_id": key_id, "sealed": code_v2.hex(), "reason": "sealed-record"},
    ]  # fmt: skip
    for vector in invalid:
        expect_failure("token", vector, _open_token_or_code)
    return {
        **header("bearer tokens, enrolment codes and the keys sealed under them, section 6.2"),
        "valid": [
            {
                "id": "bearer-token",
                "token": TOKEN,
                "token_hash": crypto.hash_bearer_token(TOKEN),
                "token_key": crypto._token_key(TOKEN).hex(),
                "credential_id": str(CREDENTIAL_ID),
                "seed": RECIPIENT_SEED.hex(),
                "key_id": key_id,
                "nonce": NONCE.hex(),
                "sealed_key": token_sealed.hex(),
            },
            {
                "id": "enrolment-code",
                "code": ENROLMENT_CODE,
                "code_hash": users._code_hash(ENROLMENT_CODE),
                "code_key": crypto._code_key(ENROLMENT_CODE).hex(),
                "user_id": str(USER_ID),
                "seed": RECIPIENT_SEED.hex(),
                "key_id": key_id,
                "nonce": NONCE.hex(),
                "sealed_key": code_sealed.hex(),
            },
            {
                "id": "bearer-token-v2",
                "token": TOKEN,
                "seal_key": SEAL_KEY.hex(),
                "pepper": pepper.hex(),
                "token_key": crypto._token_key(TOKEN, pepper).hex(),
                "credential_id": str(CREDENTIAL_ID),
                "seed": RECIPIENT_SEED.hex(),
                "key_id": key_id,
                "nonce": NONCE.hex(),
                "sealed_key": token_v2.hex(),
            },
            {
                "id": "enrolment-code-v2",
                "code": ENROLMENT_CODE,
                "seal_key": SEAL_KEY.hex(),
                "pepper": pepper.hex(),
                "code_key": crypto._code_key(ENROLMENT_CODE, pepper).hex(),
                "user_id": str(USER_ID),
                "seed": RECIPIENT_SEED.hex(),
                "key_id": key_id,
                "nonce": NONCE.hex(),
                "sealed_key": code_v2.hex(),
            },
        ],
        "invalid": invalid,
    }


def _open_token_or_code(vector: dict[str, Any]) -> PrivateKey:
    sealed = bytes.fromhex(vector["sealed"])
    subject = UUID(vector["subject_id"])
    pepper = bytes.fromhex(vector["pepper"]) if "pepper" in vector else None
    if vector["with"] == "token":
        return crypto.open_with_token(
            vector["secret"], sealed, credential_id=subject, key_id=vector["key_id"], pepper=pepper
        )
    return crypto.open_with_code(
        vector["secret"], sealed, owner_id=subject, key_id=vector["key_id"], pepper=pepper
    )
