"""Blobs in an S3-compatible object store: ``S3BlobStore``.

Objects are named ``<prefix>/<2 hex>/<32 hex>`` after the random blob id and carry nothing
else: no user metadata, no tags, no content type (the server's default stands), since the
object store is outside the vault's trust boundary and the blobs reaching it are already
ciphertext. What the store's operator sees is listed in docs/security-model.md.

All or nothing, as locally: a blob that fits in one part goes up as one ``PutObject``, which
the server makes visible whole or not at all; a larger one as a multipart upload, streamed
part by part (``PART_SIZE``; at most the part being sent and the one being filled are held),
that becomes an object only when ``CompleteMultipartUpload`` succeeds. On any failure, the
producer's or the server's, the upload is aborted; a process killed mid-upload leaves an
in-progress upload that nobody can read, which ``vault fsck`` lists (``partial_writes``) and
``--repair`` aborts once it is older than the grace period. The document service commits a
row only after ``put`` returns, so the ordering fsck relies on is the same as on a disk.

The client is boto3 rather than obstore: boto3 is the reference client of the S3 protocol,
maintained by AWS, the one every S3-compatible server (and moto, the server the tests run)
documents itself against, and it takes credentials from the standard chain (environment,
shared profiles, instance roles) with no code here. obstore is faster for parallel transfers
but young, and its streaming multipart writer is asynchronous, which the thread-per-upload
pipeline here would have to bridge. Timeouts and retries are set explicitly below, and request
checksums are sent only where the protocol requires them: recent boto3 sends new checksum
headers by default that several S3-compatible servers refuse, and every blob is authenticated
segment by segment when it is read anyway.

Every failure leaves as ``StorageError`` naming the operation and the server's error code,
never the bucket, the endpoint or a key: the message can reach unauthenticated callers of
``/readyz``.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from vault.errors import NotFound, StorageError
from vault.storage.blobstore import PartialWrite, StoredBlob, is_blob_id, new_blob_id

__all__ = ["PART_SIZE", "READ_CHUNK", "S3BlobStore"]

log = logging.getLogger(__name__)

PART_SIZE = 8 << 20  # S3's minimum is 5 MiB for every part but the last
READ_CHUNK = 1 << 20
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60
MAX_ATTEMPTS = 5  # the first try and four retries, with backoff ("standard" mode)
MAX_CONNECTIONS = 32  # above the server's default limit on concurrent uploads
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}
_NO_BUCKET = {"404", "NoSuchBucket", "NotFound"}
_CODE = re.compile(r"[^A-Za-z0-9.]")
# What a failing call raises: the server's refusal, the client's own errors (no connection, a
# timeout after the retries, a broken stream), and the socket's.
_FAILURES = (ClientError, BotoCoreError, OSError)


def make_client(endpoint_url: str | None, region: str | None) -> Any:
    """An S3 client with this module's timeouts and retries; credentials from boto3's default
    chain. Path-style addressing with an explicit endpoint: most S3-compatible servers expect
    it, and it needs no wildcard DNS."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        max_pool_connections=MAX_CONNECTIONS,
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # A session of its own: boto3's default session is not safe to share between threads.
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


class S3BlobStore:
    """Blobs as objects ``<prefix>/<2 hex>/<32 hex>`` in ``bucket``."""

    def __init__(
        self, client: Any, bucket: str, prefix: str = "", region: str | None = None
    ) -> None:
        self._client = client
        self.bucket = bucket
        self._root = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self._region = region

    def key(self, blob_id: str) -> str:
        """The object key of ``blob_id``; ``NotFound`` for anything that is not a blob id."""
        if not is_blob_id(blob_id):
            raise NotFound("no such blob")
        return f"{self._root}{blob_id[:2]}/{blob_id}"

    # -- setting up and checking ------------------------------------------------------------

    def create(self) -> None:
        """Make the bucket if it does not exist (the prefix needs nothing), then check that
        it takes a write."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except _FAILURES as exc:
            if _code(exc) not in _NO_BUCKET:
                raise _failure(exc, "cannot reach the bucket") from None
            location = {}
            if self._region and self._region != "us-east-1":
                location = {"CreateBucketConfiguration": {"LocationConstraint": self._region}}
            try:
                self._client.create_bucket(Bucket=self.bucket, **location)
            except _FAILURES as exc:
                raise _failure(exc, "the bucket does not exist and cannot be created") from None
        self.check()

    def check(self) -> None:
        # A probe written and removed: a bucket that answers may still refuse writes (a
        # read-only key, a full quota).
        probe = f"{self._root}.probe-{secrets.token_hex(8)}"
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except _FAILURES as exc:
            # HeadBucket answers a bare 404, without a code, for a bucket that is not there.
            if _code(exc) in _NO_BUCKET:
                raise StorageError("the object store has no such bucket") from None
            raise _failure(exc, "the object store is not reachable") from None
        try:
            self._client.put_object(Bucket=self.bucket, Key=probe, Body=b"")
            self._client.delete_object(Bucket=self.bucket, Key=probe)
        except _FAILURES as exc:
            raise _failure(exc, "the object store is not writable") from None

    def free_bytes(self) -> None:
        """An object store has no free space to speak of: ``None``, which readiness ignores."""
        return None

    # -- writing ----------------------------------------------------------------------------

    def put(self, chunks: Iterable[bytes]) -> StoredBlob:
        blob_id = new_blob_id()
        key = self.key(blob_id)
        parts = _parts(chunks, PART_SIZE)  # errors raised by the producer propagate unchanged
        first = next(parts, b"")
        if len(first) < PART_SIZE:
            self._call("cannot write to the object store", "put_object", Key=key, Body=first)
            return StoredBlob(blob_id, len(first))
        upload = self._call("cannot write to the object store", "create_multipart_upload", Key=key)[
            "UploadId"
        ]
        try:
            size, done = len(first), [self._upload_part(key, upload, 1, first)]
            del first
            for number, part in enumerate(parts, start=2):
                size += len(part)
                done.append(self._upload_part(key, upload, number, part))
                del part  # sent: free it before the next one is filled
            self._call(
                "cannot write to the object store",
                "complete_multipart_upload",
                Key=key,
                UploadId=upload,
                MultipartUpload={"Parts": done},
            )
        except BaseException:
            # Whatever stopped the write, nothing becomes visible; an abort that fails too is
            # left to fsck, which lists the upload and aborts it with --repair.
            self._abort(key, upload)
            raise
        return StoredBlob(blob_id, size)

    def _upload_part(self, key: str, upload: str, number: int, data: bytes) -> dict[str, Any]:
        answer = self._call(
            "cannot write to the object store",
            "upload_part",
            Key=key,
            UploadId=upload,
            PartNumber=number,
            Body=data,
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def _abort(self, key: str, upload: str) -> None:
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
        except _FAILURES as exc:
            log.warning("could not abort an unfinished upload (%s); fsck will", _code(exc))

    def delete(self, blob_id: str) -> None:
        # Deleting an absent object succeeds in S3: nothing to special-case.
        self._call("cannot remove a blob", "delete_object", Key=self.key(blob_id))

    # -- reading ----------------------------------------------------------------------------

    def open(self, blob_id: str, start: int = 0) -> Iterator[bytes]:
        key = self.key(blob_id)
        ranged = {"Range": f"bytes={start}-"} if start else {}
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key, **ranged)
        except _FAILURES as exc:
            if _code(exc) in _MISSING:
                raise NotFound("blob is missing from the store") from None
            raise _failure(exc, "cannot read the object store") from None
        return self._read(key, answer, start)

    def _read(self, key: str, answer: dict[str, Any], start: int = 0) -> Iterator[bytes]:
        """The object's bytes in ``READ_CHUNK`` pieces. A stream that breaks partway (a
        connection reset in a long download) is resumed with a range request from the first
        byte not yet given, up to ``MAX_ATTEMPTS`` times, and only while the object is the same
        one (``If-Match`` its ETag): the caller never sees the break."""
        body, done, size, resumed = answer["Body"], 0, answer.get("ContentLength"), 0
        try:
            while True:
                try:
                    for chunk in body.iter_chunks(READ_CHUNK):
                        done += len(chunk)
                        yield chunk
                    return
                except _FAILURES as exc:
                    body.close()
                    if done == size:
                        return
                    resumed += 1
                    if resumed >= MAX_ATTEMPTS:
                        raise _failure(exc, "cannot read the object store") from None
                    log.warning("a blob's download broke (%s); resuming it", _code(exc))
                    body = self._call(
                        "cannot read the object store",
                        "get_object",
                        Key=key,
                        Range=f"bytes={start + done}-",
                        IfMatch=answer["ETag"],
                    )["Body"]
        finally:
            body.close()

    def exists(self, blob_id: str) -> bool:
        return self._head(self.key(blob_id)) is not None

    def age_seconds(self, blob_id: str) -> float:
        head = self._head(self.key(blob_id))
        return 0.0 if head is None else time.time() - head["LastModified"].timestamp()

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self._client.head_object(Bucket=self.bucket, Key=key)
        except _FAILURES as exc:
            if _code(exc) in _MISSING:
                return None
            raise _failure(exc, "cannot read the object store") from None
        return answer

    def blob_ids(self) -> Iterator[str]:
        for page in self._pages("list_objects_v2", "cannot list the object store"):
            for entry in page.get("Contents", []):
                blob_id = self._blob_of(entry["Key"])
                if blob_id is not None:
                    yield blob_id

    # -- unfinished uploads -----------------------------------------------------------------

    def partial_writes(self) -> list[PartialWrite]:
        """In-progress multipart uploads under the prefix, named ``<blob id>.<upload id>``."""
        found = []
        now = time.time()
        for page in self._pages("list_multipart_uploads", "cannot list unfinished uploads"):
            for upload in page.get("Uploads", []):
                blob_id = self._blob_of(upload["Key"])
                if blob_id is not None:
                    age = now - upload["Initiated"].timestamp()
                    found.append(PartialWrite(f"{blob_id}.{upload['UploadId']}", age))
        return found

    def discard_partial(self, name: str) -> None:
        blob_id, dot, upload = name[:32], name[32:33], name[33:]
        if dot != "." or not upload:
            return  # only ever a name partial_writes gave
        try:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key(blob_id), UploadId=upload
            )
        except _FAILURES as exc:
            if _code(exc) not in _MISSING:
                raise _failure(exc, "cannot abort an unfinished upload") from None

    # -- plumbing ---------------------------------------------------------------------------

    def _blob_of(self, key: str) -> str | None:
        """The blob id an object key names, or ``None`` for any other key (a probe)."""
        fanout, _, blob_id = key[len(self._root) :].partition("/")
        if key.startswith(self._root) and is_blob_id(blob_id) and fanout == blob_id[:2]:
            return blob_id
        return None

    def _call(self, doing: str, operation: str, **arguments: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self._client, operation)(
                Bucket=self.bucket, **arguments
            )
        except _FAILURES as exc:
            raise _failure(exc, doing) from None
        return answer

    def _pages(self, operation: str, doing: str) -> Iterator[dict[str, Any]]:
        try:
            paginator = self._client.get_paginator(operation)
            yield from paginator.paginate(Bucket=self.bucket, Prefix=self._root)
        except _FAILURES as exc:
            raise _failure(exc, doing) from None


def _parts(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """``chunks`` regrouped into pieces of ``size`` bytes (the last one shorter, and none if
    there is nothing), holding at most one piece's worth of chunks and the piece being joined."""
    pending: list[memoryview] = []
    held = 0
    for chunk in chunks:
        # Held as a view until joined: a chunk the producer could change later is copied first.
        rest = memoryview(chunk if isinstance(chunk, bytes) else bytes(chunk))
        while rest:
            take, rest = rest[: size - held], rest[size - held :]
            pending.append(take)
            held += len(take)
            if held == size:
                part = b"".join(pending)
                pending.clear()
                held = 0
                yield part
                del part
    if pending:
        yield b"".join(pending)


def _code(exc: BaseException) -> str:
    """The server's error code, or the client error's class name: short, and never the
    bucket, the endpoint or a key (which botocore's messages name)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", "")) or str(
            response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        )
        if code:
            return _CODE.sub("", code)[:64]
    return type(exc).__name__


def _failure(exc: BaseException, doing: str) -> StorageError:
    # The operator's signal (an outage, a refused key): the client only sees a 503.
    log.warning("object store operation failed: %s (%s)", doing, _code(exc))
    return StorageError(f"{doing}: {_code(exc)}")
