"""Transfers that leave nothing unverified behind: downloads that only ever leave a complete
file whose SHA-256 matched the server's digest (or, to standard output, end in an error the
caller must check), and uploads hashed as they are sent, to compare with the digest the server
reports for what it received. Used by ``vault docs`` and ``vault export``."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from vault.cli.client import Client, repr_digest
from vault.cli.output import progress
from vault.errors import Conflict, IntegrityError, StorageError, VaultError

__all__ = [
    "HashingReader",
    "content_length",
    "human_size",
    "read_whole",
    "safe_filename",
    "save",
    "to_stdout",
    "verified_download",
]


def human_size(size: int | None) -> str:
    """``1536`` -> ``1.5 KiB``; bytes below 1 KiB as such."""
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def safe_filename(name: str | None, fallback: str) -> str:
    """A name to save a download under in a directory of the user's choosing: the last path
    component only, without control characters, never ``.``/``..`` or a hidden dotfile-only
    name. The server's metadata is not trusted to stay inside the directory."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = base.strip(" .")[:200]
    return base or fallback


def content_length(response: httpx.Response) -> int | None:
    """The answer's declared length, if it declares a well-formed one."""
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


@contextlib.contextmanager
def verified_download(
    client: Client, path: str
) -> Iterator[tuple[httpx.Response, Iterator[bytes]]]:
    """The download of ``path``, refused before any byte is kept if the server sends no digest:
    an unverifiable download is not one to hand over. The client checks the digest when the
    body ends (``DigestMismatch``)."""
    with client.download(path) as (response, body):
        if repr_digest(response) is None:
            raise IntegrityError(
                "the server sent no SHA-256 digest (Repr-Digest): the download cannot be verified",
                reason="no-digest",
            )
        yield response, body


def read_whole(
    total: int | None, body: Iterator[bytes], limit: int, too_big: VaultError
) -> bytearray:
    """The whole body (of declared size ``total``) in memory, read to the end so that the
    digest is checked after the last chunk; ``too_big`` as soon as it is declared or found to
    be over ``limit`` bytes."""
    if total is not None and total > limit:
        raise too_big
    data = bytearray()
    for chunk in body:
        data += chunk
        if len(data) > limit:
            raise too_big
    return data


def _place(temp: str, target: Path, *, force: bool) -> None:
    """Move the verified ``temp`` to ``target``; without ``force`` never replace a file, not
    even one created while the download ran (a hard link fails if the name exists)."""
    if force:
        os.replace(temp, target)
        return
    try:
        os.link(temp, target)
    except FileExistsError:
        raise Conflict(f"{target} already exists (use --force to overwrite it)") from None
    except OSError:  # a file system without hard links
        if os.path.lexists(target):
            raise Conflict(f"{target} already exists (use --force to overwrite it)") from None
        os.replace(temp, target)
        return
    os.unlink(temp)


def save(body: Iterator[bytes], target: Path, total: int | None, *, force: bool) -> int:
    """Write the body to a 0600 temporary file beside ``target`` and move it into place only
    once the whole body arrived and its digest matched; otherwise delete it."""
    directory = target.parent
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".vault-download-", suffix=".partial")
    except OSError as exc:
        raise StorageError(f"cannot write in {directory}: {exc.strerror}") from None
    written = 0
    try:
        with os.fdopen(fd, "wb") as out, progress(f"Downloading {target.name}", total) as step:
            for chunk in body:  # raises at the end if the digest does not match
                out.write(chunk)
                written += len(chunk)
                step(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        _place(temp, target, force=force)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise StorageError(f"cannot write {target}: {exc.strerror}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return written


def to_stdout(body: Iterator[bytes], total: int | None) -> None:
    """Stream the body to standard output as it arrives: the bytes are out before the digest
    is checked at the end, so whoever reads them must check the exit status."""
    out = sys.stdout.buffer
    try:
        with progress("Downloading", total) as step:
            for chunk in body:
                out.write(chunk)
                step(len(chunk))
        out.flush()
    except BrokenPipeError:
        # The reader went away (`| head`); keep the interpreter's final flush from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise StorageError("the output was closed before the download was complete") from None


class HashingReader:
    """A file wrapper that hashes what is read, to check the server's digest of an upload."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        self._digest.update(chunk)
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if (offset, whence) == (0, os.SEEK_SET):
            self._digest = hashlib.sha256()  # a rewind before sending starts the hash over
        return self._file.seek(offset, whence)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)
