"""The command line on a vault whose database was rolled back (on SQLite and PostgreSQL):
``vault serve`` refuses to start and ``vault audit verify`` names the sizes; ``vault audit
accept-rollback`` needs ``--yes``, logs the acceptance and re-pins, and the vault starts again."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import World
from tests.support.cli import FAILED, INTEGRITY, USAGE, assert_error, run_vault, vault_env
from tests.support.rollback import restore, snapshot
from vault.audit import log
from vault.clock import system_clock
from vault.instance import Vault
from vault.storage.models import AuditEntry


def _env(world: World) -> dict[str, str]:
    settings = world.vault.settings
    extra = {"VAULT_DATABASE_URL": settings.database_url} if settings.database_url else {}
    return vault_env(VAULT_DATA_DIR=str(settings.data_dir), VAULT_TOTP_REQUIRED_ROLES="", **extra)


def _head(world: World) -> int:
    with world.vault.session() as db:
        return log.head(db)[0]


def _act(world: World, count: int) -> None:
    with world.vault.session() as db:
        for _ in range(count):
            log.append(db, action="test.action", actor="system", time=system_clock())
        log.commit(db)


def test_a_rolled_back_database_is_refused_until_accepted(world: World, tmp_path: Path) -> None:
    env = _env(world)
    world.vault.audit.checkpoint(world.admin)
    earlier = snapshot(world.vault.engine)
    size = _head(world)
    _act(world, 3)
    pinned = int(world.vault.audit.checkpoint(world.admin).split("\n")[1])
    restore(world.vault.engine, earlier)
    sizes = f"pinned size {pinned}, database size {size}"

    # A subprocess: were the check missing, the server would start and the run time out.
    served = run_vault("serve", "--port", "1", cwd=tmp_path, env=env, timeout=60)
    line = assert_error(served, INTEGRITY)
    assert sizes in line
    assert "vault audit accept-rollback --yes" in line

    verified = run_vault("audit", "verify", cwd=tmp_path, env=env, in_process=True)
    assert sizes in assert_error(verified, 1)

    unconfirmed = run_vault("audit", "accept-rollback", cwd=tmp_path, env=env, in_process=True)
    assert "--yes" in assert_error(unconfirmed, USAGE)
    assert _head(world) == size  # nothing logged

    accepted = run_vault(
        "audit", "accept-rollback", "--yes", cwd=tmp_path, env=env, in_process=True
    )
    assert accepted.returncode == 0, accepted.stderr
    assert f"pinned checkpoint of size {pinned}" in accepted.stderr
    assert f"database's size {size}" in accepted.stderr
    assert _head(world) == size + 1
    with world.vault.session() as db:
        row = db.get(AuditEntry, size)
        assert row is not None
    entry = json.loads(row.leaf)
    assert entry["action"] == "audit.rollback.accepted"
    assert (entry["pinned_size"], entry["database_size"]) == (str(pinned), str(size))

    verified = run_vault("audit", "verify", cwd=tmp_path, env=env, in_process=True)
    assert verified.returncode == 0, verified.stderr
    assert f"pinned at size {size + 1}" in verified.stdout
    Vault.open(world.vault.settings).close()  # what `vault serve` checks first

    again = run_vault("audit", "accept-rollback", "--yes", cwd=tmp_path, env=env, in_process=True)
    assert "no rollback to accept" in assert_error(again, FAILED)
