"""Passphrases (``docs/format.md`` §4): the Argon2id parameters really in force, the verifier and
key-encryption key split, normalisation and the length cap, and ``users.verify_passphrase``
failing one way for every cause and re-sealing a key under raised parameters.

Each Argon2id derivation at the floor costs about 0.2 s, so the tests count them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator

import pytest
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlmodel import Session

from tests.conftest import PASSPHRASE
from vault import crypto
from vault.crypto import Argon2Params, PassphraseKeys, _passphrase
from vault.errors import AuthenticationFailed, InvalidInput
from vault.initialise import init_vault
from vault.instance import Vault
from vault.services import users
from vault.settings import Settings
from vault.storage.models import Role, User

SALT = bytes(range(16))
RFC9106_SECOND_OPTION = {"memory_kib": 65536, "time_cost": 3, "lanes": 4}
STRONGER = Argon2Params(memory_kib=2 * 65536)


def independent_derivation(passphrase: str, salt: bytes, params: dict[str, int]) -> PassphraseKeys:
    """The derivation written out from the format description, without the vault's code:
    Argon2id (RFC 9106) over the NFC UTF-8 passphrase, then HKDF-SHA256 (RFC 5869, no salt)
    with one info label per output."""
    master = hash_secret_raw(
        unicodedata.normalize("NFC", passphrase).encode("utf-8"),
        salt,
        time_cost=params["time_cost"],
        memory_cost=params["memory_kib"],
        parallelism=params["lanes"],
        hash_len=32,
        type=Type.ID,
    )

    def expand(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)

    return PassphraseKeys(
        verifier=expand(b"source-vault/v1 login-verifier"),
        kek=expand(b"source-vault/v1 key-encryption"),
    )


@pytest.fixture
def count_derivations(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count calls of ``vault.crypto.derive_passphrase_keys`` (as the services call it)."""
    calls = 0
    real = crypto.derive_passphrase_keys

    def counting(passphrase: str, salt: bytes, params: Argon2Params) -> PassphraseKeys:
        nonlocal calls
        calls += 1
        return real(passphrase, salt, params)

    monkeypatch.setattr(crypto, "derive_passphrase_keys", counting)
    return lambda: calls


# -- parameters --------------------------------------------------------------------------------


def test_default_parameters_are_rfc_9106_second_option() -> None:
    params = Argon2Params()
    assert params.memory_kib == 65536
    assert params.time_cost == 3
    assert params.lanes == 4
    assert Settings().argon2 == params


@pytest.mark.parametrize(
    "weaker",
    [
        {"memory_kib": 65535},
        {"memory_kib": 19 * 1024},  # RFC 9106 / OWASP's lighter options are not enough here
        {"time_cost": 2},
        {"time_cost": 1},
        {"lanes": 3},
        {"lanes": 1},
        {"memory_kib": 0, "time_cost": 0, "lanes": 0},
    ],
)
def test_parameters_below_the_floor_are_refused(weaker: dict[str, int]) -> None:
    with pytest.raises(InvalidInput, match="RFC 9106"):
        Argon2Params(**weaker)


@pytest.mark.parametrize(
    "huge", [{"memory_kib": 4 * 1024 * 1024 + 1}, {"time_cost": 65}, {"lanes": 65}]
)
def test_implausibly_large_parameters_are_refused(huge: dict[str, int]) -> None:
    with pytest.raises(InvalidInput, match="implausibly large"):
        Argon2Params(**huge)


def test_settings_refuse_weaker_parameters_from_the_environment() -> None:
    with pytest.raises(InvalidInput):
        Settings.from_environ({"VAULT_ARGON2_MEMORY_KIB": "32768"})


# -- derivation --------------------------------------------------------------------------------


def test_derivation_matches_an_independent_argon2id_and_hkdf() -> None:
    # Two derivations: the vault's and the independent one. Equal outputs mean the vault used
    # Argon2id with 64 MiB, 3 passes, 4 lanes and these HKDF labels; any other choice differs.
    ours = crypto.derive_passphrase_keys(PASSPHRASE, SALT, Argon2Params())
    theirs = independent_derivation(PASSPHRASE, SALT, RFC9106_SECOND_OPTION)
    assert ours.verifier == theirs.verifier
    assert ours.kek == theirs.kek


def test_derivation_is_deterministic_and_splits_two_keys() -> None:
    first = crypto.derive_passphrase_keys(PASSPHRASE, SALT, Argon2Params())
    second = crypto.derive_passphrase_keys(PASSPHRASE, SALT, Argon2Params())
    assert first == second
    assert len(first.verifier) == len(first.kek) == 32
    # The stored verifier must tell nothing about the key that seals the private key.
    assert first.verifier != first.kek


def test_salt_changes_the_keys() -> None:
    keys = crypto.derive_passphrase_keys(PASSPHRASE, bytes(16), Argon2Params())
    expected = independent_derivation(PASSPHRASE, SALT, RFC9106_SECOND_OPTION)
    assert keys.verifier != expected.verifier
    assert keys.kek != expected.kek


def test_composed_and_decomposed_passphrases_derive_the_same_keys() -> None:
    composed = "caf\u00e9 au lait, s'il vous pla\u00eet"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed  # the test is about two different code point sequences
    keys_composed = crypto.derive_passphrase_keys(composed, SALT, Argon2Params())
    keys_decomposed = crypto.derive_passphrase_keys(decomposed, SALT, Argon2Params())
    assert keys_composed == keys_decomposed
    # ... and they are the keys of the NFC UTF-8 bytes, not of either spelling as typed.
    raw = hash_secret_raw(
        decomposed.encode("utf-8"),
        SALT,
        time_cost=3,
        memory_cost=65536,
        parallelism=4,
        hash_len=32,
        type=Type.ID,
    )
    nfd_verifier = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"source-vault/v1 login-verifier"
    ).derive(raw)
    assert keys_decomposed.verifier != nfd_verifier


@pytest.mark.parametrize(
    "passphrase",
    [
        pytest.param("x" * 1025, id="1025-ascii"),
        pytest.param("\u00e9" * 513, id="513-two-byte-chars"),  # 513 characters, 1026 bytes
        pytest.param("x" * 1_000_000, id="a-megabyte"),
    ],
)
def test_passphrase_over_1024_bytes_is_refused_before_hashing(
    passphrase: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_hashing(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("Argon2id ran on an oversized passphrase")

    monkeypatch.setattr(_passphrase, "hash_secret_raw", no_hashing)
    with pytest.raises(InvalidInput, match="1024 bytes"):
        crypto.derive_passphrase_keys(passphrase, SALT, Argon2Params())
    with pytest.raises(InvalidInput, match="1024 bytes"):
        users.check_passphrase(passphrase)


def test_passphrase_of_exactly_1024_bytes_is_derived() -> None:
    keys = crypto.derive_passphrase_keys("\u00e9" * 512, SALT, Argon2Params())
    assert len(keys.kek) == 32


# -- accounts (SQLite and PostgreSQL) ----------------------------------------------------------


@pytest.fixture
def instance(settings: Settings) -> Iterator[Vault]:
    """A vault with one administrator, ``admin`` (one derivation)."""
    init_vault(settings, admin="admin", passphrase=PASSPHRASE)
    opened = Vault.open(settings)
    try:
        yield opened
    finally:
        opened.close()


def add_user(vault: Vault, username: str, passphrase: str | None = PASSPHRASE) -> User:
    user, _, _ = vault.users.create_account(
        None, username=username, role=Role.JOURNALIST, passphrase=passphrase
    )
    return user


def stored(vault: Vault, username: str) -> User:
    with vault.session() as db:
        return users.find_user(db, username)


def unlock(
    vault: Vault, username: str, passphrase: str, params: Argon2Params | None = None
) -> users.Actor:
    with Session(vault.engine, expire_on_commit=False) as db:
        unlocked = users.verify_passphrase(
            db, username, passphrase, params=params or Argon2Params()
        )
        db.commit()
        return unlocked.actor


def test_create_user_stores_the_parameters_it_used(instance: Vault) -> None:
    user = add_user(instance, "rosa")
    row = stored(instance, "rosa")
    assert (row.kdf_memory_kib, row.kdf_time_cost, row.kdf_lanes) == (65536, 3, 4)
    assert row.kdf_salt is not None
    assert len(row.kdf_salt) == 16
    assert row.kdf_salt != stored(instance, "admin").kdf_salt
    # The stored numbers are the ones really used: an independent Argon2id with them and the
    # stored salt reproduces the stored verifier, and its key-encryption key opens the sealed key.
    assert row.login_verifier is not None
    assert row.sealed_private_key is not None
    assert row.key_id is not None
    keys = independent_derivation(PASSPHRASE, row.kdf_salt, RFC9106_SECOND_OPTION)
    assert keys.verifier == row.login_verifier
    key = crypto.open_private_key(
        keys.kek, row.sealed_private_key, owner_id=user.id, key_id=row.key_id
    )
    assert key.public_key().to_bytes() == row.public_key
    # Neither the passphrase nor the key-encryption key is stored.
    for value in vars(row).values():
        if isinstance(value, bytes):
            assert PASSPHRASE.encode() not in value
            assert keys.kek not in value
        assert value != PASSPHRASE


def test_unlock_with_the_right_passphrase_gives_the_users_key(
    instance: Vault, count_derivations: Callable[[], int]
) -> None:
    row = stored(instance, "admin")
    actor = unlock(instance, "admin", PASSPHRASE)
    assert actor.user_id == row.id
    assert actor.username == "admin"
    assert actor.role is Role.ADMIN
    assert actor.require_key().public_key().key_id == row.key_id
    assert count_derivations() == 1


def test_unlock_failures_are_indistinguishable(
    instance: Vault, count_derivations: Callable[[], int]
) -> None:
    add_user(instance, "dora")
    add_user(instance, "newcomer", passphrase=None)  # not enrolled yet: no key to unlock
    with instance.session() as db:
        disabled = users.find_user(db, "dora")
        disabled.enabled = False
        db.add(disabled)
        db.commit()
    before = count_derivations()
    attempts = {
        "wrong passphrase": ("admin", PASSPHRASE + "!"),
        "unknown user": ("nobody", PASSPHRASE),
        "disabled user": ("dora", PASSPHRASE),
        "not enrolled": ("newcomer", PASSPHRASE),
    }
    messages = {}
    for cause, (username, passphrase) in attempts.items():
        with pytest.raises(AuthenticationFailed) as exc_info:
            unlock(instance, username, passphrase)
        assert type(exc_info.value) is AuthenticationFailed, cause
        messages[cause] = str(exc_info.value)
    assert len(set(messages.values())) == 1, messages
    # Each cause costs the same Argon2id work, so timing does not tell them apart either.
    assert count_derivations() - before == len(attempts)


def test_oversized_passphrase_fails_alike_for_known_and_unknown_users(instance: Vault) -> None:
    messages = []
    for username in ("admin", "nobody"):
        with pytest.raises(InvalidInput) as exc_info:
            unlock(instance, username, "x" * 1025)
        messages.append(str(exc_info.value))
    assert messages[0] == messages[1]


def test_unlock_reseals_the_key_under_stronger_parameters(instance: Vault) -> None:
    before = stored(instance, "admin")
    actor = unlock(instance, "admin", PASSPHRASE, params=STRONGER)
    assert actor.require_key().public_key().key_id == before.key_id

    after = stored(instance, "admin")
    assert (after.kdf_memory_kib, after.kdf_time_cost, after.kdf_lanes) == (2 * 65536, 3, 4)
    assert after.key_id == before.key_id
    assert after.public_key == before.public_key
    assert after.kdf_salt != before.kdf_salt
    assert after.sealed_private_key != before.sealed_private_key
    assert after.login_verifier != before.login_verifier
    # The new verifier really comes from the stronger parameters.
    assert after.kdf_salt is not None
    strong = independent_derivation(
        PASSPHRASE, after.kdf_salt, {"memory_kib": 2 * 65536, "time_cost": 3, "lanes": 4}
    )
    assert strong.verifier == after.login_verifier

    # The re-sealed key still unlocks, and a later unlock at the default does not weaken it.
    again = unlock(instance, "admin", PASSPHRASE)
    assert again.require_key().public_key().key_id == before.key_id
    assert stored(instance, "admin").kdf_memory_kib == 2 * 65536
    assert stored(instance, "admin").kdf_salt == after.kdf_salt


def test_unlock_at_the_stored_parameters_leaves_the_row_alone(instance: Vault) -> None:
    before = stored(instance, "admin")
    unlock(instance, "admin", PASSPHRASE)
    after = stored(instance, "admin")
    assert after.kdf_salt == before.kdf_salt
    assert after.sealed_private_key == before.sealed_private_key
