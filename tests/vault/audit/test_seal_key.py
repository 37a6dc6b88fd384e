"""The seal key file: made once, private, exactly 32 bytes, and every way of not having it is a
typed error that names the file, never a traceback and never a key made up on the spot."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vault.audit.seal_key import read_seal_key
from vault.errors import IntegrityError, StorageError


def test_a_new_key_is_32_random_bytes_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "log-seal.key"
    key = read_seal_key(path, create=True)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Read back, not made again: every later open seals and checks with the same key.
    assert read_seal_key(path, create=True) == key
    assert read_seal_key(path, create=False) == key
    assert read_seal_key(tmp_path / "other.key", create=True) != key


def test_a_missing_key_is_not_made_where_it_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "log-seal.key"
    with pytest.raises(StorageError, match="is missing"):
        read_seal_key(path, create=False)
    assert not path.exists()


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_a_key_file_of_any_other_length_is_refused(tmp_path: Path, size: int) -> None:
    """A truncated or replaced file must not seal with a key nobody else holds."""
    path = tmp_path / "log-seal.key"
    path.write_bytes(os.urandom(size))
    with pytest.raises(IntegrityError) as refused:
        read_seal_key(path, create=True)
    assert refused.value.reason == "seal-key"
    assert path.stat().st_size == size  # left as it was, for the administrator to look at


def test_a_key_that_cannot_be_read_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "log-seal.key"
    path.mkdir()  # something that is there but is no readable file
    with pytest.raises(StorageError, match="cannot read the log seal key"):
        read_seal_key(path, create=True)


def test_a_key_that_cannot_be_created_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "no-such-directory" / "log-seal.key"
    with pytest.raises(StorageError, match="cannot create the log seal key"):
        read_seal_key(path, create=True)
    assert not path.parent.exists()
