"""``vault audit rotate-key`` on a served vault, and an outside witness (``vault audit verify
--server``, a real process) that pinned the first key following one rotation and then two, as
the commands are meant to be used."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import LiveVault
from tests.support.cli import run_vault, vault_env
from vault.audit import checkpoint

pytestmark = pytest.mark.slow  # end to end: a live server and the `vault` command in processes


def _vault(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_vault(*args, cwd=Path.cwd(), env=env)


def _witness(live: LiveVault, saved: Path, token: str) -> subprocess.CompletedProcess[str]:
    env = vault_env(columns=None, VAULT_TOKEN=token)
    return _vault(env, "audit", "verify", "--server", live.base_url, "--checkpoint", str(saved))


def _rotate(live: LiveVault) -> str:
    done = _vault(live.env, "audit", "rotate-key")
    assert done.returncode == 0, done.stderr
    assert "Rotated the access log's key at entry" in done.stderr
    new_key = done.stdout.strip()
    checkpoint.decode_vkey(new_key)  # one verifier key, nothing else, on stdout
    return new_key


# Eleven runs of the `vault` command against a live server: well over the few seconds a test
# may take; tests/api/test_key_rotation_api.py covers the same checks in process.
def test_witness_follows_rotations_of_a_running_server(
    live_vault: LiveVault, tmp_path: Path
) -> None:
    token = live_vault.login("admin")
    saved = tmp_path / "checkpoint"
    pin = tmp_path / "checkpoint.key"
    first = _witness(live_vault, saved, token)
    assert first.returncode == 0, first.stderr
    original = pin.read_text().strip()

    new_key = _rotate(live_vault)
    with live_vault.client(headers=live_vault.auth("admin")) as client:
        assert client.get("/v1/audit/key").text.strip() == new_key  # the server signs with it
    followed = _witness(live_vault, saved, token)
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout.count("followed a key rotation") == 1
    assert f"pin the new key: {new_key}" in followed.stdout
    assert pin.read_text().strip() == new_key

    second, third = _rotate(live_vault), _rotate(live_vault)
    twice = _witness(live_vault, saved, token)
    assert twice.returncode == 0, twice.stderr
    assert twice.stdout.count("followed a key rotation") == 2
    assert pin.read_text().strip() == third != second

    # From the very first key, with no saved checkpoint, all three are followed.
    env = vault_env(columns=None, VAULT_TOKEN=token)
    fresh = _vault(env, "audit", "verify", "--server", live_vault.base_url, "--key", original)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.count("followed a key rotation") == 3

    offline = _vault(live_vault.env, "audit", "verify")
    assert offline.returncode == 0, offline.stderr
