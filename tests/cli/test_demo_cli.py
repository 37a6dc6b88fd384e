"""``vault demo`` as a newcomer runs it: the story on stdout, a server that answers while it
is kept running, and nothing left behind afterwards, neither the temporary vault nor a process.

``TMPDIR`` points at an empty directory of the test's own, so "nothing left behind" is checked
by that directory being empty again; HOME, the XDG directories and ``VAULT_CONFIG_DIR`` point
into the test's tmp dir too, so the demo cannot touch the real user's logins.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pexpect
import psutil
import pytest

from tests.support.cli import FAILED, VAULT, run_vault
from tests.support.server import free_port
from vault.cli.local import demo_material as material
from vault.cli.local import demo_story as story

# Each test plays the whole story (accounts, uploads, a redacted PDF export) in processes of
# its own: tens of seconds apiece.
pytestmark = pytest.mark.slow


def at_a_terminal() -> None:
    """In the child: Ctrl-C interrupts, as at a real terminal, even when the test runner was
    started in the background of a shell without job control (which leaves SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


STORY_TIMEOUT = 180.0


@dataclass
class Sandbox:
    root: Path

    @property
    def tmpdir(self) -> Path:
        return self.root / "tmp"

    @property
    def config(self) -> Path:
        return self.root / "config"

    def env(self, **extra: str) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
        home = self.root / "home"
        environ.update(
            TMPDIR=str(self.tmpdir),
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            XDG_CACHE_HOME=str(home / ".cache"),
            VAULT_CONFIG_DIR=str(self.config),
            COLUMNS="200",
            NO_COLOR="1",
            TERM="xterm",  # not "dumb": rich gives a dumb terminal 80 columns whatever it says
        )
        environ.update(extra)
        return environ


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    box = Sandbox(tmp_path)
    box.tmpdir.mkdir()
    (tmp_path / "home").mkdir()
    return box


def plain(screen: str) -> str:
    """What a terminal showed, without its escape sequences and carriage returns."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen).replace("\r\n", "\n")


def vault_dir(output: str) -> Path:
    found = re.search(r"A throwaway vault in (\S+):", output)
    assert found, output
    return Path(found.group(1))


def processes_mentioning(text: str) -> list[str]:
    """Every process whose command line or working directory names ``text``."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            cwd = proc.info["cwd"] or ""
        except psutil.Error:
            continue
        if text in cmdline or text in cwd:
            found.append(f"pid {proc.info['pid']}: {cmdline}")
    return found


def assert_story(output: str) -> None:
    """The six steps, told so that a person can follow them."""
    assert "1. The administrator opens a case" in output
    assert f"creates the case {story.CASE}" in output
    assert f"Amara uploads “{material.TESTIMONY.title}”" in output
    assert f"Amara uploads “{material.AGENDA.title}”" in output
    assert "Amara records the attendee" in output
    # The editor's listing shows both documents with the source's pseudonym.
    pseudonym = re.search(r"The vault names them (\S+)\.", output)
    assert pseudonym, output
    listing = [line for line in output.splitlines() if pseudonym.group(1) in line]
    assert any(material.TESTIMONY.title in line for line in listing), output
    assert any(material.AGENDA.title in line for line in listing), output
    # The editor reads the testimony: its words are on the screen.
    assert "Teodor reads the testimony" in output
    assert "Nobody voted." in output
    # The access history names both people.
    history = output.split("4. The access history shows both of them", 1)[1]
    assert re.search(r"^\d+\s+\d\d:\d\d:\d\d\s+amara\s+uploaded it", history, re.M), history
    assert re.search(r"^\d+\s+\d\d:\d\d:\d\d\s+teodor\s+read its content", history, re.M), history
    # Two editors redact the programme; the export is checked by the demo with pypdf as well.
    redaction = output.split("5. Two editors redact the programme", 1)[1]
    assert "The vault refuses: a redaction must be approved by another editor" in redaction
    assert "Lucia, the second editor, reviews both and approves them." in redaction
    assert "her name and number are gone" in redaction
    assert "the document properties are gone" in redaction
    assert "keeps its text" in redaction
    assert "STILL THERE" not in redaction
    assert "LOST ITS TEXT" not in redaction
    assert re.search(r"a picture of its redacted page \d+ are kept in", " ".join(output.split()))
    # Two share holders give the journalist her access back, at once.
    recovery = " ".join(output.split("6. Two share holders give the journalist", 1)[1].split())
    assert "run `vault recover user amara` on the server" in recovery
    assert re.search(r"given at once the 2 document key\(s\) and 1 source key\(s\)", recovery)
    assert re.search(r"reads the testimony again at once \(\d+ bytes\)", recovery)


def assert_nothing_left(sandbox: Sandbox, root: Path) -> None:
    assert not root.exists(), f"{root} was left behind"
    assert_only_the_export_left(sandbox)
    assert processes_mentioning(str(root)) == []
    assert not sandbox.config.exists(), "the demo wrote a login of its own"


def assert_only_the_export_left(sandbox: Sandbox) -> None:
    # Only the export it names at the end stays: the redacted programme and its picture.
    left = list(sandbox.tmpdir.iterdir())
    kept = [p for p in left if p.name.startswith("vault-demo-export-")]
    assert left == kept, left
    for folder in kept:
        names = sorted(p.name for p in folder.iterdir())
        assert re.fullmatch(r"programme-redacted-page-\d+\.png", names[0]), names
        assert names[1:] == ["programme-redacted.pdf"], names
        picture = next(folder.glob("*.png")).read_bytes()
        assert picture.startswith(b"\x89PNG")
        pdf_bytes = (folder / "programme-redacted.pdf").read_bytes()
        assert pdf_bytes.startswith(b"%PDF")
        assert material.ATTENDEE.encode() not in pdf_bytes


def test_no_serve_plays_the_story_and_leaves_nothing(sandbox: Sandbox) -> None:
    started = time.monotonic()
    done = run_vault(
        "demo", "--no-serve", cwd=sandbox.root, env=sandbox.env(), timeout=STORY_TIMEOUT
    )
    elapsed = time.monotonic() - started

    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stderr == ""  # the server's logs went to a file, not the terminal
    assert_story(done.stdout)
    root = vault_dir(done.stdout)
    assert root.parent == sandbox.tmpdir
    assert f"deleted the demo vault in {root}" in done.stdout
    assert "Press Ctrl-C" not in done.stdout
    # No table of the cast's passphrases without a server to use them on.
    assert not re.search(r"username\s+role\s+passphrase", done.stdout)
    assert_nothing_left(sandbox, root)
    assert elapsed < 120, f"the demo took {elapsed:.0f} s"


def test_port_in_use_fails_at_once_and_cleans_up(sandbox: Sandbox) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_vault(
            "demo", "--no-serve", "--port", str(port),
            cwd=sandbox.root, env=sandbox.env(), timeout=STORY_TIMEOUT,
        )  # fmt: skip

    assert done.returncode == FAILED, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines() == [
        f"vault: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert list(sandbox.tmpdir.iterdir()) == []


def passphrase_of(output: str, username: str) -> str:
    found = re.search(rf"^{username}\s+\w+\s+(.+?)\s*$", output, re.M)
    assert found, output
    return found.group(1)


def test_serving_until_ctrl_c(sandbox: Sandbox) -> None:
    port = free_port()
    screen = io.StringIO()
    child = pexpect.spawn(
        VAULT,
        ["demo", "--port", str(port)],
        env=sandbox.env(),
        cwd=str(sandbox.root),
        encoding="utf-8",
        timeout=STORY_TIMEOUT,
        preexec_fn=at_a_terminal,
        dimensions=(60, 200),
    )
    child.logfile_read = screen
    try:
        child.expect_exact("Press Ctrl-C")
        output = plain(screen.getvalue())
        assert_story(output)
        url = f"http://127.0.0.1:{port}"
        assert f"The demo vault is running at {url}" in output
        assert "Next commands to try" in output
        login = f"vault login --server {url} --username teodor --profile demo"
        assert login in output
        assert "vault docs ls --case grey-heron --profile demo" in output
        assert re.search(r"vault docs read [0-9a-f]{8} --profile demo", output)
        root = vault_dir(output)

        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
        # The server runs in the demo's own process; its only children are the OCR workers
        # the story's export started (vault.redaction.ocr_engine).
        children = psutil.Process(child.pid).children(recursive=True)
        assert all("ocr_worker.py" in " ".join(c.cmdline()) for c in children), children
        # The printed credentials work with the CLI, in the profile the demo suggests.
        passphrase = passphrase_of(output, "teodor")
        secret = sandbox.root / "teodor.passphrase"
        secret.write_text(passphrase + "\n")
        environ = sandbox.env()
        logged_in = run_vault(
            "login", "--server", url, "--username", "teodor", "--profile", "demo",
            "--passphrase-file", secret,
            cwd=sandbox.root, env=environ, secrets=[passphrase], timeout=60,
        )  # fmt: skip
        assert logged_in.returncode == 0, logged_in.stderr
        whoami = run_vault(
            "whoami", "--json", "--profile", "demo", cwd=sandbox.root, env=environ, timeout=60
        )
        assert json.loads(whoami.stdout)["username"] == "teodor", whoami.stderr
        # The server logs requests to a file in the vault's directory, and nothing of the
        # material, the source's notes or anyone's passphrase.
        log = (root / "server.log").read_text()
        assert '"route": "/v1/documents"' in log
        for secret_text in ("Nobody voted", "Corvane", material.IDENTITY_NOTES[:40], passphrase):
            assert secret_text not in log

        child.sendintr()
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)

    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus, screen.getvalue())
    assert f"Stopped the server and deleted the demo vault in {root}" in screen.getvalue()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/healthz", timeout=5)
    assert not root.exists()
    assert_only_the_export_left(sandbox)
    assert processes_mentioning(str(root)) == []


def test_sigterm_stops_and_cleans_up_as_well(sandbox: Sandbox) -> None:
    with subprocess.Popen(
        [VAULT, "demo"],
        env=sandbox.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=sandbox.root,
    ) as process:
        lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if "Press Ctrl-C" in line:
                    ready.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            assert ready.wait(STORY_TIMEOUT), "".join(lines)
            root = vault_dir("".join(lines))
            assert root.is_dir()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)  # stdout belongs to the reader thread
            assert process.stderr is not None
            stderr = process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        reader.join(10)

    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert_nothing_left(sandbox, root)
