"""``vault passphrase`` and ``vault keys rotate`` through the installed console script against
the shared live server, on an account of their own (the shared users keep their passphrase)."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

from tests.cli.conftest import PASSPHRASE, ReviewServer, assert_error
from tests.cli.test_session_cli import Config
from tests.e2e.conftest import VAULT

NEW = "amber ledger crosses the quay at dawn"


def _new_account(server: ReviewServer) -> str:
    name = f"acct-{secrets.token_hex(3)}"
    made = subprocess.run(
        [VAULT, "users", "add", name, "--role", "journalist", "--data-dir",
         server.live.data_dir, "--passphrase-file", server.passphrase_file],
        env=server.live.env, capture_output=True, text=True, timeout=120, check=False,
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
    assert_error(refused, 3)
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
