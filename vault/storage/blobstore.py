"""Where ciphertext lives: a small interface and its local-directory backend.

Blob ids are random (never derived from content, which would let anyone holding a file confirm
that the vault has it). ``LocalBlobStore.put`` writes to a temporary name inside the store,
fsyncs, renames into place and fsyncs the directory, so a blob is either whole or absent; the
document service commits the metadata row only after ``put`` returns, so a crash leaves at most
an orphan blob, which ``vault fsck`` finds. A directory the store creates is made durable too:
its parent is fsynced after the ``mkdir``, or a power cut could lose the directory entry, and
every blob under it with it (a killed process loses nothing either way).

Every failure of the file system (a full disk, a read-only mount, an I/O error) leaves the store
as ``StorageError`` with the system's reason, never as a raw ``OSError`` and never naming a path.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from vault.errors import NotFound, StorageError

__all__ = ["BlobStore", "LocalBlobStore", "PartialWrite", "StoredBlob", "is_blob_id", "new_blob_id"]

log = logging.getLogger(__name__)

_BLOB_ID = re.compile(r"^[0-9a-f]{32}$")
READ_CHUNK = 1 << 20
# Start writing a blob to disk every few MiB while it is still arriving, so that the fsync at
# the end waits for the last few MiB instead of the whole blob (what PostgreSQL does for its
# checkpoints, with the same call). Linux only; elsewhere the fsync does it all.
WRITEBACK_EVERY = 8 << 20
_SYNC_FILE_RANGE_WRITE = 2


def new_blob_id() -> str:
    return secrets.token_hex(16)


def is_blob_id(text: str) -> bool:
    """Whether ``text`` has the form of a blob id (32 lower-case hex digits)."""
    return _BLOB_ID.match(text) is not None


@dataclass(frozen=True)
class StoredBlob:
    blob_id: str
    size: int


@dataclass(frozen=True)
class PartialWrite:
    """A write that never finished (a crash mid-upload): ``name`` is what fsck reports and
    hands back to ``discard_partial``; ``age_seconds`` how long ago it was started."""

    name: str
    age_seconds: float


class BlobStore(Protocol):
    """Contract every blob backend keeps."""

    def put(self, chunks: Iterable[bytes]) -> StoredBlob:
        """Store the concatenated chunks durably under a new random id; all or nothing."""
        ...

    def open(self, blob_id: str, start: int = 0) -> Iterator[bytes]:
        """Stream a blob's bytes from offset ``start``; ``NotFound`` if it does not exist."""
        ...

    def delete(self, blob_id: str) -> None:
        """Remove a blob; deleting one that is absent is not an error."""
        ...

    def blob_ids(self) -> Iterator[str]:
        """Every stored blob id (for fsck)."""
        ...

    def exists(self, blob_id: str) -> bool: ...

    def check(self) -> None:
        """Raise ``StorageError`` unless the store is reachable and writable."""
        ...

    def create(self) -> None:
        """Make the store ready to take blobs (``vault init``); harmless if it is."""
        ...

    def free_bytes(self) -> int | None:
        """Room left for blobs; ``None`` where the question has no meaning (an object store)."""
        ...

    def age_seconds(self, blob_id: str) -> float:
        """How long ago a blob was written; 0 if it is absent (fsck's grace for orphans)."""
        ...

    def partial_writes(self) -> list[PartialWrite]:
        """Writes that never finished, oldest first or in any order (for fsck)."""
        ...

    def discard_partial(self, name: str) -> None:
        """Remove what a write named by ``partial_writes`` left; absent is not an error."""
        ...


class LocalBlobStore:
    """Blobs as files ``<root>/<2 hex>/<32 hex>``; in-flight writes under ``<root>/.tmp``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"
        # Fan-out directories whose entry this process has made durable (see _make_fanout).
        self._durable_dirs: set[str] = set()

    def _path(self, blob_id: str) -> Path:
        if not _BLOB_ID.match(blob_id):
            raise NotFound("no such blob")
        return self.root / blob_id[:2] / blob_id

    def create(self) -> None:
        try:
            existed = self.root.is_dir()
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not existed:
                _fsync_dir(self.root.parent)
            if not self._tmp.is_dir():
                self._tmp.mkdir(mode=0o700)
                _fsync_dir(self.root)
        except OSError as exc:
            raise StorageError(f"cannot create the blob directory: {exc.strerror}") from None

    def check(self) -> None:
        # Write and remove a probe: permission bits alone say nothing when running as root or
        # on a read-only mount. The message gives the system's reason and never the path: it
        # reaches unauthenticated callers of /readyz.
        probe = self._tmp / f"probe-{secrets.token_hex(8)}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            probe.unlink()
        except OSError as exc:
            raise StorageError(
                f"the blob directory is missing or not writable: {exc.strerror}"
            ) from None

    def free_bytes(self) -> int:
        """Bytes an unprivileged writer can still use on the blob directory's file system."""
        try:
            stats = os.statvfs(self.root)
        except OSError as exc:
            raise StorageError(f"cannot read the blob directory: {exc.strerror}") from None
        return stats.f_bavail * stats.f_frsize

    def put(self, chunks: Iterable[bytes]) -> StoredBlob:
        blob_id = new_blob_id()
        final = self._path(blob_id)
        tmp = self._tmp / f"{blob_id}.partial"
        try:
            fh = self._open_partial(tmp)
        except OSError as exc:
            raise StorageError(f"cannot write to the blob store: {exc.strerror}") from None
        try:
            try:
                size = _write_synced(fh, chunks)
            except BaseException:
                # A buffered file retries its unwritten bytes when it is closed; on a full disk
                # that fails again, and the raw OSError would replace the error that matters.
                with contextlib.suppress(OSError):
                    fh.close()
                raise
            _store_op(fh.close)
            self._make_fanout(final.parent)
            _store_op(os.replace, tmp, final)
            _store_op(_fsync_dir, final.parent)
        except BaseException:
            # Whatever stopped the write (a failed upstream, a full disk), leave no partial file.
            # Removing it can fail too (a read-only remount); fsck reports what is left.
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return StoredBlob(blob_id, size)

    def _open_partial(self, path: Path) -> BinaryIO:
        """The new, exclusive temporary file of a blob being written (a seam for fault tests)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return os.fdopen(fd, "wb")

    def _make_fanout(self, directory: Path) -> None:
        """Create a fan-out directory and make its entry durable.

        The parent is fsynced after every ``mkdir`` this store makes, and once per process for
        a directory that already existed: another upload may have created it an instant ago
        and not yet synced its parent, and this blob would be lost with it on power loss.
        """
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            if directory.name in self._durable_dirs:
                return
        except OSError as exc:
            raise StorageError(f"cannot write to the blob store: {exc.strerror}") from None
        _store_op(_fsync_dir, directory.parent)
        self._durable_dirs.add(directory.name)

    def open(self, blob_id: str, start: int = 0) -> Iterator[bytes]:
        path = self._path(blob_id)
        try:
            fh = path.open("rb")
            if start:
                fh.seek(start)
        except FileNotFoundError:
            raise NotFound("blob is missing from the store") from None
        except OSError as exc:
            raise StorageError(f"cannot read the blob store: {exc.strerror}") from None
        return _read_chunks(fh)

    def delete(self, blob_id: str) -> None:
        path = self._path(blob_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"cannot remove a blob: {exc.strerror}") from None
        _store_op(_fsync_dir, path.parent)

    def exists(self, blob_id: str) -> bool:
        return self._path(blob_id).is_file()

    def blob_ids(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            if sub.name == ".tmp" or not sub.is_dir():
                continue
            for entry in sorted(sub.iterdir()):
                if _BLOB_ID.match(entry.name):
                    yield entry.name

    def list_partial(self) -> list[Path]:
        """Temporary files left by writes that never finished (a crash mid-upload)."""
        return sorted(self._tmp.glob("*.partial")) if self._tmp.is_dir() else []

    def age_seconds(self, blob_id: str) -> float:
        return _age(self._path(blob_id))

    def partial_writes(self) -> list[PartialWrite]:
        return [PartialWrite(path.name, _age(path)) for path in self.list_partial()]

    def discard_partial(self, name: str) -> None:
        if Path(name).name != name or not name.endswith(".partial"):
            return  # only ever a name partial_writes gave, inside the store's .tmp
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp / name)


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _store_op(op: Callable[..., object], *args: object, **kwargs: object) -> None:
    try:
        op(*args, **kwargs)
    except OSError as exc:
        # The operator's signal (a full disk, an I/O error): the client only sees a 503.
        log.warning("blob store write failed: %s", exc.strerror)
        raise StorageError(f"cannot write to the blob store: {exc.strerror}") from None


def _write_synced(fh: BinaryIO, chunks: Iterable[bytes]) -> int:
    """Write every chunk to ``fh``, flush and fsync it; the number of bytes written."""
    size = queued = 0
    for chunk in chunks:  # errors raised by the producer propagate unchanged
        _store_op(fh.write, chunk)
        size += len(chunk)
        if size - queued >= WRITEBACK_EVERY:
            _store_op(fh.flush)
            _start_writeback(fh.fileno(), queued, size - queued)
            queued = size
    _store_op(fh.flush)
    _store_op(os.fsync, fh.fileno())
    return size


def _read_chunks(fh: BinaryIO) -> Iterator[bytes]:
    with fh:
        while True:
            try:
                chunk = fh.read(READ_CHUNK)
            except OSError as exc:
                raise StorageError(f"cannot read the blob store: {exc.strerror}") from None
            if not chunk:
                return
            yield chunk


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return cast(Callable[[int, int, int, int], int], function)


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range out, without waiting for it. Advisory: a failure
    here is ignored, since the fsync that follows reports any real I/O error."""
    sync_range = _sync_file_range()
    if sync_range is not None:
        sync_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOTDIR):
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
