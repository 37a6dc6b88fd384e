"""``vault passphrase`` and ``vault keys rotate`` through the console script's entry point against
the shared live server, on an account of their own (the shared users keep their passphrase)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from tests.cli.conftest import PASSPHRASE, ReviewServer
from tests.cli.test_session_cli import Config
from tests.support.cli import AUTH, assert_error, run_vault

NEW = "amber ledger crosses the quay at dawn"


def _new_account(server: ReviewServer) -> str:
    name = f"acct-{secrets.token_hex(3)}"
    made = run_vault(
        "users", "add", name, "--role", "journalist", "--data-dir", server.live.data_dir,
        "--passphrase-file", server.passphrase_file,
        cwd=server.root, env=server.live.env, in_process=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return name


def test_passphrase_change_then_key_rotation(review_server: ReviewServer, tmp_path: Path) -> None:
    name = _new_account(review_server)
    config = Config(review_server, tmp_path / "config")
    done = config.login(name)
    assert done.returncode == 0, done.stderr
    devices = json.loads(config.file.read_text())["devices"]
    assert list(devices) == [f"{name}@{review_server.url}"]  # kept for the next login
    new_file = tmp_path / "new"
    new_file.write_text(NEW + "\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all\n")
    refused = config.run(
        "passphrase", "--passphrase-file", wrong, "--new-passphrase-file", new_file
    )
    assert_error(refused, AUTH)
    changed = config.run(
        "passphrase", "--passphrase-file", review_server.passphrase_file,
        "--new-passphrase-file", new_file,
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert "Passphrase changed." in changed.stderr
    assert NEW not in changed.stdout + changed.stderr
    assert PASSPHRASE not in changed.stdout + changed.stderr
    before = config.profiles()["default"]["token"]
    rotated = config.run("keys", "rotate", "--passphrase-file", new_file)
    assert rotated.returncode == 0, rotated.stderr
    assert "New key pair" in rotated.stderr
    assert config.profiles()["default"]["token"] != before
    assert json.loads(config.ok("whoami", "--json"))["username"] == name
