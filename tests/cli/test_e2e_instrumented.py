"""An end-to-end review session against an instrumented server: the API runs in this process
(so that every object it holds can be inspected), behind a proxy that records every byte it
receives and sends, with every log record it writes captured; the ``vault`` commands run as
processes of their own (so that the only private keys in this process are the server's).

Through ``vault login --end-to-end``, ``docs put``, ``docs read``, ``sources add``,
``sources reveal``, ``redact add`` and ``approve`` (by a second editor, end to end too),
``export`` (made and checked on the client), ``cases approve`` (which completes a newcomer's
grant on the client) and ``logout``, no marker from the document's content, title, filename or
notes, from the source's identity notes or names, or from the redaction term crosses the wire,
reaches a log record or lands at rest in the clear (database, blobs), and no unlocked private
key of either end-to-end editor is alive in the server at any sample, taken every few
milliseconds throughout.

The export is written to this machine only: the redaction term is gone from it, the rest of
the content is there.
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import uvicorn
from sqlmodel import Session, select

from api import create_app
from tests.conftest import PASSPHRASE
from tests.support.cli import run_vault, vault_env
from tests.support.tampering_proxy import TamperingProxy, tampering_proxy
from tests.support.world import default_settings, log_in
from vault import crypto
from vault.initialise import init_vault
from vault.instance import Vault
from vault.roles import Role
from vault.services.users import Actor
from vault.settings import Settings
from vault.storage.models import User

MARKERS = {
    "content": "saltmarsh-ferryman-okonkwo",
    "title": "vellum-lighthouse-ardent",
    "filename": "cormorant-quay-lisette",
    "notes": "tidewater-almoner-basquill",
    "source identity": "marguerite-oyelaran-dockside",
    "source name": "Ottoline Vasquez-Brandt",
    "redaction term": "Ferdinand Okafor-Lindqvist",
}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__}")


class _KeyWatch:
    """Samples the process's objects every few milliseconds for an unlocked private key of any
    of ``key_ids``; whatever it finds is kept in ``seen``."""

    def __init__(self) -> None:
        self.key_ids: set[str] = set()
        self.samples = 0
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            if not self.key_ids:
                continue
            for obj in gc.get_objects():
                if isinstance(obj, crypto.PrivateKey) and obj.public_key().key_id in self.key_ids:
                    self.seen.append(repr(obj))
            self.samples += 1

    def __enter__(self) -> _KeyWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Served:
    vault: Vault
    url: str
    settings: Settings
    admin: Actor
    case_id: UUID


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A new vault (no template: no other key of its accounts is ever unlocked here) served on
    127.0.0.1 from a thread of this process; erin founds the case ``harbour``."""
    settings = default_settings(tmp_path / "data", None)
    result = init_vault(settings, admin="admin", passphrase=PASSPHRASE)
    vault = Vault.open(settings)
    admin = log_in(vault, "admin", result.totp_uri)
    for name, role in (("erin", Role.EDITOR), ("rosa", Role.EDITOR), ("jules", Role.JOURNALIST)):
        vault.users.create_account(None, username=name, role=role, passphrase=PASSPHRASE)
    case = vault.cases.create(admin, "harbour")
    vault.cases.add_member(admin, case.id, "erin")
    vault.cases.add_member(admin, case.id, "rosa")
    port = _free_port()
    app = create_app(settings, vault=vault)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield Served(vault, f"http://127.0.0.1:{port}", settings, admin, case.id)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        vault.close()


def _at_rest(settings: Settings) -> bytes:
    data = Path(settings.data_dir)
    return b"".join(p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file())


def test_an_end_to_end_session_shows_the_server_no_marker_and_no_key(
    served: Served, tmp_path: Path
) -> None:
    vault = served.vault
    records = _Records()
    logging.getLogger().addHandler(records)
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    passphrase_file.chmod(0o600)
    document = tmp_path / f"{MARKERS['filename']}.txt"
    content = (
        f"The ferryman {MARKERS['content']} saw {MARKERS['redaction term']} at the barges.\n" * 3000
    ).encode()
    document.write_bytes(content)
    proxy: TamperingProxy
    try:
        with tampering_proxy(served.url) as proxy, _KeyWatch() as watch:
            watch.key_ids = {_key_id(vault, "erin"), _key_id(vault, "rosa")}
            env = vault_env(VAULT_CONFIG_DIR=str(tmp_path / "erin"))
            rosa_env = vault_env(VAULT_CONFIG_DIR=str(tmp_path / "rosa"))

            def vault_cmd(*args: str, as_rosa: bool = False) -> Any:
                done = run_vault(
                    *args, cwd=tmp_path, env=rosa_env if as_rosa else env, secrets=[PASSPHRASE]
                )
                assert done.returncode == 0, (args, done.stdout, done.stderr)
                return done

            login = vault_cmd(
                "login", "--server", proxy.url, "--username", "erin",
                "--passphrase-file", str(passphrase_file), "--end-to-end",
            )  # fmt: skip
            assert "end to end" in login.stderr
            vault_cmd("cases", "approve", "harbour", "rosa", "--yes")  # no documents yet
            put = vault_cmd(
                "docs", "put", str(document), "--case", "harbour",
                "--title", f"minutes {MARKERS['title']}", "--notes", f"from {MARKERS['notes']}",
            )  # fmt: skip
            doc_id = put.stdout.strip()
            read = vault_cmd("docs", "read", doc_id)
            assert read.stdout.encode() == content
            notes = tmp_path / "identity.txt"
            notes.write_text(f"Deckhand, real name {MARKERS['source identity']}.\n")
            names = tmp_path / "names.txt"
            names.write_text(f"{MARKERS['source name']}\n")
            added = vault_cmd(
                "sources", "add", "--case", "harbour",
                "--notes-file", str(notes), "--names-file", str(names),
            )  # fmt: skip
            source_id = added.stdout.split()[0]
            notes.unlink()
            names.unlink()
            revealed = vault_cmd("sources", "reveal", source_id, "--reason", "checking a quote")
            assert MARKERS["source identity"] in revealed.stdout
            assert MARKERS["source name"] in revealed.stdout
            term = MARKERS["redaction term"]
            proposed = vault_cmd(
                "redact", "add", doc_id, "--text", term, "--category", "source-identity"
            )
            rid = proposed.stdout.strip()
            vault_cmd(
                "login", "--server", proxy.url, "--username", "rosa",
                "--passphrase-file", str(passphrase_file), "--end-to-end", as_rosa=True,
            )  # fmt: skip
            vault_cmd("redact", "approve", rid, "--doc", doc_id, as_rosa=True)
            exported = tmp_path / "redacted.txt"
            vault_cmd("export", doc_id, "--redacted", "-o", str(exported))
            released = exported.read_bytes()
            assert term.encode() not in released
            assert MARKERS["content"].encode() in released
            vault.cases.add_member(served.admin, served.case_id, "jules")
            approved = vault_cmd("cases", "approve", "harbour", "jules", "--yes")
            assert "1 document key(s) wrapped for them now" in approved.stderr
            vault_cmd("logout")
            time.sleep(0.05)  # a last sample or two after the session ended
    finally:
        logging.getLogger().removeHandler(records)
    assert watch.samples > 10, "the key watch never ran"
    assert watch.seen == [], "the server held the end-to-end account's private key"
    crossed = b"\n".join(proxy.received + proxy.sent)
    logged = "\n".join(records.lines)
    rest = _at_rest(served.settings)
    for what, marker in MARKERS.items():
        assert marker.encode() not in crossed, f"the {what} crossed the wire"
        assert marker not in logged, f"the {what} reached a log record"
        assert marker.encode() not in rest, f"the {what} is at rest in the clear"
    assert PASSPHRASE.encode() not in crossed
    # The newcomer, with a server-side session of his own, reads what erin's client wrapped.
    jules = vault.auth.login("jules", PASSPHRASE, None, address="127.0.0.1").actor
    info, chunks = vault.documents.open(jules, UUID(doc_id))
    assert b"".join(chunks) == content
    assert info.metadata is not None
    assert info.metadata.title == f"minutes {MARKERS['title']}"
    # The control: the watch does see a key the server holds (erin's, at a server-side login).
    with _KeyWatch() as control:
        control.key_ids = {_key_id(vault, "erin")}
        held = vault.auth.login("erin", PASSPHRASE, None, address="127.0.0.1").actor
        deadline = time.monotonic() + 10
        while not control.seen and time.monotonic() < deadline:
            time.sleep(0.01)
    assert held.key is not None
    assert control.seen, "the watch cannot see a key the server holds"


def _key_id(vault: Vault, username: str) -> str:
    with Session(vault.engine) as db:
        key_id = db.exec(select(User.key_id).where(User.username == username)).one()
    assert key_id is not None
    return key_id
