"""What a seized disk or a database dump shows: no marker string from any sensitive field, and
no visible document after a crash between the blob write and the metadata commit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import sqlalchemy as sa
from sqlmodel import select

from tests.conftest import World
from vault.services import fsck
from vault.services.documents import NewDocument
from vault.storage.models import Document

MARKER = "ZQXJ-marker-7f3a"


def _rows_as_bytes(world: World) -> list[bytes]:
    """Every value of every row of every table, as bytes."""
    values: list[bytes] = []
    engine = world.vault.engine
    for table in sa.inspect(engine).get_table_names():
        with engine.connect() as conn:
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):  # noqa: S608 - names come from the schema
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        values.append(bytes(value))
                    elif value is not None:
                        values.append(str(value).encode())
    return values


def test_no_marker_in_any_file_or_row(world: World) -> None:
    source = world.vault.sources.create(world.journalist, world.case_id, f"identity {MARKER}")
    content = (f"testimony {MARKER} " * 5000).encode()
    world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[content],
        document=NewDocument(
            title=f"title {MARKER}",
            filename=f"{MARKER}.pdf",
            media_type="application/pdf",
            notes=f"notes {MARKER}",
            source_id=source.id,
            kind="testimony",
        ),
    )
    needles = [MARKER.encode(), MARKER.encode("utf-16-le"), MARKER.lower().encode()]
    files = [p for p in world.vault.settings.data_dir.rglob("*") if p.is_file()]
    assert files, "the data directory holds the vault's files"
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"marker found in {path}"
    for value in _rows_as_bytes(world):
        for needle in needles:
            assert needle not in value
    # The readers still get everything back.
    docs = world.vault.documents.list(world.editor, world.case_id)
    assert docs[0].metadata is not None
    assert MARKER in docs[0].metadata.title


_CHILD = textwrap.dedent(
    """
    import os, sys
    from vault.instance import Vault
    from vault.services.documents import NewDocument
    from vault.services.upload_batch import UploadRecorder
    from vault.services.users import Actor
    from vault.settings import Settings
    from vault.storage.models import Role
    import uuid

    def crash(*args, **kwargs):
        os._exit(17)  # the process dies between the blob write and the metadata commit

    UploadRecorder.record = crash
    vault = Vault.open(Settings.from_environ(os.environ))
    actor = Actor(user_id=uuid.UUID(sys.argv[1]), username="jules", role=Role.JOURNALIST)
    vault.documents.add(actor, case_id=uuid.UUID(sys.argv[2]), content=[b"x" * 100_000],
                        document=NewDocument(title="never visible"))
    """
)


def test_crash_between_blob_and_metadata_leaves_only_an_orphan(world: World) -> None:
    settings = world.vault.settings
    env = dict(os.environ, VAULT_DATA_DIR=str(settings.data_dir))
    env.pop("VAULT_DATABASE_URL", None)
    if settings.database_url:
        env["VAULT_DATABASE_URL"] = settings.database_url
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(world.journalist.user_id), str(world.case_id)],
        env=env,
        capture_output=True,
        check=False,
    )
    assert child.returncode == 17, child.stderr.decode()
    assert len(list(world.vault.blobs.blob_ids())) == 1
    with world.db() as db:
        assert db.exec(select(Document)).all() == []
    assert world.vault.documents.list(world.journalist, world.case_id) == []

    report = fsck.check(world.vault.engine, world.vault.blobs)
    assert report.recent_orphans
    assert not report.orphan_blobs
    report = fsck.check(world.vault.engine, world.vault.blobs, grace_seconds=0)
    assert len(report.orphan_blobs) == 1
    assert not report.clean
    report = fsck.check(world.vault.engine, world.vault.blobs, repair=True, grace_seconds=0)
    assert list(world.vault.blobs.blob_ids()) == []
    assert fsck.check(world.vault.engine, world.vault.blobs, grace_seconds=0).clean


def test_fsck_finds_and_removes_rows_whose_blob_is_missing(world: World) -> None:
    info = world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[b"agenda"],
        document=NewDocument(title="agenda"),
    )
    with world.db() as db:
        row = db.get(Document, info.id)
        assert row is not None
    os.unlink(world.vault.blobs.root / row.blob_id[:2] / row.blob_id)
    report = fsck.check(world.vault.engine, world.vault.blobs, grace_seconds=0)
    assert report.missing_blobs == [info.id]
    fsck.check(world.vault.engine, world.vault.blobs, repair=True, grace_seconds=0)
    assert world.vault.documents.list(world.editor, world.case_id) == []
    assert fsck.check(world.vault.engine, world.vault.blobs, grace_seconds=0).clean
