"""A real S3-protocol server for the object-store backend's tests: moto in server mode, run as
a subprocess on 127.0.0.1 and a free port, one per test process (``s3_server``), and blob
stores on fresh buckets of it (``s3_store``, and ``any_store`` for the tests every backend
must pass).

The AWS credentials are dummy values set here for the whole test process, so that nothing a
developer has configured (a profile, an instance role) is ever used or sent.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vault.storage.blobstore import BlobStore, LocalBlobStore
from vault.storage.s3 import S3BlobStore, make_client

__all__ = [
    "REGION",
    "any_store",
    "fresh_bucket",
    "s3_client",
    "s3_server",
    "s3_store",
    "start_moto",
    "stop_moto",
]

REGION = "us-east-1"
_DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_START_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):  # noqa: S310 - loopback
            return True
    except (urllib.error.URLError, OSError):
        return False


def start_moto() -> tuple[str, subprocess.Popen[bytes]]:
    """A moto S3 server on a free port of 127.0.0.1 (the benchmarks start theirs here too):
    its endpoint URL once it answers, and its process. Sets the dummy AWS credentials in this
    process's environment, which the servers and commands it starts inherit."""
    os.environ.update(_DUMMY_ENV)
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + _START_SECONDS
    while not _answers(endpoint):
        if server.poll() is not None or time.monotonic() > deadline:
            stop_moto(server)
            raise RuntimeError("the moto S3 server did not start")
        time.sleep(0.1)
    return endpoint, server


def stop_moto(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL of a moto server started for this test process."""
    endpoint, server = start_moto()
    try:
        yield endpoint
    finally:
        stop_moto(server)


@functools.cache
def s3_client(endpoint: str) -> Any:
    """A client of the test server, configured as the vault configures its own (one per
    endpoint: making one loads the service's description, a fraction of a second)."""
    return make_client(endpoint, REGION)


def fresh_bucket(endpoint: str) -> str:
    """The name of a new, empty bucket on the test server."""
    name = f"vault-test-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_store(s3_server: str) -> S3BlobStore:
    """A store under a prefix of a fresh bucket."""
    store = S3BlobStore(s3_client(s3_server), fresh_bucket(s3_server), "vault/blobs", REGION)
    store.create()
    return store


@pytest.fixture(params=["local", "s3"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """Each backend in turn: what every blob store must do is tested on both."""
    if request.param == "local":
        local = LocalBlobStore(tmp_path / "blobs")
        local.create()
        return local
    store: S3BlobStore = request.getfixturevalue("s3_store")
    return store
