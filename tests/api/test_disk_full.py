"""A full disk answers 503 ``storage-unavailable`` on every path, never 500, and ``/readyz``
says so before it happens (issue 13, item 10).

The database cases make SQLite's own "database or disk is full" without root: the file may not
grow past ``max_page_count``. ``tests/api/test_full_filesystem.py`` does it for real on a tmpfs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.api.conftest import ApiWorld
from tests.api.test_documents_api import assert_problem, uploaded
from vault.errors import StorageError
from vault.storage.database import connect


def _fill_database(api: ApiWorld) -> None:
    """Let the SQLite file grow no further and use up every free page in it."""
    engine = api.world.vault.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's page limit stands in for a full disk")

    def cap(dbapi_connection: Any, _record: Any) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE filler (b BLOB)"))
    engine.dispose()
    event.listen(engine, "connect", cap)
    size = 1 << 16
    while size >= 64:
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO filler VALUES (zeroblob(:n))"), {"n": size})
        except (StorageError, sa.exc.OperationalError):  # the latter only without the fix
            size //= 2


@pytest.fixture
def full(api: ApiWorld) -> dict[str, Any]:
    created = uploaded(api, b"testimony before the disk filled")
    api.auth("jules")  # log in while there is room
    _fill_database(api)
    return created


def test_reads_on_a_full_database_are_503_never_500(
    api: ApiWorld, full: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    jules = api.auth("jules")
    requests = [
        ("/v1/auth/me", {}),
        ("/v1/documents", {"case": str(api.world.case_id)}),
        (f"/v1/documents/{full['id']}", {}),
        (f"/v1/documents/{full['id']}/content", {}),
    ]
    statuses = []
    # Each read appends to the access log; once the log's last page is full, none can.
    for _ in range(10):
        for path, params in requests:
            response = api.client.get(path, params=params, headers=jules)
            statuses.append(response.status_code)
            if response.status_code != 200:
                body = assert_problem(response, 503, "storage-unavailable")
                assert "disk is full" in body["detail"]
    assert 500 not in statuses
    assert 503 in statuses
    # The operator is told, in the server's log, what the client was told.
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        w.startswith("database storage failure: the database's disk is full") for w in warnings
    )


def test_upload_on_a_full_database_is_503_and_leaves_no_blob(
    api: ApiWorld, full: dict[str, Any]
) -> None:
    blobs = api.world.vault.blobs
    for _ in range(40):  # until the access log cannot take the entry
        before = set(blobs.blob_ids())
        response = api.client.post(
            "/v1/documents",
            headers=api.auth("jules"),
            data={"case": str(api.world.case_id), "title": "more"},
            files={"file": ("more.txt", b"x" * 5000, "text/plain")},
        )
        if response.status_code != 201:
            break
    assert_problem(response, 503, "storage-unavailable")
    assert set(blobs.blob_ids()) == before
    assert blobs.list_partial() == []


def test_full_database_is_a_storage_error_from_the_engine(tmp_path: Any) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (b BLOB)"))

    def cap(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA max_page_count=2")

    engine.dispose()
    event.listen(engine, "connect", cap)
    with pytest.raises(StorageError, match="disk is full"), engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t VALUES (zeroblob(100000))"))
    engine.dispose()


def test_readyz_reports_low_disk_space_without_paths(api: ApiWorld) -> None:
    vault = api.world.vault
    assert api.client.get("/readyz").status_code == 200
    original = vault.settings
    vault.settings = replace(original, min_free_bytes=1 << 62)
    try:
        response = api.client.get("/readyz")
    finally:
        vault.settings = original
    body = assert_problem(response, 503, "storage-unavailable")
    assert "low disk space" in body["detail"]
    assert str(original.data_dir) not in response.text
    assert "/" not in body["detail"]


def test_readyz_names_no_path_when_the_blob_directory_is_gone(api: ApiWorld) -> None:
    blob_dir = api.world.vault.settings.blob_dir
    blob_dir.rename(blob_dir.with_name("blobs-away"))
    try:
        response = api.client.get("/readyz")
    finally:
        blob_dir.with_name("blobs-away").rename(blob_dir)
    body = assert_problem(response, 503, "storage-unavailable")
    assert "/" not in body["detail"]
    assert "blobs" not in body["detail"].replace("blob directory", "")
