"""Which blob store a vault's settings name: the local directory under the data directory (the
default), or a bucket on an S3-compatible server when ``blob_url`` is set."""

from __future__ import annotations

from vault.settings import Settings
from vault.storage.blobstore import BlobStore, LocalBlobStore

__all__ = ["blob_store"]


def blob_store(settings: Settings) -> BlobStore:
    """The blob store of the vault ``settings`` describe (nothing is contacted yet)."""
    location = settings.s3_location
    if location is None:
        return LocalBlobStore(settings.blob_dir)
    # Imported here: a vault on local disk never loads the S3 client.
    from vault.storage.s3 import S3BlobStore, make_client

    bucket, prefix = location
    region = settings.s3_region or None
    client = make_client(settings.s3_endpoint_url or None, region)
    return S3BlobStore(client, bucket, prefix, region=region)
