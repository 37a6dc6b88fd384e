"""Which schema revisions a release serves: its own; a newer one the migrations mark as still
servable by it (replicas upgraded one by one); never an older one (`vault migrate` first)."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from tests.conftest import World
from vault.errors import StorageError
from vault.instance import Vault
from vault.storage.database import head_revision


def _set(world: World, *, revision: str, oldest: str | None) -> None:
    with world.vault.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
        if oldest is None:
            conn.execute(sa.text("DELETE FROM schema_compat"))
        else:
            conn.execute(sa.text("UPDATE schema_compat SET oldest_release = :o"), {"o": oldest})


def test_a_fresh_vault_records_the_oldest_release_that_may_serve_it(world: World) -> None:
    with world.vault.engine.connect() as conn:
        oldest = conn.execute(sa.text("SELECT oldest_release FROM schema_compat")).scalar_one()
    assert oldest <= head_revision()


def test_a_newer_schema_that_only_grew_is_served_with_a_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    _set(world, revision="9998", oldest=head_revision())
    with caplog.at_level(logging.WARNING, logger="vault.storage.schema_compat"):
        Vault.open(world.vault.settings).close()
    assert "9998" in caplog.text
    assert "upgrade this server" in caplog.text


@pytest.mark.parametrize("oldest", ["9998", None])
def test_a_newer_schema_this_release_cannot_serve_is_refused(
    world: World, oldest: str | None
) -> None:
    _set(world, revision="9998", oldest=oldest)
    with pytest.raises(StorageError, match=r"newer than this version.s .* upgrade this server"):
        Vault.open(world.vault.settings)
    with pytest.raises(StorageError, match="newer than this version's"):
        Vault.migrate(world.vault.settings)


def test_an_older_schema_is_refused_until_migrated(world: World) -> None:
    _set(world, revision="0012", oldest="0012")
    with pytest.raises(StorageError, match=r"0012, this version expects .*vault migrate"):
        Vault.open(world.vault.settings)
