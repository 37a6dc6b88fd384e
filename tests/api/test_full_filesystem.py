"""A vault whose data directory is on a small tmpfs that fills up (issue 13, item 10): uploads
answer 503 ``storage-unavailable`` and leave nothing half-written, ``/readyz`` says "low disk
space", and once space is freed everything works again.

Mounting needs root: the test skips elsewhere, and CI runs it as root.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.api.conftest import ApiWorld
from tests.api.test_documents_api import assert_problem
from vault.settings import Settings

MiB = 1 << 20


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount_point)],
        check=False,
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip("mounting is not allowed here")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


@pytest.fixture
def settings(tmpfs: Path, database_url: str | None) -> Settings:
    """The shared fixtures' settings with the data directory (SQLite included) on the tmpfs."""
    return Settings(
        data_dir=tmpfs / "data",
        database_url=database_url,
        segment_size=4096,
        totp_required_roles="",
        min_free_bytes=MiB,
    )


def _fill(directory: Path) -> Path:
    """Write a file until the file system has no byte left."""
    filler = directory / "filler"
    block = b"\0" * (64 * 1024)
    with filler.open("wb", buffering=0) as fh:
        while len(block):
            try:
                fh.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                block = block[: len(block) // 2]
    return filler


def _document_rows(api: ApiWorld) -> int:
    with api.world.vault.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one())


def _upload(api: ApiWorld, content: bytes) -> httpx.Response:
    return api.client.post(
        "/v1/documents",
        headers=api.auth("jules"),
        data={"case": str(api.world.case_id), "title": "testimony"},
        files={"file": ("testimony.bin", content, "application/octet-stream")},
    )


def test_full_filesystem_is_503_leaves_nothing_and_recovers(
    api: ApiWorld, tmpfs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vault = api.world.vault
    api.auth("jules")  # log in while there is room
    assert api.client.get("/readyz").status_code == 200
    rows = _document_rows(api)
    blobs = set(vault.blobs.blob_ids())

    filler = _fill(tmpfs)
    response = _upload(api, os.urandom(256 * 1024))
    body = assert_problem(response, 503, "storage-unavailable")
    assert "No space left" in body["detail"] or "disk is full" in body["detail"]
    assert str(tmpfs) not in response.text
    assert vault.blobs.list_partial() == []
    assert set(vault.blobs.blob_ids()) == blobs
    assert _document_rows(api) == rows
    # Whichever write failed first (the session's, the blob's), the server's log says so.
    assert (
        "blob store write failed: No space left on device" in caplog.text
        or "database storage failure: the database's disk is full" in caplog.text
    )

    ready = api.client.get("/readyz")
    assert "low disk space" in assert_problem(ready, 503, "storage-unavailable")["detail"]
    assert str(tmpfs) not in ready.text
    # Whatever else is asked of a full disk, the answer is never a 500.
    jules = api.auth("jules")
    for path, params in [("/v1/auth/me", {}), ("/v1/documents", {"case": str(api.world.case_id)})]:
        answer = api.client.get(path, params=params, headers=jules)
        assert answer.status_code in (200, 503), answer.text

    filler.unlink()
    assert api.client.get("/readyz").status_code == 200
    created = _upload(api, b"after the space came back")
    assert created.status_code == 201, created.text
    assert _document_rows(api) == rows + 1
