"""The S3-protocol server and the blob stores on it (``tests.support.s3``), for every module
here: the store-level tests run on each backend."""

from tests.support.s3 import any_store, s3_server, s3_store

__all__ = ["any_store", "s3_server", "s3_store"]
