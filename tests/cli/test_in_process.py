"""The CLI tests run most commands in this process (``tests.support.cli.run_in_process``); they
are only as good as its likeness to the installed console script in a process of its own. Both
ways must print the same bytes and end with the same status, and the in-process run must leave
this process as it found it."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

from tests.support.cli import NOT_FOUND, USAGE, run_in_process, run_vault, vault_env


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["--help"], 0),
        (["init", "--data-dir", "D"], USAGE),  # Click's usage block, naming the program
        (["fsck", "--data-dir", "nowhere"], NOT_FOUND),
        (["init", "--data-dir", "D", "--admin", "alice"], USAGE),  # stdin is not a terminal
    ],
    ids=["help", "usage", "error", "no-terminal"],
)
def test_in_process_prints_what_the_console_script_prints(
    tmp_path: Path, args: list[str], status: int
) -> None:
    env = vault_env(columns=80)
    separate = run_vault(*args, cwd=tmp_path, env=env)
    here = run_vault(*args, cwd=tmp_path, env=env, in_process=True)
    assert (here.returncode, here.stdout, here.stderr) == (
        separate.returncode,
        separate.stdout,
        separate.stderr,
    )
    assert here.returncode == status


def _process_state() -> tuple[object, ...]:
    root = logging.getLogger()
    streams = (sys.stdin, sys.stdout, sys.stderr)
    return (
        dict(os.environ),
        os.getcwd(),
        sys.argv,
        streams,
        sys.modules["__main__"],
        root.handlers[:],
        root.level,
    )


def test_in_process_leaves_this_process_as_it_was(tmp_path: Path) -> None:
    before = _process_state()
    env = {"PATH": os.environ.get("PATH", ""), "VAULT_DATA_DIR": str(tmp_path / "none")}
    # --debug: the CLI configures logging, which a new process starts without.
    done = run_in_process(["--debug", "fsck"], env=env, stdin="ignored\n", cwd=tmp_path)
    assert done.returncode == NOT_FOUND, done.stderr
    assert _process_state() == before


def test_an_error_message_is_one_line_that_cannot_drive_the_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a database writer put in a column can reach a message (a record's id): never an
    # escape sequence or a second line on the operator's terminal.
    from vault.cli import main
    from vault.errors import IntegrityError

    def edited() -> None:
        raise IntegrityError(
            "the recovery_keys record \x1b[2Jwiped\nfake line was changed", reason="row-seal"
        )

    monkeypatch.setattr(main, "app", edited)
    monkeypatch.setitem(main._state, "debug", False)  # --debug prints the traceback as asked
    with pytest.raises(SystemExit) as exit_info:
        main.run()
    assert exit_info.value.code == 5
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert err.count("\n") == 1
    assert err.startswith(
        "vault: error: the recovery_keys record \N{REPLACEMENT CHARACTER}[2Jwiped"
    )
