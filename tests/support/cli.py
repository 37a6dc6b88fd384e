"""Running the ``vault`` command as the tests do, and the exit statuses it ends with.

``run_vault`` runs ``vault ARGS`` with exactly the environment it is given (``vault_env`` makes
the usual one: no ``VAULT_*`` setting from the developer's shell, a terminal width), stdin from a
string or empty and never a terminal, and checks what every run must keep: no traceback, and
none of the given secrets on stdout or stderr.

It runs the installed console script in a subprocess, or with ``in_process=True`` calls the
same entry point in this process (``run_in_process``): no interpreter start-up and no imports,
about 0.4 s saved a run. The in-process run is for commands that need no process boundary; a
test of signals, of a terminal, of ``vault serve``, of the process's own environment, umask or
file descriptors, or one that runs commands from threads, keeps the subprocess.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import tempfile
import threading
import types
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from vault.cli.errors import AUTH, FAILED, INTEGRITY, NOT_FOUND, OK, USAGE

__all__ = [
    "AUTH",
    "FAILED",
    "INTEGRITY",
    "NOT_FOUND",
    "OK",
    "USAGE",
    "VAULT",
    "assert_error",
    "run_in_process",
    "run_vault",
    "vault_env",
]

# The console script of this interpreter's environment (a string: pexpect takes no Path).
VAULT = str(Path(sys.executable).with_name("vault"))


def vault_env(*, columns: int | None = 200, **settings: str) -> dict[str, str]:
    """This process's environment without any ``VAULT_*`` variable, with ``COLUMNS`` set to
    ``columns`` unless it is ``None`` (rich sizes tables by it when stdout is not a terminal),
    and with ``settings`` added."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    if columns is not None:
        environ["COLUMNS"] = str(columns)
    environ.update(settings)
    return environ


def run_vault(
    *args: str | Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    secrets: Iterable[str] = (),
    timeout: float = 120,
    in_process: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``vault ARGS`` in ``cwd`` with exactly ``env`` (default ``vault_env()``) and ``stdin``
    (empty when ``None``; never a terminal). Fails the test on a traceback or on any of
    ``secrets`` in the output. ``timeout`` bounds a subprocess only."""
    environ = vault_env() if env is None else dict(env)
    if in_process:
        done = run_in_process(args, env=environ, stdin=stdin, cwd=cwd)
    else:
        done = subprocess.run(
            [VAULT, *map(str, args)],
            cwd=cwd,
            env=environ,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    assert "Traceback" not in done.stderr, done.stderr
    assert "Traceback" not in done.stdout, done.stdout
    for secret in secrets:
        assert secret not in done.stdout, "a secret was printed on stdout"
        assert secret not in done.stderr, "a secret was printed on stderr"
    return done


def assert_error(done: subprocess.CompletedProcess[str], status: int) -> str:
    """The run failed with ``status`` and said why in exactly one ``vault: error:`` line."""
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("vault: error: "), lines[0]
    return lines[0]


def run_in_process(
    args: Iterable[str | Path],
    *,
    env: Mapping[str, str],
    stdin: str | None = None,
    cwd: Path,
) -> subprocess.CompletedProcess[str]:
    """Call the console script's entry point (``vault.cli.main.run``) in this process as the
    script would run: ``sys.argv``, the environment (``os.environ`` emptied and refilled, not
    replaced: modules hold it as a default argument), the working directory and the standard
    streams swapped for the call and restored after it. stdout and stderr are captured as text
    the way ``subprocess.run(text=True)`` reads them; the exit status comes from ``SystemExit``.

    Not for threads: every one of those swaps is process-wide."""
    assert threading.current_thread() is threading.main_thread(), (
        "run_in_process swaps process-wide state; run commands from threads as subprocesses"
    )
    # Imported here, not with this module: the benchmarks import it (through
    # tests.support.server) and never run the CLI in-process.
    from vault.cli.main import run

    argv = [VAULT, *map(str, args)]
    out, err = io.BytesIO(), io.BytesIO()
    with _as_a_new_process(argv, env, cwd, stdin or "", out, err):
        try:
            run()
            status = OK
        except SystemExit as exc:
            status = _exit_status(exc.code)
    return subprocess.CompletedProcess(argv, status, _read_text(out), _read_text(err))


def _exit_status(code: object) -> int:
    """What the interpreter makes of ``sys.exit(code)``: ``None`` is 0, an int itself, and
    anything else is printed to stderr and exits 1."""
    if code is None:
        return OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return FAILED


def _read_text(captured: io.BytesIO) -> str:
    # As subprocess.run(text=True) decodes a pipe: UTF-8 with universal newlines.
    return io.TextIOWrapper(io.BytesIO(captured.getvalue()), encoding="utf-8").read()


@contextmanager
def _as_a_new_process(
    argv: list[str],
    env: Mapping[str, str],
    cwd: Path,
    stdin: str,
    out: io.BytesIO,
    err: io.BytesIO,
) -> Iterator[None]:
    """This process made to look, for one call, like a fresh ``vault`` process."""
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    saved_argv = sys.argv
    saved_main = sys.modules["__main__"]
    saved_tempdir = tempfile.tempdir
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    # write_through: text and bytes written to .buffer (downloads) keep their order.
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True)
    try:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
        sys.stdout, sys.stderr = stdout, stderr
        sys.argv = argv
        # Click names the program after __main__: a console script's has no package, pytest's
        # does ("python -m pytest" would make usage read "Usage: python -m pytest.vault").
        sys.modules["__main__"] = types.ModuleType("__main__")
        os.environ.clear()
        os.environ.update(env)
        tempfile.tempdir = None  # found again from TMPDIR, as a new process would
        # A new process's root logger has no handler: the CLI's basicConfig adds one on stderr.
        root.handlers.clear()
        root.setLevel(logging.WARNING)
        os.chdir(cwd)
        yield
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        tempfile.tempdir = saved_tempdir
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.modules["__main__"] = saved_main
        sys.argv = saved_argv
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        for wrapper in (stdout, stderr):
            wrapper.flush()
            # Detached, the wrapper no longer closes the captured bytes when it is collected.
            wrapper.detach()
