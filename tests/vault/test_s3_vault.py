"""A vault whose blobs are in a bucket of a real S3-protocol server (moto, on loopback), on
SQLite and PostgreSQL: documents in and out, what the object store holds, fsck's orphans and
unfinished uploads, readiness, and the backup's refusal."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support import postgres
from tests.support.postgres import PG_ENV
from tests.support.s3 import REGION, s3_client
from tests.support.world import World, build_world, default_settings
from vault.backup.create import create_backup
from vault.backup.restore import restore_backup
from vault.errors import InvalidInput, NotFound
from vault.services import fsck
from vault.services.documents import NewDocument
from vault.storage.s3 import PART_SIZE, S3BlobStore

MARKER = "ZQXJ-marker-7f3a"
PREFIX = "newsroom/blobs"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def s3_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, s3_server: str
) -> Iterator[World]:
    """One vault per database backend for the module (each costs four Argon2id derivations),
    on a bucket nobody made yet: `vault init` makes it. The tests look only at what they add."""
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            base = os.environ.get(PG_ENV)
            if not base:
                pytest.skip(f"{PG_ENV} is not set: no PostgreSQL server to test against")
            url = stack.enter_context(postgres.schema(base))
        settings = dataclasses.replace(
            default_settings(tmp_path_factory.mktemp("s3-vault") / "data", url),
            blob_url=f"s3://vault-{uuid.uuid4().hex[:12]}/{PREFIX}",
            s3_endpoint_url=s3_server,
            s3_region=REGION,
        )
        made = build_world(settings)
        stack.callback(made.vault.close)
        yield made


def _store(world: World) -> S3BlobStore:
    store = world.vault.blobs
    assert isinstance(store, S3BlobStore)
    return store


def _every_object(world: World) -> dict[str, tuple[bytes, dict[str, object]]]:
    """Every object in the vault's bucket, whatever its prefix: key -> (bytes, head)."""
    store = _store(world)
    client = store._client
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            body = client.get_object(Bucket=store.bucket, Key=key)["Body"].read()
            head = client.head_object(Bucket=store.bucket, Key=key)
            head.pop("ResponseMetadata")
            found[key] = (body, head)
    return found


def _add(world: World, content: bytes, title: str = "testimony") -> uuid.UUID:
    return world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[content[i : i + 65536] for i in range(0, len(content), 65536)],
        document=NewDocument(title=title),
    ).id


def test_documents_go_to_the_bucket_and_come_back(s3_world: World) -> None:
    world = s3_world
    assert not world.vault.settings.blob_dir.exists()  # nothing local
    before = set(_every_object(world))
    small = b"agenda of the delegation"
    large = os.urandom(PART_SIZE + (1 << 20))  # a multipart upload
    ids = [_add(world, small), _add(world, large)]
    for doc_id, content in zip(ids, [small, large], strict=True):
        _, stream = world.vault.documents.open(world.editor, doc_id)
        assert b"".join(stream) == content
    keys = set(_every_object(world)) - before
    assert len(keys) == 2
    assert all(k.startswith(PREFIX + "/") for k in keys)
    assert fsck.check(world.vault.engine, world.vault.blobs, grace_seconds=0).clean
    world.vault.documents.delete(world.editor, ids[1])
    assert len(set(_every_object(world)) - before) == 1
    with pytest.raises(NotFound):
        world.vault.documents.open(world.editor, ids[1])
    assert fsck.check(world.vault.engine, world.vault.blobs, grace_seconds=0).clean


def test_no_marker_in_any_object_key_or_metadata(s3_world: World) -> None:
    world = s3_world
    before = set(_every_object(world))
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
    objects = _every_object(world)
    assert len(objects.keys() - before) == 1
    for key, (body, head) in objects.items():
        seen = [key.encode(), body, repr(head).encode()]
        for needle in needles:
            assert not any(needle in text for text in seen), f"marker found in {key}"
        assert head["Metadata"] == {}
        assert head["ContentType"] == "binary/octet-stream"
    titles = [d.metadata.title for d in world.vault.documents.list(world.editor, world.case_id)]
    assert f"title {MARKER}" in titles  # the readers still get everything back


_CHILD = textwrap.dedent(
    """
    import os, sys, uuid
    from vault.instance import Vault
    from vault.services.documents import NewDocument
    from vault.services.users import Actor
    from vault.settings import Settings
    from vault.storage.models import Role
    from vault.storage.s3 import S3BlobStore

    real = S3BlobStore._upload_part

    def crash(self, key, upload, number, data):
        if number == 2:
            os._exit(17)  # the process dies mid-upload: nothing gets to abort it
        return real(self, key, upload, number, data)

    S3BlobStore._upload_part = crash
    vault = Vault.open(Settings.from_environ(os.environ))
    actor = Actor(user_id=uuid.UUID(sys.argv[1]), username="jules", role=Role.JOURNALIST)
    vault.documents.add(actor, case_id=uuid.UUID(sys.argv[2]), content=[b"x" * (9 << 20)],
                        document=NewDocument(title="never visible"))
    """
)


def test_fsck_reports_and_repairs_orphans_and_unfinished_uploads(s3_world: World) -> None:
    world = s3_world
    before = set(_every_object(world))
    settings = world.vault.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update(
        VAULT_DATA_DIR=str(settings.data_dir),
        VAULT_BLOB_URL=str(settings.blob_url),
        VAULT_S3_ENDPOINT_URL=str(settings.s3_endpoint_url),
        VAULT_S3_REGION=REGION,
    )
    if settings.database_url:
        env["VAULT_DATABASE_URL"] = settings.database_url
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(world.journalist.user_id), str(world.case_id)],
        env=env,
        capture_output=True,
        check=False,
    )
    assert child.returncode == 17, child.stderr.decode()
    # A blob written and never recorded (a crash before the commit): an orphan object.
    orphan = world.vault.blobs.put([b"ciphertext of a document never recorded"])
    assert _every_object(world).keys() - before == {_store(world).key(orphan.blob_id)}
    assert "never visible" not in [
        d.metadata.title for d in world.vault.documents.list(world.editor, world.case_id)
    ]

    report = fsck.check(world.vault.engine, world.vault.blobs)
    assert report.recent_orphans == [orphan.blob_id]
    assert not report.orphan_blobs
    # moto dates every upload in 2010, so the unfinished one is past any grace.
    [unfinished] = report.partial_files
    report = fsck.check(world.vault.engine, world.vault.blobs, grace_seconds=0)
    assert report.orphan_blobs == [orphan.blob_id]
    assert report.partial_files == [unfinished]
    assert not report.clean
    fsck.check(world.vault.engine, world.vault.blobs, repair=True, grace_seconds=0)
    assert set(_every_object(world)) == before
    assert _store(world).partial_writes() == []
    assert fsck.check(world.vault.engine, world.vault.blobs, grace_seconds=0).clean


def test_ready_and_readyz_with_an_object_store(s3_world: World, s3_server: str) -> None:
    from api import create_app

    world = s3_world
    world.vault.ready()  # no free space to measure on the blob side (nor on PostgreSQL's)
    app = create_app(world.vault.settings, vault=world.vault)
    real = world.vault.blobs
    gone = S3BlobStore(s3_client(s3_server), "secret-bucket-gone", PREFIX, REGION)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/readyz").status_code == 200
        world.vault.blobs = gone
        try:
            response = client.get("/readyz")
        finally:
            world.vault.blobs = real
    assert response.status_code == 503
    assert "the object store has no such bucket" in response.text
    for secret in ("secret-bucket-gone", PREFIX, "127.0.0.1"):
        assert secret not in response.text


def test_backup_refuses_a_vault_whose_blobs_are_in_a_bucket(
    s3_world: World, tmp_path: Path
) -> None:
    output = tmp_path / "vault.backup"
    with pytest.raises(InvalidInput, match="back up the bucket with the object store's own"):
        create_backup(s3_world.vault.settings, output)
    assert list(tmp_path.iterdir()) == []


def test_restore_refuses_a_vault_configured_for_a_bucket(s3_world: World, tmp_path: Path) -> None:
    # Checked before the archive is read: whatever it holds, its blobs would land in the data
    # directory, where a vault that reads a bucket would never find them.
    target = dataclasses.replace(s3_world.vault.settings, data_dir=tmp_path / "restored")
    with pytest.raises(InvalidInput, match="unset VAULT_BLOB_URL"):
        restore_backup(tmp_path / "any.backup", target)
    assert list(tmp_path.iterdir()) == []
