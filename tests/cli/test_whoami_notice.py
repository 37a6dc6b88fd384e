"""``vault whoami`` says out loud when the server lets editors approve their own redactions, and
says nothing of it when the server does not, or does not report it (a server from before)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.support.cli import run_vault, vault_env

NOTICE = "Self-approval of redactions is on for this server"


class _Me(BaseHTTPRequestHandler):
    """Answers ``GET /v1/auth/me`` with ``answer``, as a vault server would."""

    answer: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        body = json.dumps(self.answer).encode()
        self.send_response(200 if self.path == "/v1/auth/me" else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Me)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _whoami(url: str, tmp_path: Path, answer: dict[str, Any], *args: str) -> tuple[str, str]:
    _Me.answer = {"id": "0" * 32, "username": "erin", "role": "editor", **answer}
    env = vault_env(columns=None, VAULT_CONFIG_DIR=str(tmp_path), VAULT_SERVER=url, VAULT_TOKEN="t")
    done = run_vault("whoami", *args, cwd=tmp_path, env=env, in_process=True)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def test_whoami_warns_when_the_server_reports_self_approval(stub: str, tmp_path: Path) -> None:
    out, err = _whoami(stub, tmp_path, {"redaction_self_approval": True})
    assert out.splitlines()[:2] == ["user:    erin", "role:    editor"]
    assert NOTICE in " ".join(err.split())
    assert "redaction_self_approval" in err
    # With --json the answer carries the field, and the warning stays on stderr.
    out, err = _whoami(stub, tmp_path, {"redaction_self_approval": True}, "--json")
    assert json.loads(out)["redaction_self_approval"] is True
    assert NOTICE in " ".join(err.split())


@pytest.mark.parametrize("answer", [{"redaction_self_approval": False}, {}], ids=["off", "absent"])
def test_whoami_is_quiet_otherwise(stub: str, tmp_path: Path, answer: dict[str, Any]) -> None:
    out, err = _whoami(stub, tmp_path, answer)
    assert out.splitlines()[:2] == ["user:    erin", "role:    editor"]
    assert err == ""
