"""The review commands' HTTP client: one ``httpx.Client`` per command, the server's problem
details turned back into the vault's error types, and streaming in both directions.

The CLI holds no business logic: what a reviewer may see or do is decided by the server, and
this module only carries requests and answers.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

import httpx

from vault._version import __version__
from vault.crypto import PrivateKey
from vault.errors import (
    AuthenticationFailed,
    Conflict,
    DigestMismatch,
    EndToEndOnly,
    IntegrityError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    OtpRequired,
    RateLimited,
    StorageError,
    Unavailable,
    VaultError,
)

__all__ = ["Client", "error_from", "repr_digest"]

_PREFIX = "urn:source-vault:problem:"
_CHUNK = 1 << 20


def error_from(response: httpx.Response) -> VaultError:
    """The vault error for an answer that is not a success, from its problem detail."""
    detail, slug = "", ""
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        try:
            body = response.json()
            detail = str(body.get("detail") or body.get("title") or "")
            slug = str(body.get("type", "")).removeprefix(_PREFIX)
        except ValueError:
            pass
    detail = detail or f"the server answered {response.status_code} {response.reason_phrase}"
    status = response.status_code
    if slug == "otp-required":
        return OtpRequired()
    if slug == "end-to-end-only":
        return EndToEndOnly()
    if slug == "redaction-leak":
        return IntegrityError(detail, reason="redaction-leak")
    if status == 401:
        return AuthenticationFailed(f"{detail} (run `vault login`)")
    if status in (403, 404):
        return NotFound(detail)
    if status == 409:
        return Conflict(detail)
    if status in (400, 415, 422):
        return InvalidInput(detail)
    if status == 429:
        return RateLimited(_retry_after(response))
    if status == 413:
        return LimitExceeded(detail)
    if slug == "integrity-failure":
        return IntegrityError(detail, reason="server")
    if status == 503:
        return Unavailable(detail, retry_after=_retry_after(response))
    return StorageError(detail)


def _retry_after(response: httpx.Response) -> int:
    value = response.headers.get("retry-after", "")
    return int(value) if value.isdigit() else 5


def repr_digest(response: httpx.Response) -> bytes | None:
    """The SHA-256 in an RFC 9530 ``Repr-Digest`` header, if there is one."""
    for member in response.headers.get("repr-digest", "").split(","):
        name, _, value = member.strip().partition("=")
        if name.strip().lower() == "sha-256" and value.startswith(":") and value.endswith(":"):
            try:
                return base64.b64decode(value[1:-1], validate=True)
            except ValueError:
                return None
    return None


class Client:
    """Requests to one server with one bearer token (or none, for logging in)."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        timeout: float = 60,
        key: PrivateKey | None = None,
    ) -> None:
        headers = {"User-Agent": f"vault-cli/{__version__}"}
        # An end-to-end session's private key: what the server holds none of, the commands
        # open here (vault.cli.remote.reading). Never sent.
        self.key = key
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.server = server.rstrip("/")
        try:
            url = httpx.URL(self.server)
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise InvalidInput(f"'{server}' is not a server URL (e.g. https://vault.example.org)")
        # A proxy from the environment is for the outside world: requests to this machine
        # (a local server, `vault demo`) must not be sent through it.
        local = url.host in ("127.0.0.1", "localhost", "::1")
        self._http = httpx.Client(
            base_url=self.server, headers=headers, timeout=timeout, trust_env=not local
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _unreachable(self, exc: httpx.HTTPError) -> StorageError:
        return StorageError(f"cannot reach the server at {self.server} ({type(exc).__name__})")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.is_error:
            raise error_from(response)
        return response

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self.request("POST", path, json=body)
        return response.json() if response.content else None

    def delete(self, path: str, body: Mapping[str, Any] | None = None) -> None:
        self.request("DELETE", path, json=body)

    def pages(self, path: str, key: str, **params: Any) -> Iterator[Any]:
        """Every item of a cursor-paginated listing, page after page."""
        cursor = None
        while True:
            page = self.get(path, **params, cursor=cursor)
            yield from page[key]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    @contextmanager
    def download(self, path: str) -> Iterator[tuple[httpx.Response, Iterator[bytes]]]:
        """Stream a download: the response (headers) and its body in chunks. The body iterator
        raises ``DigestMismatch`` at the end if the bytes do not match ``Repr-Digest``."""
        try:
            with self._http.stream("GET", path) as response:
                if response.is_error:
                    response.read()
                    raise error_from(response)
                expected = repr_digest(response)

                def body() -> Iterator[bytes]:
                    digest = hashlib.sha256()
                    try:
                        for chunk in response.iter_bytes(_CHUNK):
                            digest.update(chunk)
                            yield chunk
                    except httpx.HTTPError as exc:
                        # The server aborts a download whose stored content fails to decrypt.
                        raise IntegrityError(
                            f"the download broke off ({type(exc).__name__}): the server stopped "
                            "sending, as it does when stored content fails verification",
                            reason="aborted",
                        ) from None
                    if expected is not None and digest.digest() != expected:
                        raise DigestMismatch()

                yield response, body()
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def upload(
        self,
        path: str,
        fields: Mapping[str, str],
        file: IO[bytes],
        *,
        filename: str,
        media_type: str,
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        """POST ``multipart/form-data``: ``fields`` first, then ``file`` read in chunks (never
        whole into memory), calling ``progress`` with each chunk's size."""
        reader = _Counting(file, progress) if progress else file
        files = {"file": (filename, reader, media_type)}
        return self.request("POST", path, data=dict(fields), files=files).json()

    def upload_stream(
        self,
        path: str,
        fields: Mapping[str, str],
        file: tuple[str, Iterator[bytes]],
        *,
        trailing: Callable[[], Mapping[str, str]],
    ) -> Any:
        """POST ``multipart/form-data`` as it is produced: ``fields``, then the part ``file``
        (a name and its chunks, never whole in memory), then the fields ``trailing`` returns
        once the file's last chunk was sent (what can only be known then)."""
        boundary = secrets.token_hex(16)

        def text(name: str, value: str) -> bytes:
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            return head.encode() + value.encode() + b"\r\n"

        def body() -> Iterator[bytes]:
            for name, value in fields.items():
                yield text(name, value)
            name, chunks = file
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            yield from chunks
            yield b"\r\n"
            for name, value in trailing().items():
                yield text(name, value)
            yield f"--{boundary}--\r\n".encode()

        content_type = f"multipart/form-data; boundary={boundary}"
        return self.request(
            "POST", path, content=body(), headers={"Content-Type": content_type}
        ).json()


class _Counting:
    """A file wrapper that reports how much has been read, for progress bars."""

    def __init__(self, file: IO[bytes], progress: Callable[[int], None]) -> None:
        self._file = file
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        if chunk:
            self._progress(len(chunk))
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)
