"""The S3 blob store against a real S3-protocol server (moto, on loopback): what objects carry,
all-or-nothing writes, unfinished uploads, flat memory and errors that name nothing. What every
backend must do is in test_storage.py and test_pipeline.py, run on both."""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ResponseStreamingError

from tests.support.s3 import REGION, fresh_bucket, s3_client
from vault.errors import InvalidInput, NotFound, StorageError
from vault.settings import Settings
from vault.storage import s3
from vault.storage.s3 import PART_SIZE, S3BlobStore
from vault.storage.stores import blob_store

MiB = 1 << 20
# What HeadObject answers for any object: nothing the vault chose but the key.
STANDARD_HEAD = {"AcceptRanges", "LastModified", "ContentLength", "ETag", "ContentType", "Metadata"}


def _objects(store: S3BlobStore) -> list[str]:
    answer = store._client.list_objects_v2(Bucket=store.bucket)
    return [entry["Key"] for entry in answer.get("Contents", [])]


def _uploads(store: S3BlobStore) -> list[dict[str, Any]]:
    answer = store._client.list_multipart_uploads(Bucket=store.bucket)
    uploads: list[dict[str, Any]] = answer.get("Uploads", [])
    return uploads


def _pieces(total: int, piece: int = MiB) -> Iterator[bytes]:
    block = bytes(range(256)) * (piece // 256)
    for _ in range(total // piece):
        yield block


@pytest.mark.parametrize("size", [10, PART_SIZE + 1])  # one PutObject; a multipart upload
def test_an_object_carries_its_key_and_nothing_else(s3_store: S3BlobStore, size: int) -> None:
    blob = s3_store.put([b"\x00" * size])
    key = f"vault/blobs/{blob.blob_id[:2]}/{blob.blob_id}"
    assert _objects(s3_store) == [key]
    client = s3_store._client
    head = client.head_object(Bucket=s3_store.bucket, Key=key)
    assert set(head) - {"ResponseMetadata"} == STANDARD_HEAD
    assert head["Metadata"] == {}
    assert head["ContentType"] == "binary/octet-stream"  # the server's default, not the vault's
    assert head["ContentLength"] == size
    assert not any(h.startswith("x-amz-meta-") for h in head["ResponseMetadata"]["HTTPHeaders"])
    assert client.get_object_tagging(Bucket=s3_store.bucket, Key=key)["TagSet"] == []


def test_a_producer_failing_mid_upload_leaves_nothing(s3_store: S3BlobStore) -> None:
    def chunks() -> Iterator[bytes]:
        yield from _pieces(PART_SIZE + 2 * MiB)  # the first part is sent
        raise ValueError("the upstream failed")

    with pytest.raises(ValueError, match="upstream"):
        s3_store.put(chunks())
    assert _objects(s3_store) == []
    assert _uploads(s3_store) == []  # aborted, not left for fsck
    assert s3_store.partial_writes() == []


class FailingParts:
    """The real client, except that the upload of part ``number`` names an upload the server
    does not know, so the server itself refuses it."""

    def __init__(self, real: Any, number: int, *, abort_fails: bool = False) -> None:
        self._real = real
        self._number = number
        self._abort_fails = abort_fails

    def upload_part(self, **arguments: Any) -> Any:
        if arguments["PartNumber"] == self._number:
            arguments = {**arguments, "UploadId": "no-such-upload"}
        return self._real.upload_part(**arguments)

    def abort_multipart_upload(self, **arguments: Any) -> Any:
        if self._abort_fails:
            raise ConnectionResetError("the process died before it could abort")
        return self._real.abort_multipart_upload(**arguments)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_server_refusal_mid_upload_is_a_storage_error_and_aborts(
    s3_store: S3BlobStore,
) -> None:
    s3_store._client = FailingParts(s3_store._client, 2)
    with pytest.raises(StorageError, match="cannot write to the object store"):
        s3_store.put(_pieces(3 * PART_SIZE))
    assert _objects(s3_store) == []
    assert _uploads(s3_store) == []


def test_an_upload_cut_short_stays_invisible_until_discarded(s3_store: S3BlobStore) -> None:
    # A crash mid-upload: nothing aborts it. No object appears; the unfinished upload is
    # listed (for fsck) with its age, and discarding it aborts it.
    s3_store._client = FailingParts(s3_store._client, 2, abort_fails=True)
    with pytest.raises(StorageError):
        s3_store.put(_pieces(3 * PART_SIZE))
    real = s3_store._client._real
    s3_store._client = real
    assert _objects(s3_store) == []
    [partial] = s3_store.partial_writes()
    [upload] = _uploads(s3_store)
    assert partial.name.endswith("." + upload["UploadId"])
    assert partial.age_seconds >= 0
    s3_store.discard_partial(partial.name)
    s3_store.discard_partial(partial.name)  # gone already: not an error
    assert _uploads(s3_store) == []
    s3_store.discard_partial("not a name it gave")


class BreakingBody:
    """A download that breaks after ``keep`` bytes, as a reset connection does."""

    def __init__(self, real: Any, keep: int) -> None:
        self._real = real
        self._keep = keep

    def iter_chunks(self, size: int) -> Iterator[bytes]:
        given = 0
        for chunk in self._real.iter_chunks(size):
            if given + len(chunk) > self._keep:
                raise ResponseStreamingError(error="connection reset")
            given += len(chunk)
            yield chunk

    def close(self) -> None:
        self._real.close()


class BreakingDownloads:
    """The real client, except that every download breaks after ``keep`` bytes."""

    def __init__(self, real: Any, keep: int) -> None:
        self._real = real
        self._keep = keep
        self.ranges: list[str | None] = []

    def get_object(self, **arguments: Any) -> Any:
        self.ranges.append(arguments.get("Range"))
        answer = self._real.get_object(**arguments)
        return {**answer, "Body": BreakingBody(answer["Body"], self._keep)}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_broken_download_resumes_where_it_broke(s3_store: S3BlobStore) -> None:
    content = os.urandom(5 * MiB)
    blob = s3_store.put([content])
    breaking = BreakingDownloads(s3_store._client, keep=2 * MiB)
    s3_store._client = breaking
    assert b"".join(s3_store.open(blob.blob_id)) == content
    assert breaking.ranges == [None, "bytes=2097152-", "bytes=4194304-"]


def test_a_download_that_keeps_breaking_is_a_storage_error(s3_store: S3BlobStore) -> None:
    blob = s3_store.put([os.urandom(3 * MiB)])
    s3_store._client = BreakingDownloads(s3_store._client, keep=0)
    with pytest.raises(StorageError, match="cannot read the object store"):
        b"".join(s3_store.open(blob.blob_id))


def test_a_download_is_not_resumed_on_another_object(s3_store: S3BlobStore) -> None:
    blob = s3_store.put([b"a" * (3 * MiB)])
    s3_store._client = BreakingDownloads(s3_store._client, keep=1 * MiB)
    stream = s3_store.open(blob.blob_id)
    first = next(stream)
    # The object is replaced meanwhile (only outside interference does that): If-Match fails.
    key = s3_store.key(blob.blob_id)
    s3_store._client.put_object(Bucket=s3_store.bucket, Key=key, Body=b"b" * (3 * MiB))
    with pytest.raises(StorageError, match="cannot read the object store: PreconditionFailed"):
        b"".join([first, *stream])


@pytest.mark.parametrize("sizes", [[], [0], [5], [3, 4, 0, 9, 1], [25], [10, 10], [7, 13, 2]])
def test_parts_regroup_any_chunks_into_whole_parts(sizes: list[int]) -> None:
    chunks = [bytes([i]) * n for i, n in enumerate(sizes)]
    parts = list(s3._parts(chunks, 10))
    assert b"".join(parts) == b"".join(chunks)
    assert all(len(p) == 10 for p in parts[:-1])
    assert all(0 < len(p) <= 10 for p in parts)


def test_a_blob_of_exactly_one_part_round_trips(s3_store: S3BlobStore) -> None:
    content = bytes(range(256)) * (PART_SIZE // 256)
    blob = s3_store.put([content[: 3 * MiB], content[3 * MiB :]])
    assert blob.size == PART_SIZE
    assert hashlib.sha256(b"".join(s3_store.open(blob.blob_id))).digest() == (
        hashlib.sha256(content).digest()
    )


def test_memory_stays_flat_for_a_200_mib_blob(s3_store: S3BlobStore) -> None:
    total = 200 * MiB
    expected = hashlib.sha256()
    for piece in _pieces(total):
        expected.update(piece)
    tracemalloc.start()
    try:
        blob = s3_store.put(_pieces(total, 256 << 10))
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        seen = hashlib.sha256()
        for chunk in s3_store.open(blob.blob_id):
            seen.update(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == total
    assert seen.digest() == expected.digest()
    # Two 8 MiB parts while writing (the one filling, the one joined to send; 16.4 MiB
    # measured), a few MiB while reading: never the blob.
    assert put_peak < 2.5 * PART_SIZE, f"{put_peak / MiB:.1f} MiB held while writing"
    assert read_peak < 8 * MiB, f"{read_peak / MiB:.1f} MiB held while reading"
    s3_store.delete(blob.blob_id)


def test_only_blob_keys_under_the_prefix_are_blobs(s3_store: S3BlobStore, s3_server: str) -> None:
    blob = s3_store.put([b"x"])
    client = s3_store._client
    for stray in ("vault/blobs/readme.txt", "vault/blobs/ab/not-an-id", "elsewhere/ab/" + "a" * 32):
        client.put_object(Bucket=s3_store.bucket, Key=stray, Body=b"")
    misfiled = "0" * 32
    client.put_object(Bucket=s3_store.bucket, Key=f"vault/blobs/ff/{misfiled}", Body=b"")
    assert list(s3_store.blob_ids()) == [blob.blob_id]
    other = S3BlobStore(client, s3_store.bucket, "other", REGION)
    assert list(other.blob_ids()) == []
    assert not other.exists(blob.blob_id)


def test_a_blob_ages_by_the_object_store_s_clock(s3_store: S3BlobStore) -> None:
    # fsck keeps orphans younger than its grace: the age must be the object's, not 0.
    blob = s3_store.put([b"x"])
    time.sleep(1.1)  # S3 dates objects to the second
    assert 0.1 <= s3_store.age_seconds(blob.blob_id) < 60


def test_missing_blobs(s3_store: S3BlobStore) -> None:
    absent = "ab" * 16
    assert not s3_store.exists(absent)
    with pytest.raises(NotFound):
        s3_store.open(absent)
    s3_store.delete(absent)
    assert s3_store.free_bytes() is None


def test_init_creates_a_missing_bucket(s3_server: str) -> None:
    store = S3BlobStore(s3_client(s3_server), "vault-made-by-init", "blobs", REGION)
    store.create()
    store.create()  # already there: harmless
    store.check()
    assert _objects(store) == []  # the probe is gone


def test_errors_name_neither_bucket_nor_endpoint(
    s3_server: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bucket = "secret-newsroom-bucket"
    store = S3BlobStore(s3_client(s3_server), bucket, "secret-prefix", REGION)
    with pytest.raises(StorageError) as missing:
        store.check()
    assert str(missing.value) == "the object store has no such bucket"
    monkeypatch.setattr(s3, "MAX_ATTEMPTS", 1)
    unreachable = S3BlobStore(s3.make_client("http://127.0.0.1:9", REGION), bucket)
    with pytest.raises(StorageError) as refused:
        unreachable.check()
    assert "EndpointConnectionError" in str(refused.value)
    for text in [str(missing.value), str(refused.value), caplog.text]:
        for secret in (bucket, "secret-prefix", "127.0.0.1", s3_server):
            assert secret not in text


def test_settings_name_the_bucket_and_prefix(s3_server: str) -> None:
    env = {
        "VAULT_BLOB_URL": "s3://newsroom-vault/some/prefix/",
        "VAULT_S3_ENDPOINT_URL": s3_server,
        "VAULT_S3_REGION": REGION,
    }
    settings = Settings.from_environ(env)
    assert settings.s3_location == ("newsroom-vault", "some/prefix")
    store = blob_store(settings)
    assert isinstance(store, S3BlobStore)
    assert store.key("ab" * 16) == "some/prefix/ab/" + "ab" * 16
    assert Settings.from_environ({"VAULT_BLOB_URL": "s3://newsroom-vault"}).s3_location == (
        "newsroom-vault",
        "",
    )
    assert Settings.from_environ({"VAULT_BLOB_URL": ""}).s3_location is None
    for bad in ("/srv/blobs", "file:///srv", "s3://", "s3://B", "s3://ok-name/a//b", "s3://x/../y"):
        with pytest.raises(InvalidInput, match="blob_url"):
            Settings.from_environ({"VAULT_BLOB_URL": bad})


def test_a_fresh_bucket_is_empty(s3_server: str) -> None:
    # The fixtures' isolation: each test's bucket starts empty.
    store = S3BlobStore(s3_client(s3_server), fresh_bucket(s3_server), "", REGION)
    assert list(store.blob_ids()) == []
    blob = store.put([b"at the top"])
    assert _objects(store) == [f"{blob.blob_id[:2]}/{blob.blob_id}"]
