"""The connection pool each server process keeps: sized by settings, and a wait for a free
connection that ends in ``Unavailable`` (503, try again) rather than an unexpected error."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from tests.support.world import World
from vault.errors import Unavailable
from vault.instance import Vault
from vault.storage.database import PoolSize, connect


def test_a_busy_pool_answers_unavailable_once_its_wait_is_over(world: World) -> None:
    url = world.vault.settings.resolved_database_url
    engine = connect(url, pool=PoolSize(size=1, overflow=0, timeout=0.2))
    try:
        with engine.connect():
            with pytest.raises(Unavailable) as raised:
                engine.connect()
        assert raised.value.retry_after == 1
        with engine.connect() as conn:  # the connection given back is handed out again
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_the_vault_sizes_its_pool_from_the_settings(world: World) -> None:
    settings = dataclasses.replace(
        world.vault.settings,
        database_pool_size=2,
        database_max_overflow=0,
        database_pool_timeout_seconds=1,
    )
    vault = Vault.open(settings)
    try:
        held = [vault.engine.connect(), vault.engine.connect()]
        with pytest.raises(Unavailable):
            vault.engine.connect()
        for conn in held:
            conn.close()
    finally:
        vault.close()
