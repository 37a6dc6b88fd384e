"""``vault users disable|enable|reset|role`` as an administrator runs them on the server: the
console script's entry point (in this process) on a data directory made with ``vault init``.

Each change must be in the access log, a wrong name must exit 4 in one line, and the effect must
be real: a disabled account cannot log in, a reset prints a code that enrols the person again,
and a new role shows in ``vault users ls``. The vault and its accounts are made once for the
module (each passphrase costs an Argon2id derivation); each test works on its own account.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from tests.support.cli import NOT_FOUND, USAGE, assert_error, run_vault, vault_env
from vault.errors import AuthenticationFailed
from vault.instance import Vault
from vault.settings import Settings
from vault.storage.models import AuditEntry, Role, User

PASSPHRASE = "violet kettle marches quietly at 47 past nine"
NEW_PASSPHRASE = "amber ledger crosses the quay at dawn"
CODE_RE = re.compile(r"^[0-9a-f]{6}(-[0-9a-f]{6}){3}$")


@dataclass(frozen=True)
class Admin:
    root: Path
    data_dir: Path

    def run(
        self, *args: str | Path, totp_roles: str = "", stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``vault ARGS`` (in this process) with a clean environment; two-factor login off
        unless asked for; it never prints the passphrase."""
        return run_vault(
            *args,
            cwd=self.root,
            env=vault_env(VAULT_TOTP_REQUIRED_ROLES=totp_roles),
            stdin=stdin,
            secrets=[PASSPHRASE],
            in_process=True,
        )

    @classmethod
    def initialised(cls, root: Path) -> Admin:
        """A vault made with ``vault init`` in ``root / "data"``: the administrator ``admin``
        with ``PASSPHRASE``, and the recovery shares in ``root / "shares"``."""
        secret = root / "passphrase"
        secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
        made = cls(root, root / "data")
        init = made.run(
            "init", "--admin", "admin", "--data-dir", made.data_dir, "--passphrase-file", secret,
            "--recovery-out", root / "shares",
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        return made

    def users(self, *args: str, totp_roles: str = "") -> subprocess.CompletedProcess[str]:
        return self.run("users", *args, "--data-dir", self.data_dir, totp_roles=totp_roles)

    def listed(self) -> dict[str, dict[str, Any]]:
        done = self.users("ls", "--json")
        assert done.returncode == 0, done.stderr
        return {u["username"]: u for u in json.loads(done.stdout)["users"]}

    def vault(self) -> Vault:
        return Vault.open(Settings(data_dir=self.data_dir, totp_required_roles=""))

    def log_about(self, username: str) -> list[dict[str, Any]]:
        """The access-log entries whose target is the account ``username``."""
        vault = self.vault()
        try:
            with vault.session() as db:
                user_id = str(db.exec(select(User.id).where(User.username == username)).one())
                leaves = db.exec(select(AuditEntry.leaf).order_by(col(AuditEntry.idx))).all()
        finally:
            vault.close()
        entries = [json.loads(leaf) for leaf in leaves]
        return [e for e in entries if e["targets"].get("user") == user_id]

    def can_log_in(self, username: str, passphrase: str = PASSPHRASE) -> bool:
        vault = self.vault()
        try:
            vault.auth.login(username, passphrase, None, address="test")
        except AuthenticationFailed:
            return False
        finally:
            vault.close()
        return True


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Admin:
    """A vault with the administrator ``admin``, the active editor ``erin`` and the journalists
    ``jules`` and ``rory``, who have not enrolled yet."""
    made = Admin.initialised(tmp_path_factory.mktemp("users-cli"))
    vault = made.vault()
    try:
        vault.users.create_account(None, username="erin", role=Role.EDITOR, passphrase=PASSPHRASE)
        for name in ("jules", "rory"):
            vault.users.create_account(None, username=name, role=Role.JOURNALIST, passphrase=None)
    finally:
        vault.close()
    return made


def test_disable_refuses_login_until_enable(admin: Admin) -> None:
    disabled = admin.users("disable", "erin")
    assert disabled.returncode == 0, disabled.stderr
    assert disabled.stdout == ""
    assert "Disabled erin" in disabled.stderr
    assert admin.listed()["erin"]["enabled"] is False
    assert not admin.can_log_in("erin")  # the right passphrase, refused

    enabled = admin.users("enable", "erin")
    assert enabled.returncode == 0, enabled.stderr
    assert "Enabled erin" in enabled.stderr
    assert admin.listed()["erin"]["enabled"] is True
    assert admin.can_log_in("erin")

    actions = [e["action"] for e in admin.log_about("erin")]
    assert [a for a in actions if a.startswith("user.")] == [
        "user.create",
        "user.disable",
        "user.enable",
    ]  # each logged once, by the service
    assert "auth.login.failed" in actions  # the refused login, in between


def test_reset_prints_a_code_that_enrols_again(admin: Admin) -> None:
    old = _code_for(admin, "jules")
    refused = admin.users("reset", "jules")  # no terminal to confirm on
    assert "--yes" in assert_error(refused, USAGE)

    done = admin.users("reset", "jules", "--yes")
    assert done.returncode == 0, done.stderr
    code = done.stdout.strip()
    assert CODE_RE.match(code), done.stdout  # stdout is the code and nothing else
    assert "Reset jules" in done.stderr
    assert admin.log_about("jules")[-1]["action"] == "user.reset"
    assert admin.listed()["jules"]["state"] == "awaiting enrolment"

    vault = admin.vault()
    try:
        with pytest.raises(AuthenticationFailed):
            vault.auth.enroll("jules", old, NEW_PASSPHRASE, address="test")
        assert vault.auth.enroll("jules", code, NEW_PASSPHRASE, address="test").active
    finally:
        vault.close()
    assert admin.listed()["jules"]["state"] == "active"


def _code_for(admin: Admin, username: str) -> str:
    """A fresh enrolment code for ``username``, issued through the service."""
    vault = admin.vault()
    try:
        return vault.users.reset_enrolment(username)
    finally:
        vault.close()


def test_role_change_shows_in_ls_and_the_log(admin: Admin) -> None:
    changed = admin.users("role", "rory", "editor", totp_roles="editor,admin")
    assert changed.returncode == 0, changed.stderr
    assert "from journalist to editor" in changed.stderr
    assert "warning" not in changed.stderr  # rory has not enrolled: enrolment sets up 2FA
    assert admin.listed()["rory"]["role"] == "editor"
    entry = admin.log_about("rory")[-1]
    assert entry["action"] == "user.role.changed"
    assert (entry["from"], entry["to"]) == ("journalist", "editor")
    assert entry["actor"] == "system"

    again = admin.users("role", "rory", "editor")
    assert again.returncode == 0, again.stderr
    assert "already editor" in again.stderr
    assert admin.log_about("rory")[-1] == entry  # nothing new logged

    bad = admin.users("role", "rory", "owner")
    assert bad.returncode == USAGE  # Click's usage error: not a role
    assert admin.listed()["rory"]["role"] == "editor"


def test_role_that_needs_two_factor_warns_an_enrolled_user_without_it(admin: Admin) -> None:
    promoted = admin.users("role", "erin", "admin", totp_roles="editor,admin")
    assert promoted.returncode == 0, promoted.stderr
    assert "warning" in promoted.stderr
    assert "vault users reset erin" in promoted.stderr
    assert admin.listed()["erin"]["role"] == "admin"
    back = admin.users("role", "erin", "editor")
    assert back.returncode == 0, back.stderr
    assert "warning" not in back.stderr


def test_require_rotation_replaces_the_key_at_the_next_login(admin: Admin) -> None:
    vault = admin.vault()
    try:
        with vault.session() as db:
            before = db.exec(select(User.key_id).where(User.username == "erin")).one()
        required = admin.users("require-rotation", "erin")
        assert required.returncode == 0, required.stderr
        assert admin.log_about("erin")[-1]["action"] == "user.key.rotation.required"
        vault.auth.login("erin", PASSPHRASE, None, address="test")
        with vault.session() as db:
            after = db.exec(select(User.key_id).where(User.username == "erin")).one()
    finally:
        vault.close()
    assert after != before
    assert admin.log_about("erin")[-1]["action"] == "user.key.rotate"


@pytest.mark.parametrize(
    "args", [["disable", "nobody"], ["enable", "nobody"], ["reset", "nobody", "--yes"],
             ["role", "nobody", "editor"], ["require-rotation", "nobody"]],
)  # fmt: skip
def test_unknown_user_is_not_found(admin: Admin, args: list[str]) -> None:
    line = assert_error(admin.users(*args), NOT_FOUND)
    assert "no user named 'nobody'" in line


def test_no_vault_is_not_found(tmp_path: Path, admin: Admin) -> None:
    done = admin.run("users", "disable", "erin", "--data-dir", tmp_path / "none")
    assert_error(done, NOT_FOUND)
