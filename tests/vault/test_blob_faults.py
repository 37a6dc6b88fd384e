"""The blob store under file-system faults: a full disk while writing or closing, and what is
made durable when a fan-out directory is created (issue 13, items 10 and 12)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from vault.errors import StorageError
from vault.storage import blobstore
from vault.storage.blobstore import LocalBlobStore
from vault.storage.pipeline import put_pipelined


def _full() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullDiskFile:
    """A real temporary file that runs out of space: writes fail once ``room`` bytes are in,
    and closing fails too, as a buffered file's close does when it retries what it holds."""

    def __init__(self, real: BinaryIO, *, room: int, close_fails: bool = True) -> None:
        self._real = real
        self._room = room
        self._close_fails = close_fails
        self.closed = False

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise _full()
        self._room -= len(data)
        return self._real.write(data)

    def flush(self) -> None:
        self._real.flush()

    def fileno(self) -> int:
        return self._real.fileno()

    def close(self) -> None:
        self.closed = True
        self._real.close()
        if self._close_fails:
            raise _full()

    def __enter__(self) -> FullDiskFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    store = LocalBlobStore(tmp_path / "blobs")
    store.create()
    return store


def _fill_after(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch, room: int, *, close_fails: bool = True
) -> list[FullDiskFile]:
    opened: list[FullDiskFile] = []
    real_open = LocalBlobStore._open_partial

    def open_partial(self: LocalBlobStore, path: Path) -> BinaryIO:
        fake = FullDiskFile(real_open(self, path), room=room, close_fails=close_fails)
        opened.append(fake)
        return fake  # type: ignore[return-value]

    monkeypatch.setattr(LocalBlobStore, "_open_partial", open_partial)
    return opened


def test_full_disk_on_write_and_close_is_a_storage_error_and_leaves_nothing(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _fill_after(store, monkeypatch, room=5)
    with pytest.raises(StorageError, match="cannot write to the blob store: No space left"):
        store.put([b"abc", b"defgh"])
    assert opened[0].closed
    assert store.list_partial() == []
    assert list(store.blob_ids()) == []


def test_failing_close_after_good_writes_is_a_storage_error(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill_after(store, monkeypatch, room=1 << 20)
    with pytest.raises(StorageError, match="No space left"):
        store.put([b"abc"])
    assert store.list_partial() == []
    assert list(store.blob_ids()) == []


def test_producer_error_wins_over_a_failing_close(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill_after(store, monkeypatch, room=1 << 20)

    def chunks() -> Iterator[bytes]:
        yield b"abc"
        raise ValueError("the upstream failed")

    with pytest.raises(ValueError, match="upstream"):
        store.put(chunks())
    assert store.list_partial() == []


def test_full_disk_through_the_pipelined_writer_is_a_storage_error(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill_after(store, monkeypatch, room=100)
    pieces = (bytes([i]) * 40 for i in range(10))
    with pytest.raises(StorageError, match="No space left"):
        put_pipelined(store, pieces)
    assert store.list_partial() == []


def test_check_names_no_path(tmp_path: Path) -> None:
    root = tmp_path / "secret-newsroom-name" / "blobs"
    store = LocalBlobStore(root)
    with pytest.raises(StorageError) as raised:
        store.check()
    assert "secret-newsroom-name" not in str(raised.value)
    assert "not writable" in str(raised.value)


def test_free_bytes_reports_the_file_system(store: LocalBlobStore) -> None:
    stats = os.statvfs(store.root)
    assert store.free_bytes() == stats.f_bavail * stats.f_frsize


# -- durability of directory entries ----------------------------------------------------------


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path fsynced from now on, in order (read back from the descriptor)."""
    paths: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(blobstore.os, "fsync", fsync)
    return paths


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name descriptors")
def test_new_fanout_directory_is_made_durable(store: LocalBlobStore, synced: list[str]) -> None:
    blob = store.put([b"abc"])
    fanout = store.root / blob.blob_id[:2]
    partial = str(store.root / ".tmp" / f"{blob.blob_id}.partial")
    # The content, then the new directory's entry in the root, then the renamed blob's entry.
    assert synced == [partial, str(store.root), str(fanout)]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name descriptors")
def test_existing_fanout_directory_is_synced_once_per_process(
    store: LocalBlobStore, synced: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process (or an upload an instant ago) made the directory and may not have synced
    # its parent yet: this store syncs it once, then trusts it.
    monkeypatch.setattr(blobstore, "new_blob_id", lambda: "ab" + "0" * 30)
    (store.root / "ab").mkdir(mode=0o700)
    store.put([b"one"])
    monkeypatch.setattr(blobstore, "new_blob_id", lambda: "ab" + "1" * 30)
    store.put([b"two"])
    assert synced.count(str(store.root)) == 1


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name descriptors")
def test_creating_the_store_syncs_its_parents(tmp_path: Path, synced: list[str]) -> None:
    store = LocalBlobStore(tmp_path / "data" / "blobs")
    store.create()
    assert synced == [str(tmp_path / "data"), str(store.root)]
