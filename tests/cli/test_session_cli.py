"""``vault login``, ``vault logout``, ``vault whoami``, profiles, the ``VAULT_*`` overrides and
shell completion, through the console script's entry point (in this process) against the shared
live server; shell completion through the installed script, as a shell runs it.

Every test logs in with its own configuration directory (``VAULT_CONFIG_DIR`` under its
``tmp_path``), so the shared users' saved logins are never touched, and nothing here logs them
out on the server. Only one test fails a login on purpose: the server blocks an address after a
few failures, and every test talks to it from 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import PASSPHRASE, ReviewServer
from tests.support.cli import AUTH, FAILED, USAGE, VAULT, run_vault
from tests.support.server import free_port


class Config:
    """One configuration directory and the environment that points ``vault`` at it."""

    def __init__(self, server: ReviewServer, directory: Path, **extra: str) -> None:
        self.server = server
        self.directory = directory
        self.environ = server.env(None, VAULT_CONFIG_DIR=str(directory), **extra)

    @property
    def file(self) -> Path:
        return self.directory / "profiles.json"

    def profiles(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = json.loads(self.file.read_text())["profiles"]
        return found

    def run(self, *args: str | Path, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.server.vault(None, *args, env={**self.environ, **extra})

    def ok(self, *args: str | Path, **extra: str) -> str:
        done = self.run(*args, **extra)
        assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
        return done.stdout

    def login(self, user: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = self.run(
            "login",
            "--server",
            self.server.url,
            "--username",
            user,
            "--passphrase-file",
            self.server.passphrase_file,
            *args,
        )
        assert done.returncode == 0, (done.stdout, done.stderr)
        return done


@pytest.fixture
def config(review_server: ReviewServer, tmp_path: Path) -> Config:
    return Config(review_server, tmp_path / "config" / "source-vault")


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("vault: error: "), stderr
    return lines[0]


def me(server: ReviewServer, token: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_login_saves_a_private_profile_without_the_passphrase(config: Config) -> None:
    done = config.login("jules")

    assert stat.S_IMODE(config.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(config.file.stat().st_mode) == 0o600
    # No temporary file left; beside the profiles, what this machine saw of the server's log.
    files = sorted(config.directory.iterdir())
    assert [p.name for p in files] == [".trust.lock", "profiles.json", "trust.json"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    text = config.file.read_text()
    assert PASSPHRASE not in text
    saved = config.profiles()["default"]
    assert saved["server"] == config.server.url
    assert saved["username"] == "jules"
    assert set(saved) == {"server", "username", "token", "expires_at"}
    assert me(config.server, saved["token"]).json()["username"] == "jules"
    # People read where the session went; stdout stays empty for scripts.
    assert done.stdout == ""
    assert "jules" in done.stderr
    assert "'default'" in done.stderr
    assert PASSPHRASE not in done.stderr


def test_whoami_as_a_table_and_as_json(config: Config) -> None:
    config.login("erin")

    table = config.ok("whoami")
    assert table.splitlines() == [
        "user:    erin",
        "role:    editor",
        f"server:  {config.server.url}",
        "profile: default",
        "session: server-side",
    ]
    answer = json.loads(config.ok("whoami", "--json"))
    assert answer["username"] == "erin"
    assert answer["role"] == "editor"
    assert answer["server"] == config.server.url
    assert answer["profile"] == "default"
    assert answer["session"] == "server-side"
    assert "token" not in answer


def test_profiles_side_by_side(config: Config) -> None:
    config.login("jules")
    config.login("erin", "--profile", "second")

    assert sorted(config.profiles()) == ["default", "second"]
    assert json.loads(config.ok("whoami", "--json"))["username"] == "jules"
    second = json.loads(config.ok("whoami", "--json", "--profile", "second"))
    assert (second["username"], second["profile"]) == ("erin", "second")
    assert json.loads(config.ok("whoami", "--json", "-p", "second"))["username"] == "erin"
    # VAULT_PROFILE chooses the profile when --profile does not.
    chosen = json.loads(config.ok("whoami", "--json", VAULT_PROFILE="second"))
    assert (chosen["username"], chosen["profile"]) == ("erin", "second")
    explicit = json.loads(config.ok("whoami", "--json", "-p", "default", VAULT_PROFILE="second"))
    assert explicit["username"] == "jules"


def test_vault_server_and_token_override_the_profile(config: Config) -> None:
    config.login("jules")
    with httpx.Client(base_url=config.server.url, timeout=30) as client:
        answer = client.post(
            "/v1/auth/login", json={"username": "erin", "passphrase": PASSPHRASE}
        ).json()
    token = answer["token"]
    try:
        override = json.loads(
            config.ok("whoami", "--json", VAULT_SERVER=config.server.url, VAULT_TOKEN=token)
        )
        assert override["username"] == "erin"
        assert override["server"] == config.server.url
        assert override["profile"] is None  # nothing came from a saved login
        # Without any saved login at all, the two variables are enough.
        config.file.unlink()
        bare = json.loads(
            config.ok("whoami", "--json", VAULT_SERVER=config.server.url + "/", VAULT_TOKEN=token)
        )
        assert (bare["username"], bare["server"]) == ("erin", config.server.url)
    finally:
        httpx.post(
            f"{config.server.url}/v1/auth/logout",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )


def test_not_logged_in_exits_3_and_says_how(config: Config) -> None:
    done = config.run("whoami")

    assert done.returncode == AUTH
    assert "vault login --server URL --username NAME" in one_line(done.stderr)
    assert done.stdout == ""


def test_wrong_passphrase_exits_3_with_one_line(config: Config, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase of anyone at all\n")

    done = config.run(
        "login", "--server", config.server.url, "--username", "jules", "--passphrase-file", wrong
    )

    assert done.returncode == AUTH
    line = one_line(done.stderr)
    assert "not the passphrase" not in line
    assert done.stdout == ""
    assert not config.file.exists()


def test_unreachable_server_exits_1_with_one_line(config: Config) -> None:
    closed = f"http://127.0.0.1:{free_port()}"

    login = config.run(
        "login",
        "--server",
        closed,
        "--username",
        "jules",
        "--passphrase-file",
        config.server.passphrase_file,
    )
    assert login.returncode == FAILED
    assert f"cannot reach the server at {closed}" in one_line(login.stderr)
    assert not config.file.exists()

    whoami = config.run("whoami", VAULT_SERVER=closed, VAULT_TOKEN="x" * 43)
    assert whoami.returncode == FAILED
    assert "cannot reach the server" in one_line(whoami.stderr)


def test_logout_ends_the_session_on_the_server_and_forgets_it(config: Config) -> None:
    config.login("jules")
    config.login("jules", "--profile", "kept")
    token = config.profiles()["default"]["token"]
    kept = config.profiles()["kept"]["token"]
    assert me(config.server, token).status_code == 200

    done = config.run("logout")

    assert done.returncode == 0, done.stderr
    assert "Logged out" in done.stderr
    assert me(config.server, token).status_code == 401
    assert sorted(config.profiles()) == ["kept"]  # the other login is untouched
    assert me(config.server, kept).status_code == 200
    assert stat.S_IMODE(config.file.stat().st_mode) == 0o600
    again = config.run("logout")
    assert again.returncode == 0
    assert "not logged in" in again.stderr
    after = config.run("whoami")
    assert after.returncode == AUTH
    config.ok("logout", "--profile", "kept")
    assert me(config.server, kept).status_code == 401


def test_logout_of_a_session_the_server_already_ended(config: Config) -> None:
    config.login("jules")
    token = config.profiles()["default"]["token"]
    ended = httpx.post(
        f"{config.server.url}/v1/auth/logout",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert ended.status_code == 204

    done = config.run("logout")

    assert done.returncode == 0, done.stderr
    assert config.profiles() == {}
    stale = config.run("whoami")
    assert stale.returncode == AUTH


def test_an_expired_profile_asks_to_log_in_again(config: Config) -> None:
    config.login("jules")
    body = json.loads(config.file.read_text())
    past = datetime.now(UTC) - timedelta(minutes=1)
    body["profiles"]["default"]["expires_at"] = past.isoformat().replace("+00:00", "Z")
    config.file.write_text(json.dumps(body))

    done = config.run("whoami")

    assert done.returncode == AUTH
    line = one_line(done.stderr)
    assert "expired" in line
    assert "vault login" in line
    # Logging in again replaces it.
    config.login("jules")
    assert json.loads(config.ok("whoami", "--json"))["username"] == "jules"


def test_login_remembers_server_and_username(config: Config) -> None:
    config.login("joan")

    # A second login to the same profile needs neither --server nor --username.
    done = config.run("login", "--passphrase-file", config.server.passphrase_file)

    assert done.returncode == 0, done.stderr
    assert json.loads(config.ok("whoami", "--json"))["username"] == "joan"


def test_login_without_a_server_is_a_usage_error(config: Config) -> None:
    done = config.run(
        "login", "--username", "jules", "--passphrase-file", config.server.passphrase_file
    )

    assert done.returncode == USAGE
    assert "--server" in one_line(done.stderr)


# -- shell completion ------------------------------------------------------------------------


def completion_env(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "_VAULT_"))}
    environ.update(extra)
    return environ


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o default -F _vault_completion vault"),
        ("zsh", "#compdef vault"),
        ("fish", "complete --command vault"),
    ],
)
def test_show_completion_prints_a_script_for_each_shell(
    shell: str, marker: str, tmp_path: Path
) -> None:
    # Typer detects the shell from the parent process; this variable makes it take the name
    # given instead, so that the test does not depend on the shell that runs it.
    done = run_vault(
        "--show-completion", shell,
        cwd=tmp_path, env=completion_env(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"),
        in_process=True,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert marker in done.stdout
    assert "_VAULT_COMPLETE" in done.stdout


def test_bash_completion_completes_commands(tmp_path: Path) -> None:
    # What a person does: load the script into bash, then ask it to complete `vault lo`.
    script = (
        f'eval "$({VAULT} --show-completion bash)"\n'
        "complete -p vault\n"
        "COMP_WORDS=(vault lo); COMP_CWORD=1; _vault_completion vault\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    path = f"{Path(VAULT).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=completion_env(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1", PATH=path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "complete -o default -F _vault_completion vault" in lines[0]
    assert {"login", "logout"} <= set(lines[1:])
