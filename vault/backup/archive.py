"""The backup container: a POSIX (pax) tar stream, written and read strictly in order.

Why tar and not a format of our own: every operator's machine can list and unpack it
(``tar tvf``) without Source Vault, which matters on the day a vault has to be rebuilt by
hand, and Python's ``tarfile`` writes and reads it as a *stream* (modes ``w|`` and ``r|``):
one member after the other, never seeking, so a 10 GiB vault goes through in the memory of one
copy buffer. It is not compressed: the blobs are ciphertext and do not compress.

What tar does not give, this module adds: every member is hashed (SHA-256) while it is written
or read, and the reader refuses anything but regular files, so a member can never be a link,
a device or a path outside the target. Member names are checked by the caller against the
names a backup may contain (``vault.backup.manifest``); nothing here turns a name into a path.

Damage surfaces as ``IntegrityError``: reason ``truncated`` when the stream ends early (inside
a member or before its last member), ``bad-archive`` for anything else tar cannot read.
"""

from __future__ import annotations

import hashlib
import logging
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vault.errors import IntegrityError, StorageError

__all__ = [
    "COPY_BUFFER",
    "ArchiveReader",
    "ArchiveWriter",
    "Member",
    "MemberDigest",
    "file_chunks",
]

_log = logging.getLogger(__name__)

COPY_BUFFER = 1 << 20
"""Bytes moved at a time; with one chunk of the blob store in flight, the memory a backup uses
whatever the vault's size."""

Progress = Callable[[int], None]


@dataclass(frozen=True)
class MemberDigest:
    """What the manifest's index says of one member."""

    name: str
    size: int
    sha256: str


class _HashingReader:
    """A file-like ``read`` over an iterator of chunks that must add up to exactly ``size``
    bytes, hashing what it hands out (what ``tarfile.addfile`` copies from)."""

    def __init__(self, chunks: Iterable[bytes], size: int, progress: Progress | None) -> None:
        self._chunks = iter(chunks)
        self._size = size
        self._sent = 0
        self._buffer = memoryview(b"")
        self._progress = progress
        self.hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = self._size - self._sent
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                if self._sent < self._size:
                    raise StorageError("a file changed size while it was being backed up")
                return b""
            self._buffer = memoryview(chunk)
        piece = bytes(self._buffer[:n])
        self._buffer = self._buffer[len(piece) :]
        self._sent += len(piece)
        if self._sent > self._size:
            raise StorageError("a file changed size while it was being backed up")
        self.hash.update(piece)
        if self._progress is not None:
            self._progress(len(piece))
        return piece

    def finish(self) -> None:
        """Fail if the source had more bytes than announced."""
        if self._buffer or next(self._chunks, b"") != b"":
            raise StorageError("a file changed size while it was being backed up")


def file_chunks(path: Path) -> Iterator[bytes]:
    """A file's bytes, ``COPY_BUFFER`` at a time."""
    with path.open("rb") as fh:
        while chunk := fh.read(COPY_BUFFER):
            yield chunk


class ArchiveWriter:
    """Appends members to a tar stream on ``fileobj``; ``close`` writes the end-of-archive
    blocks (it does not close ``fileobj``). Every member is a regular file, mode 0600, owned by
    nobody in particular, stamped with ``mtime``: the headers say nothing about the machine."""

    def __init__(self, fileobj: BinaryIO, *, mtime: int) -> None:
        self._tar = tarfile.open(
            fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT, bufsize=COPY_BUFFER
        )
        # What addfile copies at a time (default 16 KiB).
        self._tar.copybufsize = COPY_BUFFER  # type: ignore[attr-defined]  # not in typeshed
        self._mtime = mtime

    def add(
        self, name: str, size: int, chunks: Iterable[bytes], progress: Progress | None = None
    ) -> MemberDigest:
        """Stream exactly ``size`` bytes from ``chunks`` into a new member; its digest."""
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o600
        info.mtime = self._mtime
        info.type = tarfile.REGTYPE
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        source = _HashingReader(chunks, size, progress)
        try:
            self._tar.addfile(info, source)
        except OSError as exc:  # tarfile's "unexpected end of data", or the output failing
            if isinstance(exc, StorageError):
                raise
            raise StorageError(f"cannot write the backup: {exc.strerror or exc}") from None
        source.finish()
        return MemberDigest(name, size, source.hash.hexdigest())

    def add_file(self, name: str, path: Path, progress: Progress | None = None) -> MemberDigest:
        return self.add(name, path.stat().st_size, file_chunks(path), progress)

    def add_bytes(self, name: str, data: bytes) -> MemberDigest:
        return self.add(name, len(data), [data])

    def close(self) -> None:
        try:
            self._tar.close()
        except OSError as exc:
            raise StorageError(f"cannot write the backup: {exc.strerror or exc}") from None


def _damaged(exc: BaseException) -> IntegrityError:
    # tarfile says "unexpected end of data" (or "empty file") when the stream stops short.
    text = str(exc)
    _log.debug("archive read failed: %s", text)
    if isinstance(exc, EOFError) or "end of data" in text or "empty file" in text:
        return IntegrityError("the backup archive is truncated", reason="truncated")
    return IntegrityError(
        "the backup archive is damaged: it is not a readable tar", reason="bad-archive"
    )


class Member:
    """One member as the reader meets it: read its data once with ``read``."""

    def __init__(self, tar: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        self._tar = tar
        self._info = info
        self.name = info.name
        self.size = info.size
        self.digest: MemberDigest | None = None

    def read(
        self, sink: Callable[[bytes], object] | None = None, progress: Progress | None = None
    ) -> MemberDigest:
        """Read the whole member, hashing it, handing each chunk to ``sink``."""
        if self.digest is not None:
            return self.digest
        hasher = hashlib.sha256()
        count = 0
        try:
            source = self._tar.extractfile(self._info)
            if source is None:
                raise IntegrityError("the backup archive holds a non-file", reason="bad-archive")
            while chunk := source.read(COPY_BUFFER):
                hasher.update(chunk)
                count += len(chunk)
                if sink is not None:
                    sink(chunk)
                if progress is not None:
                    progress(len(chunk))
        except (tarfile.TarError, EOFError) as exc:
            raise _damaged(exc) from None
        except OSError as exc:
            raise StorageError(f"cannot read the backup: {exc.strerror or exc}") from None
        if count != self.size:
            raise IntegrityError("the backup archive is truncated", reason="truncated")
        self.digest = MemberDigest(self.name, count, hasher.hexdigest())
        return self.digest


class ArchiveReader:
    """Iterates the members of a tar stream in order. A member the caller did not ``read`` is
    read (and hashed) before the next one, so every member has a digest."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._fileobj = fileobj

    def __iter__(self) -> Iterator[Member]:
        try:
            tar = tarfile.open(fileobj=self._fileobj, mode="r|", bufsize=COPY_BUFFER)
        except (tarfile.TarError, EOFError) as exc:
            raise _damaged(exc) from None
        with tar:
            while True:
                try:
                    info = tar.next()
                except (tarfile.TarError, EOFError) as exc:
                    raise _damaged(exc) from None
                if info is None:
                    return
                if not info.isreg():
                    raise IntegrityError(
                        "the backup archive holds something other than a regular file",
                        reason="bad-archive",
                    )
                member = Member(tar, info)
                yield member
                member.read()
