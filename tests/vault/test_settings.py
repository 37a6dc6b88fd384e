"""Settings: defaults, precedence (flags > environment > file), and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault.errors import InvalidInput
from vault.settings import Settings


def test_defaults_are_the_embedded_vault() -> None:
    settings = Settings.from_environ({})
    assert settings.data_dir == Path("vault-data")
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.resolved_database_url.endswith("vault-data/vault.db")
    assert settings.segment_size == 1 << 20
    assert (settings.argon2.memory_kib, settings.argon2.time_cost, settings.argon2.lanes) == (
        65536,
        3,
        4,
    )
    assert (settings.recovery_threshold, settings.recovery_shares) == (2, 3)


def test_precedence_flags_over_environment_over_file(tmp_path: Path) -> None:
    config = tmp_path / "vault.toml"
    config.write_text(
        '[vault]\ndata_dir = "/from/file"\nsegment_size = 4096\nrecovery_shares = 5\n'
    )
    env = {"VAULT_CONFIG": str(config), "VAULT_DATA_DIR": "/from/env", "VAULT_SEGMENT_SIZE": "8192"}
    settings = Settings.from_environ(env, data_dir=Path("/from/flag"))
    assert settings.data_dir == Path("/from/flag")
    assert settings.segment_size == 8192
    assert settings.recovery_shares == 5
    assert Settings.from_environ(env).data_dir == Path("/from/env")


def test_unprefixed_and_unknown_variables_are_not_settings() -> None:
    settings = Settings.from_environ({"DATA_DIR": "/nope", "VAULT_SOMETHING_ELSE": "1"})
    assert settings.data_dir == Path("vault-data")
    assert settings.extra == {"something_else": "1"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VAULT_ARGON2_MEMORY_KIB": "1024"}, "RFC 9106"),
        ({"VAULT_ARGON2_TIME_COST": "1"}, "RFC 9106"),
        ({"VAULT_SEGMENT_SIZE": "lots"}, "segment_size must be a whole number"),
        ({"VAULT_SEGMENT_SIZE": "8"}, "segment_size must be between"),
        ({"VAULT_RECOVERY_THRESHOLD": "4"}, "threshold <= shares"),
        ({"VAULT_RECOVERY_THRESHOLD": "1"}, "threshold of 1"),
        ({"VAULT_DATABASE_POOL_SIZE": "0"}, "database_pool_size must be at least 1"),
        ({"VAULT_DATABASE_MAX_OVERFLOW": "-1"}, "database_max_overflow must be between"),
        ({"VAULT_DATABASE_POOL_TIMEOUT_SECONDS": "0"}, "database_pool_timeout_seconds must"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Settings.from_environ(env)


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        Settings.from_environ({"VAULT_CONFIG": str(tmp_path / "missing.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("data_dir = ")
    with pytest.raises(InvalidInput, match="cannot be read"):
        Settings.from_environ({}, config_file=broken)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'\n")
    with pytest.raises(InvalidInput, match="unknown setting colour"):
        Settings.from_environ({}, config_file=unknown)
