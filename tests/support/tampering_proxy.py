"""A malicious server for the CLI's tests: a reverse proxy in front of a real ``vault serve``
that passes every request through and lets a test rewrite chosen answers.

A rule maps a path to a function from the real answer's JSON (or text) to what the proxy
serves instead. What the CLI then sees is exactly what a compromised server could send: the
proxy holds whatever the test gives it (another user's record, a checkpoint signed with the
log's own key), and nothing else.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

__all__ = ["Refusal", "Rewrite", "TamperingProxy", "tampering_proxy"]

Rewrite = Callable[[Any], Any]
"""The real answer's body (JSON decoded, text, or bytes) -> the body to serve."""


@dataclass(frozen=True)
class Refusal:
    """What a fabricated answer returns to answer with an error instead."""

    status: int
    detail: str = "refused"

    def problem(self) -> dict[str, Any]:
        return {
            "type": "about:blank",
            "title": "refused",
            "status": self.status,
            "detail": self.detail,
        }


# Not passed on: they describe the connection or the body's encoding, which the proxy redoes.
_HOP = {"connection", "content-length", "transfer-encoding", "content-encoding", "keep-alive"}


class TamperingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rules: dict[str, Rewrite] = {}
        # Answered by the proxy alone, from the request's JSON body: the real server never sees
        # the request (a server that makes up its part of a protocol).
        self.fabricated: dict[str, Rewrite] = {}
        self.seen: list[str] = []
        self.received: list[bytes] = []  # every request's target, headers and body, as sent
        self.sent: list[bytes] = []  # every answer's body, as the client got it
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Silent: the tests read what the proxy recorded, not a log on stderr."""

            def _body(self) -> bytes:
                if self.headers.get("transfer-encoding", "").lower() != "chunked":
                    length = int(self.headers.get("content-length") or 0)
                    return self.rfile.read(length) if length else b""
                # A streamed upload (an end-to-end one is produced as it is sent).
                parts = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers, if any
                return b"".join(parts)

            def _forward(self) -> None:
                body = self._body()
                proxy.received.append(
                    self.requestline.encode() + b"\n" + bytes(self.headers) + b"\n" + body
                )
                path = self.path.split("?", 1)[0]
                if path in proxy.fabricated:
                    status, answer_body = 200, proxy.fabricated[path](json.loads(body or b"{}"))
                    if isinstance(answer_body, Refusal):
                        status, answer_body = answer_body.status, answer_body.problem()
                    made = json.dumps(answer_body).encode()
                    self.send_response(status)
                    kind = "application/problem+json" if status >= 400 else "application/json"
                    self.send_header("content-type", kind)
                    self.send_header("content-length", str(len(made)))
                    self.end_headers()
                    self.wfile.write(made)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                headers.pop("Host", None)
                with httpx.Client(timeout=60) as client:
                    answer = client.request(
                        self.command, proxy.upstream + self.path, headers=headers, content=body
                    )
                proxy.seen.append(path)
                content = answer.content
                rule = proxy.rules.get(path)
                if rule is not None and answer.is_success:
                    kind = answer.headers.get("content-type", "")
                    if kind.startswith("application/json"):
                        content = json.dumps(rule(answer.json())).encode()
                    elif kind.startswith("text/"):
                        content = str(rule(answer.text)).encode()
                    else:
                        content = bytes(rule(answer.content))
                proxy.sent.append(content)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in _HOP:
                        self.send_header(name, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@contextmanager
def tampering_proxy(upstream: str) -> Iterator[TamperingProxy]:
    proxy = TamperingProxy(upstream)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
