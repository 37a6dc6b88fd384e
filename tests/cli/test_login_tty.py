"""``vault login`` typed at a terminal: a pseudo-terminal (pexpect) answers the prompts as a
person would. The passphrase must not be echoed, must not reach any file, and the session must
work afterwards.

Everything the terminal showed is kept (``logfile_read``) and searched; HOME and the XDG
directories point into the test's tmp dir, so a stray write anywhere a program usually writes
would be found there too.
"""

from __future__ import annotations

import io
import json
import signal
import stat
from pathlib import Path

import pexpect
import pytest

from tests.cli.conftest import PASSPHRASE, ReviewServer
from tests.support.cli import VAULT

# Fragments a partial echo would leave behind.


def at_a_terminal() -> None:
    """In the child: Ctrl-C interrupts, as at a real terminal, even when the test runner was
    started in the background of a shell without job control (which leaves SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


FRAGMENTS = [PASSPHRASE, *PASSPHRASE.split()[:-1], PASSPHRASE.replace(" ", "")]


class Terminal:
    """A ``vault`` command on a pseudo-terminal, with everything it printed."""

    def __init__(self, review_server: ReviewServer, root: Path, *args: str) -> None:
        self.config = root / "config"
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = review_server.env(
            None,
            VAULT_CONFIG_DIR=str(self.config),
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_STATE_HOME=str(home / ".local" / "state"),
            TERM="dumb",
        )
        self.screen = io.StringIO()
        self.child = pexpect.spawn(
            VAULT,
            list(args),
            env=env,
            cwd=str(root),
            encoding="utf-8",
            timeout=60,
            preexec_fn=at_a_terminal,
            dimensions=(40, 200),
        )
        self.child.logfile_read = self.screen

    def type_secret(self, prompt: str, secret: str) -> None:
        """Wait for ``prompt`` and for the terminal to stop echoing, then type ``secret``."""
        self.child.expect_exact(prompt)
        assert self.child.waitnoecho(timeout=10), "the terminal still echoes at the prompt"
        self.child.sendline(secret)

    def finish(self) -> int:
        self.child.expect(pexpect.EOF)
        self.child.close()
        assert self.child.exitstatus is not None, f"killed by signal {self.child.signalstatus}"
        return int(self.child.exitstatus)

    @property
    def transcript(self) -> str:
        return self.screen.getvalue()


def files_containing(root: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes()
    ]


def assert_secret_nowhere(terminal: Terminal, root: Path) -> None:
    for fragment in FRAGMENTS:
        assert fragment not in terminal.transcript, f"echoed: {fragment!r}"
    assert files_containing(root, PASSPHRASE) == []


def test_login_at_a_terminal_does_not_echo_or_store_the_passphrase(
    review_server: ReviewServer, tmp_path: Path
) -> None:
    terminal = Terminal(
        review_server, tmp_path, "login", "--server", review_server.url, "--username", "jules"
    )

    terminal.type_secret("Passphrase:", PASSPHRASE)
    status = terminal.finish()

    assert status == 0, terminal.transcript
    assert "Logged in to" in terminal.transcript
    assert "jules" in terminal.transcript
    assert "Traceback" not in terminal.transcript
    assert_secret_nowhere(terminal, tmp_path)
    profiles = terminal.config / "profiles.json"
    assert stat.S_IMODE(profiles.stat().st_mode) == 0o600
    saved = json.loads(profiles.read_text())["profiles"]["default"]
    assert saved["username"] == "jules"
    # The session works: whoami from the same configuration directory.
    whoami = review_server.vault(
        None, "whoami", "--json", env=review_server.env(None, VAULT_CONFIG_DIR=str(terminal.config))
    )
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["username"] == "jules"


def test_login_asks_for_the_username_too(review_server: ReviewServer, tmp_path: Path) -> None:
    terminal = Terminal(review_server, tmp_path, "login", "--server", review_server.url)

    terminal.child.expect_exact("Username:")
    terminal.child.sendline("erin")
    terminal.type_secret("Passphrase:", PASSPHRASE)
    status = terminal.finish()

    assert status == 0, terminal.transcript
    assert "erin" in terminal.transcript  # typed in the clear, as a username may be
    assert_secret_nowhere(terminal, tmp_path)
    saved = json.loads((terminal.config / "profiles.json").read_text())["profiles"]["default"]
    assert saved["username"] == "erin"


@pytest.mark.parametrize("key", ["ctrl-c", "ctrl-d"])
def test_giving_up_at_the_prompt_saves_nothing(
    review_server: ReviewServer, tmp_path: Path, key: str
) -> None:
    terminal = Terminal(
        review_server, tmp_path, "login", "--server", review_server.url, "--username", "jules"
    )
    terminal.child.expect_exact("Passphrase:")
    assert terminal.child.waitnoecho(timeout=10)

    if key == "ctrl-c":
        terminal.child.send("quiet lan")  # half typed, never entered
        terminal.child.sendintr()
    else:
        terminal.child.sendeof()  # on an empty line: end of input
    status = terminal.finish()

    assert status != 0
    assert "Traceback" not in terminal.transcript
    assert "quiet lan" not in terminal.transcript
    assert not (terminal.config / "profiles.json").exists()
    assert files_containing(tmp_path, "quiet lan") == []
