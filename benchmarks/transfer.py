"""Upload and download through a real ``vault serve``, beside ``cp`` and a bare ASGI endpoint.

What is measured, for a file of random bytes of each size in ``Context.sizes()`` (written once
into ``ctx.workdir``, on the disk being measured, and fsynced so that no writeback of it
overlaps the timings):

- ``upload-<size>``: ``POST /v1/documents`` of that file as ``multipart/form-data`` to a
  ``vault serve --workers 1`` process on 127.0.0.1 (SQLite, Argon2id at its floor, one case).
  The server parses the multipart body as it arrives, encrypts it and writes and fsyncs the blob.
- ``download-<size>``: ``GET /v1/documents/{id}/content`` of the document just uploaded,
  streamed into a file that is fsynced at the end, as a reader's download ends up on their disk
  (its length and the server's ``Repr-Digest`` header are checked, the bytes are not hashed:
  that would be client work the peers do not do).
- ``rss_growth_mib``: the peak resident memory of the *server process* during each vault
  transfer over its resident size when that transfer began (``common.RssSampler``), the worst of
  all runs; details also give the bare ASGI server's growth for the same transfers.

The peers, timed in the same run on the same file:

- ``cp``: the floor with no HTTP at all. Upload: ``cp SRC DST`` and an fsync of ``DST``, because
  the vault fsyncs its blob (GNU cp copies in the kernel with ``copy_file_range``, a strict
  floor: the data never reaches user space). Download: the same ``cp`` and fsync, because the
  download also ends in a durable copy of the file. Both read from the page cache, as the vault
  does: the source file and the just-written blob are hot. (A download that only discards the
  bytes is compared with ``cat SRC > /dev/null`` in the details, ``discard_s``: no HTTP server on
  this stack comes near a page-cache read there, the bare endpoint included.)
- ``asgi``: ``create_bare_app`` below, a FastAPI app served by the same uvicorn (same version,
  HTTP implementation, event loop and options as ``vault serve``: one process, no access log)
  with two endpoints: ``POST /sink`` reads the request body stream and discards it,
  ``GET /source?size=N`` emits N bytes in 1 MiB chunks from an async generator. It is the floor
  of the server stack: what any endpoint on it costs before doing any work (the vault's
  download, by contrast, is a sync iterator that Starlette steps in a worker thread).

Fairness: all three are driven by the same client code (one ``httpx.Client`` and the same
multipart request, the file read in chunks as ``vault.cli.client`` uploads it, never whole),
and the cases are interleaved round by round (cp, asgi, vault, then again) so that drift in
the machine's load touches each alike; each figure is the median of ``ctx.repeat`` rounds,
after one untimed 1 MiB round that pays every first-request cost.
"""

from __future__ import annotations

import base64
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from benchmarks.common import (
    Context,
    GiB,
    MiB,
    Result,
    RssSampler,
    cp_fsync,
    human_size,
    say,
)
from tests.support.cli import VAULT
from tests.support.files import random_file
from tests.support.server import Server, free_port, start_server, start_vault_serve, stop_server
from vault.crypto import Argon2Params

__all__ = ["create_bare_app", "run"]

PASSPHRASE = "quiet lantern orbit meadow 42"  # noqa: S105 - a throwaway vault in workdir
_CHUNK = MiB
_TARGET_RATIO = 2.5
_TARGET_RSS_MIB = 64.0


# -- the bare ASGI peer --------------------------------------------------------------------------


def create_bare_app() -> FastAPI:
    """The ``asgi`` peer: read a body and discard it; emit N bytes. Nothing else."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    block = os.urandom(_CHUNK)

    @app.get("/readyz")
    async def ready() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/sink")
    async def sink(request: Request) -> dict[str, int]:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
        return {"received": received}

    @app.get("/source")
    async def source(size: int) -> StreamingResponse:
        async def emit() -> AsyncIterator[bytes]:
            left = size
            while left > 0:
                piece = block if left >= len(block) else block[:left]
                left -= len(piece)
                yield piece

        return StreamingResponse(
            emit(), media_type="application/octet-stream", headers={"Content-Length": str(size)}
        )

    return app


# -- servers ---------------------------------------------------------------------------------------


def _serving_pid(server: Server) -> int:
    """The process that handles requests: uvicorn serves in-process with one worker, but with
    several (or a reloader) the requests go to spawned children, not the parent."""
    workers = [
        child
        for child in server.descendants()
        if "resource_tracker" not in " ".join(child.cmdline())
    ]
    if len(workers) > 1:
        raise RuntimeError("the server runs several workers; measure it with --workers 1")
    return workers[0].pid if workers else server.process.pid


def _start_bare(root: Path) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "benchmarks.transfer:create_bare_app"]
    command += ["--factory", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--no-access-log", "--no-server-header", "--no-proxy-headers"]
    command += ["--log-level", "warning", "--app-dir", str(Path(__file__).parent.parent)]
    return start_server(command, port=port, env=os.environ, log_path=root / "bare.log")


@dataclass
class ServedVault:
    """A vault served on a free port, a case, and a journalist's authorisation header."""

    server: Server
    case_id: str
    headers: dict[str, str]


def vault_cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(  # noqa: S603 - our own console script
        [VAULT, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"vault {args[0]} failed: {done.stderr.decode(errors='replace')}")


def start_vault(root: Path, max_upload: int) -> ServedVault:
    """``vault init`` (administrator ``admin``), a journalist ``jules``, ``vault serve`` on a
    free port, a case with ``jules`` in it, and ``jules``'s token."""
    root.mkdir()
    data_dir = root / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env |= {
        "VAULT_DATA_DIR": str(data_dir),
        "VAULT_TOTP_REQUIRED_ROLES": "",  # log in without a one-time code
        "VAULT_MAX_UPLOAD_BYTES": str(max_upload),
        # The floor the vault accepts: login cost is not what this suite measures.
        "VAULT_ARGON2_MEMORY_KIB": str(Argon2Params.FLOOR_MEMORY_KIB),
        "VAULT_ARGON2_TIME_COST": str(Argon2Params.FLOOR_TIME_COST),
        "VAULT_ARGON2_LANES": str(Argon2Params.FLOOR_LANES),
    }
    secret = root / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    common = ["--data-dir", str(data_dir), "--passphrase-file", str(secret)]
    vault_cli(env, "init", "--admin", "admin", *common, "--recovery-out", str(root / "shares"))
    vault_cli(env, "users", "add", "jules", "--role", "journalist", *common)
    server = start_vault_serve(data_dir, env=env, log_path=root / "server.log")
    try:
        with _client(server.base_url) as client:
            admin = {"Authorization": f"Bearer {_login(client, 'admin')}"}
            case = client.post("/v1/cases", json={"name": "transfer-bench"}, headers=admin)
            _expect(case, 201)
            case_id: str = case.json()["id"]
            member = client.post(
                f"/v1/cases/{case_id}/members", json={"username": "jules"}, headers=admin
            )
            _expect(member, 204)
            token = _login(client, "jules")
    except BaseException:
        stop_server(server)
        raise
    return ServedVault(server, case_id, {"Authorization": f"Bearer {token}"})


def _login(client: httpx.Client, username: str) -> str:
    response = client.post("/v1/auth/login", json={"username": username, "passphrase": PASSPHRASE})
    _expect(response, 200)
    token: str = response.json()["token"]
    return token


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:500]}"
        )


# -- the client, the same for every server ---------------------------------------------------------


def _client(base_url: str) -> httpx.Client:
    # No proxy from the environment: everything here is on 127.0.0.1.
    return httpx.Client(base_url=base_url, timeout=600.0, trust_env=False)


def _upload(
    client: httpx.Client, path: str, file: Path, fields: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    """A multipart POST with the file part last, read in chunks by httpx as the CLI sends it."""
    with file.open("rb") as fh:
        files = {"file": (file.name, fh, "application/octet-stream")}
        return client.post(path, data=fields, files=files, headers=headers)


def _download(
    client: httpx.Client, path: str, headers: dict[str, str], out: Path | None = None
) -> tuple[int, str]:
    """Stream a GET into ``out`` (fsynced at the end) or, without it, discard the body: its
    length, and the ``Repr-Digest`` header."""
    received = 0
    with client.stream("GET", path, headers=headers) as response:
        if response.status_code != 200:
            response.read()
            _expect(response, 200)
        if out is None:
            for chunk in response.iter_bytes():
                received += len(chunk)
        else:
            with out.open("wb") as fh:
                for chunk in response.iter_bytes(_CHUNK):
                    received += len(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
        return received, response.headers.get("repr-digest", "")


# -- the run ---------------------------------------------------------------------------------------


def _cat(src: Path) -> None:
    subprocess.run(["cat", str(src)], stdout=subprocess.DEVNULL, check=True)  # noqa: S603, S607


@dataclass
class _Rounds:
    """Medians (seconds) of interleaved rounds, and the worst server memory growth (MiB)."""

    seconds: dict[str, float]
    samples: dict[str, list[float]]
    rss_growth: dict[str, float]
    rss_peak: dict[str, float]


def _interleaved(
    cases: dict[str, Callable[[], object]],
    *,
    repeat: int,
    watch: dict[str, int],
    setup: Callable[[], object] | None = None,
) -> _Rounds:
    """Run every case once per round, ``repeat`` rounds; ``watch`` names the cases whose
    server (pid) is sampled for resident memory."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    growth: dict[str, float] = {}
    peak: dict[str, float] = {}
    for _ in range(repeat):
        for name, case in cases.items():
            if setup is not None:
                setup()
            sampler = RssSampler(watch[name]) if name in watch else None
            with sampler.watching() if sampler else nullcontext():
                start = time.perf_counter()
                case()
                samples[name].append(time.perf_counter() - start)
            if sampler is not None:
                growth[name] = max(growth.get(name, 0.0), sampler.growth_mib)
                peak[name] = max(peak.get(name, 0.0), sampler.peak_rss / MiB)
    seconds = {name: statistics.median(times) for name, times in samples.items()}
    return _Rounds(seconds, samples, growth, peak)


def _label(size: int) -> str:
    return human_size(size).replace(" ", "")


def _result(
    name: str, size: int, rounds: _Rounds, cp_method: str, discard: _Rounds | None = None
) -> Result:
    vault_s = rounds.seconds["vault"]
    peers = {k: v for k, v in rounds.seconds.items() if k != "vault"}
    growth = rounds.rss_growth["vault"]
    details: dict[str, Any] = {
        "mib_per_s": {k: round(size / MiB / v, 1) for k, v in rounds.seconds.items()},
        "runs_s": {k: [round(s, 4) for s in v] for k, v in rounds.samples.items()},
        "server_rss_peak_mib": round(rounds.rss_peak["vault"], 1),
        "asgi_rss_growth_mib": round(rounds.rss_growth["asgi"], 1),
        "cp_peer": cp_method,
    }
    if discard is not None:
        details["discard_s"] = {k: round(v, 4) for k, v in discard.seconds.items()}
    if size >= GiB:
        details["targets"] = {
            "within_2.5x_cp": vault_s <= _TARGET_RATIO * peers["cp"],
            "rss_under_64mib": growth < _TARGET_RSS_MIB,
        }
    return Result(name, vault_s, size, peers, rss_growth_mib=growth, details=details)


def _measure_size(
    ctx: Context, vault: ServedVault, bare: Server, client: httpx.Client, size: int, *, repeat: int
) -> tuple[Result, Result]:
    label = _label(size)
    src = ctx.workdir / f"transfer-{label}.bin"
    dst = ctx.workdir / f"transfer-{label}.copy"
    say(f"transfer: writing {label} of random bytes")
    sha256 = random_file(src, size)
    fields = {"case": vault.case_id, "title": f"transfer benchmark {label}"}
    uploaded: list[str] = []

    def vault_upload() -> None:
        response = _upload(client, "/v1/documents", src, fields, vault.headers)
        _expect(response, 201)
        body = response.json()
        if body["size"] != size or body["sha256"] != sha256:
            raise RuntimeError(f"the vault stored something else: {body}")
        uploaded.append(body["id"])

    def bare_upload() -> None:
        response = _upload(client, bare.base_url + "/sink", src, fields, {})
        _expect(response, 200)
        if response.json()["received"] < size:
            raise RuntimeError("the bare endpoint received less than the file")

    pids = {"vault": _serving_pid(vault.server), "asgi": _serving_pid(bare)}
    say(f"transfer: upload {label} x{repeat}")
    up = _interleaved(
        {"cp": lambda: cp_fsync(src, dst), "asgi": bare_upload, "vault": vault_upload},
        repeat=repeat,
        watch=pids,
        setup=lambda: dst.unlink(missing_ok=True),
    )
    dst.unlink(missing_ok=True)
    doc_path = f"/v1/documents/{uploaded[-1]}/content"
    expected_digest = f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode()}:"

    def vault_download(out: Path | None) -> None:
        received, digest = _download(client, doc_path, vault.headers, out)
        if received != size or digest != expected_digest:
            raise RuntimeError(f"the download was {received} bytes with digest {digest!r}")

    def bare_download(out: Path | None) -> None:
        received, _ = _download(client, f"{bare.base_url}/source?size={size}", {}, out)
        if received != size:
            raise RuntimeError(f"the bare download was {received} bytes")

    say(f"transfer: download {label} x{repeat}")
    down = _interleaved(
        {
            "cp": lambda: cp_fsync(src, dst),
            "asgi": lambda: bare_download(dst),
            "vault": lambda: vault_download(dst),
        },
        repeat=repeat,
        watch=pids,
        setup=lambda: dst.unlink(missing_ok=True),
    )
    dst.unlink(missing_ok=True)
    discard = _interleaved(
        {
            "cat": lambda: _cat(src),
            "asgi": lambda: bare_download(None),
            "vault": lambda: vault_download(None),
        },
        repeat=repeat,
        watch=pids,
    )
    src.unlink()
    return (
        _result(f"upload-{label}", size, up, "cp SRC DST, then fsync(DST)"),
        _result(f"download-{label}", size, down, "cp SRC DST, then fsync(DST)", discard),
    )


@contextmanager
def _servers(ctx: Context) -> Iterator[tuple[ServedVault, Server]]:
    vault = start_vault(ctx.workdir / "vault", max_upload=2 * max(ctx.sizes()))
    try:
        bare = _start_bare(ctx.workdir)
        try:
            yield vault, bare
        finally:
            stop_server(bare)
    finally:
        stop_server(vault.server)


def run(ctx: Context) -> list[Result]:
    """Every size: upload, then download, each beside ``cp`` and the bare ASGI endpoint."""
    results: list[Result] = []
    say("transfer: starting vault serve and the bare ASGI app")
    with _servers(ctx) as (vault, bare), _client(vault.server.base_url) as client:
        sizes = sorted(ctx.sizes())
        # One untimed round first: imports, connection set-up and first-request costs.
        _measure_size(ctx, vault, bare, client, min(sizes), repeat=1)
        for size in sizes:
            results += _measure_size(ctx, vault, bare, client, size, repeat=ctx.repeat)
    return results
