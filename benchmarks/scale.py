"""Beyond one server: small-document ingest from concurrent clients on one and three replicas,
and a 1 GiB upload sent by ``curl -F``.

- ``curl-upload-1GiB``: ``curl -F file=@…`` of a 1 GiB file of random bytes to ``vault serve``
  (one worker, SQLite, local blobs), the way a journalist without the CLI uploads, beside
  ``cp`` and an fsync of the copy. Median of ``ctx.repeat`` rounds, interleaved with ``cp``.
- ``ingest-64KiB-<setup>``: ``CLIENTS`` threads, each with its own HTTP client, upload 64 KiB
  documents back to back for ``seconds`` (after an untimed warm-up), as journalists filing
  material at once would. The figure (``vault_s``) is wall-clock seconds per acknowledged upload
  (the inverse of the throughput); details give uploads per second and each upload's p50 and
  p99 latency. Setups:
  - ``sqlite-1``: one ``vault serve`` on SQLite and a local blob directory, over HTTP;
  - ``sqlite-1x2``: the same with ``--workers 2`` (one process per core, on one SQLite file);
  - ``postgres-s3-1``: one replica on PostgreSQL and moto's S3 server, over HTTP;
  - ``postgres-s3-3``: three replicas on PostgreSQL and moto, behind nginx terminating TLS.
  The peer (``asgi``) is the bare endpoint of ``benchmarks.transfer`` (the same uvicorn, a
  handler that reads the body and discards it) in the same shape: one process over HTTP, or
  three behind the same nginx, driven by the same clients with the same multipart bodies. The
  ratio is what the vault's work costs beyond the stack's own.

Everything runs on this one machine: clients, replicas, nginx, PostgreSQL and moto share its
cores, so three replicas measure correctness of scale-out and the cost of the proxy, not the
capacity of three machines. moto keeps objects in memory and is not a fast store; the S3
figures bound what the vault's S3 path costs, not what a real object store would allow.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.common import Context, GiB, KiB, Result, cp_fsync, percentile, say
from benchmarks.transfer import PASSPHRASE, start_vault, vault_cli
from tests.support import postgres
from tests.support.files import random_file
from tests.support.nginx import Nginx, start_nginx, stop_nginx
from tests.support.s3 import REGION, start_moto, stop_moto
from tests.support.server import Server, free_port, start_server, start_vault_serve, stop_server
from vault.crypto import Argon2Params

__all__ = ["run"]

CLIENTS = 8
DOC_SIZE = 64 * KiB
TARGET_PER_SECOND = 300
_CURL_TARGET_RATIO = 2.5


@dataclass
class _Target:
    """Where the clients send their uploads, and how."""

    base_url: str
    path: str
    fields: dict[str, str]
    headers: dict[str, str]
    verify: ssl.SSLContext | bool = False

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, timeout=60.0, trust_env=False, verify=self.verify
        )


@dataclass
class _Ingest:
    count: int
    seconds: float
    latencies: list[float]
    failures: int

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    def details(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}uploads_per_s": round(self.per_second, 1),
            f"{prefix}p50_ms": round(percentile(self.latencies, 0.50) * 1000, 1),
            f"{prefix}p99_ms": round(percentile(self.latencies, 0.99) * 1000, 1),
            f"{prefix}failures": self.failures,
        }


def _ingest(target: _Target, seconds: float) -> _Ingest:
    """``CLIENTS`` threads uploading ``DOC_SIZE`` bytes back to back for ``seconds``."""
    body = os.urandom(DOC_SIZE)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)
    stop = threading.Event()

    def client() -> None:
        with target.client() as http:
            # Untimed: the connection, TLS and the server's first-request costs.
            http.post(target.path, data=target.fields, files=_file(body), headers=target.headers)
            start.wait()
            while not stop.is_set():
                began = time.perf_counter()
                answer = http.post(
                    target.path, data=target.fields, files=_file(body), headers=target.headers
                )
                took = time.perf_counter() - began
                with lock:
                    if answer.status_code in (200, 201):
                        latencies.append(took)
                    else:
                        failures[0] += 1

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return _Ingest(len(latencies), elapsed, latencies, failures[0])


def _file(body: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("filed.bin", body, "application/octet-stream")}


# -- setups -------------------------------------------------------------------------------------


def _env(data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env |= {
        "VAULT_DATA_DIR": str(data_dir),
        "VAULT_TOTP_REQUIRED_ROLES": "",
        "VAULT_ARGON2_MEMORY_KIB": str(Argon2Params.FLOOR_MEMORY_KIB),
        "VAULT_ARGON2_TIME_COST": str(Argon2Params.FLOOR_TIME_COST),
        "VAULT_ARGON2_LANES": str(Argon2Params.FLOOR_LANES),
        # Eight clients of one account, all at once: the per-account cap is for people.
        "VAULT_MAX_CONCURRENT_UPLOADS_PER_USER": str(CLIENTS),
    }
    return env | extra


@contextlib.contextmanager
def _replicas(
    root: Path, count: int, extra: dict[str, str], workers: int = 1
) -> Iterator[list[Server]]:
    """A new vault (administrator ``admin``, journalist ``jules``) served by ``count``
    replicas of ``workers`` processes each, each replica with its own copy of the key files."""
    root.mkdir(parents=True)
    data_dir = root / "data"
    env = _env(data_dir, extra)
    secret = root / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    common = ["--data-dir", str(data_dir), "--passphrase-file", str(secret)]
    vault_cli(env, "init", "--admin", "admin", *common, "--recovery-out", str(root / "shares"))
    vault_cli(env, "users", "add", "jules", "--role", "journalist", *common)
    servers: list[Server] = []
    try:
        for number in range(count):
            own = data_dir if number == 0 else root / f"replica-{number}"
            if number:
                own.mkdir()
                for name in ("log-seal.key", "log-checkpoint"):
                    shutil.copy2(data_dir / name, own / name)
            log = root / f"replica-{number}.log"
            servers.append(
                start_vault_serve(
                    own, env=env | {"VAULT_DATA_DIR": str(own)}, log_path=log, workers=workers
                )
            )
        yield servers
    finally:
        for server in servers:
            stop_server(server)


def _case_and_token(base_url: str, verify: ssl.SSLContext | bool) -> tuple[str, dict[str, str]]:
    with httpx.Client(base_url=base_url, timeout=60, trust_env=False, verify=verify) as http:

        def login(name: str) -> dict[str, str]:
            answer = http.post("/v1/auth/login", json={"username": name, "passphrase": PASSPHRASE})
            answer.raise_for_status()
            return {"Authorization": f"Bearer {answer.json()['token']}"}

        admin = login("admin")
        case = http.post("/v1/cases", json={"name": "ingest"}, headers=admin)
        case.raise_for_status()
        case_id: str = case.json()["id"]
        added = http.post(f"/v1/cases/{case_id}/members", json={"username": "jules"}, headers=admin)
        added.raise_for_status()
        return case_id, login("jules")


def _bare(root: Path, count: int, workers: int = 1) -> list[Server]:
    servers = []
    for number in range(count):
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "benchmarks.transfer:create_bare_app"]
        command += ["--factory", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--no-access-log", "--no-server-header", "--log-level", "warning"]
        command += ["--workers", str(workers)]
        command += ["--app-dir", str(Path(__file__).parent.parent)]
        log = root / f"bare-{number}.log"
        servers.append(start_server(command, port=port, env=os.environ, log_path=log))
    return servers


@contextlib.contextmanager
def _proxy(root: Path, servers: list[Server]) -> Iterator[Nginx]:
    proxy = start_nginx(root, [f"127.0.0.1:{server.port}" for server in servers])
    try:
        yield proxy
    finally:
        stop_nginx(proxy)


def _measure(
    name: str,
    root: Path,
    count: int,
    extra: dict[str, str],
    seconds: float,
    workers: int = 1,
) -> Result:
    root.mkdir()
    with _replicas(root / "vault", count, extra, workers) as servers:
        with contextlib.ExitStack() as stack:
            verify: ssl.SSLContext | bool = False
            base = servers[0].base_url
            if count > 1:
                proxy = stack.enter_context(_proxy(root / "nginx", servers))
                base = proxy.base_url
                verify = ssl.create_default_context(cafile=str(proxy.certificate))
            case_id, headers = _case_and_token(base, verify)
            fields = {"case": case_id, "title": "filed"}
            say(f"   {name}: vault")
            vault = _ingest(_Target(base, "/v1/documents", fields, headers, verify), seconds)
    bare_servers = _bare(root, count, workers)
    try:
        with contextlib.ExitStack() as stack:
            verify = False
            base = bare_servers[0].base_url
            if count > 1:
                proxy = stack.enter_context(_proxy(root / "nginx-bare", bare_servers))
                base = proxy.base_url
                verify = ssl.create_default_context(cafile=str(proxy.certificate))
            say(f"   {name}: bare endpoint")
            bare = _ingest(
                _Target(base, "/sink", {"case": "x", "title": "filed"}, {}, verify), seconds
            )
    finally:
        for server in bare_servers:
            stop_server(server)
    details: dict[str, object] = {
        "clients": CLIENTS,
        "replicas": count,
        "workers": workers,
        "seconds": round(vault.seconds, 1),
        **vault.details(),
        **bare.details("asgi_"),
        "target_uploads_per_s": TARGET_PER_SECOND,
    }
    return Result(
        name,
        vault.seconds / max(vault.count, 1),
        size_bytes=DOC_SIZE,
        peers={"asgi": bare.seconds / max(bare.count, 1)},
        details=details,
    )


def _curl_upload(ctx: Context) -> Result:
    root = ctx.workdir / "curl"
    root.mkdir()
    source = root / "upload.bin"
    random_file(source, GiB)
    copy = root / "copy.bin"
    served = start_vault(root / "vault", 2 * GiB)
    curl = shutil.which("curl")
    if curl is None:
        raise RuntimeError("curl is not installed")
    command = [curl, "-sS", "-o", os.devnull, "-w", "%{http_code}"]
    command += ["-H", f"Authorization: {served.headers['Authorization']}"]
    command += ["-F", f"case={served.case_id}", "-F", "title=curl", "-F", f"file=@{source}"]
    command += [f"{served.server.base_url}/v1/documents"]
    vault_s, cp_s = [], []
    try:
        for _ in range(ctx.repeat):
            copy.unlink(missing_ok=True)
            began = time.perf_counter()
            cp_fsync(source, copy)
            cp_s.append(time.perf_counter() - began)
            began = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            vault_s.append(time.perf_counter() - began)
            if done.stdout.strip() != "201":
                raise RuntimeError(f"curl upload: {done.stdout} {done.stderr[:300]}")
    finally:
        stop_server(served.server)
    vault_s.sort()
    cp_s.sort()
    median_vault, median_cp = vault_s[len(vault_s) // 2], cp_s[len(cp_s) // 2]
    return Result(
        "curl-upload-1GiB",
        median_vault,
        size_bytes=GiB,
        peers={"cp": median_cp},
        details={"target_ratio": _CURL_TARGET_RATIO, "ratio": round(median_vault / median_cp, 2)},
    )


def run(ctx: Context) -> list[Result]:
    seconds = 5.0 if ctx.quick else 15.0
    results = [_curl_upload(ctx)]
    results.append(_measure("ingest-64KiB-sqlite-1", ctx.workdir / "sqlite-1", 1, {}, seconds))
    # One server with a worker per core, as docs/deployment.md runs it: two processes on one
    # SQLite file, each recording its own uploads in groups.
    results.append(
        _measure("ingest-64KiB-sqlite-1x2", ctx.workdir / "sqlite-1x2", 1, {}, seconds, workers=2)
    )
    if ctx.database_url is None:
        say("   no PostgreSQL (--database-url): the PostgreSQL and S3 cases are skipped")
        return results
    endpoint, moto = start_moto()
    try:
        for count in (1, 3):
            name = f"bench_{uuid.uuid4().hex[:12]}"
            postgres.create_database(ctx.database_url, name)
            extra = {
                "VAULT_DATABASE_URL": postgres.url_for(ctx.database_url, name),
                "VAULT_BLOB_URL": f"s3://bench-{uuid.uuid4().hex[:12]}/blobs",
                "VAULT_S3_ENDPOINT_URL": endpoint,
                "VAULT_S3_REGION": REGION,
                "VAULT_TRUSTED_PROXIES": "127.0.0.2",
            }
            try:
                results.append(
                    _measure(
                        f"ingest-64KiB-postgres-s3-{count}",
                        ctx.workdir / f"postgres-s3-{count}",
                        count,
                        extra,
                        seconds,
                    )
                )
            finally:
                postgres.drop_database(ctx.database_url, name)
    finally:
        stop_moto(moto)
    return results
