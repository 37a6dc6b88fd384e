"""End-to-end sessions beside server-side ones, through the ``vault`` command itself.

- ``e2e-download-1GiB``: ``vault docs get ID -o FILE`` of a 1 GiB document (random bytes) in an
  end-to-end session: the command fetches the sealed record and the ciphertext, unwraps the
  key, decrypts and authenticates every segment, and saves the file once its size and SHA-256
  match the record. Peers, timed in the same rounds (interleaved, median of ``ctx.repeat``):
  ``server-side``, the same command in a server-side session (the server decrypts, the command
  checks ``Repr-Digest``), and ``cp`` of the plaintext with an fsync, the floor. The target is
  at most 2x the server-side command. ``rss_growth_mib`` is how much more the end-to-end
  command's peak resident memory is for the 1 GiB document than for a 1 MiB one (what grows
  with the file; the interpreter and its imports are the same in both).
- ``e2e-upload-1GiB``: ``vault docs put FILE`` of the same 1 GiB file in an end-to-end session:
  the command checks the case's readers' keys and the recovery key against the access log,
  encrypts here, wraps the key for each and streams the ciphertext, which the server checks
  (header, length, commitment) and stores. Peer: ``server-side``, the same command in a
  server-side session (the server encrypts as it receives). No target: stated for comparison.
- ``login-end-to-end`` and ``login-server-side``: ``vault login`` of each kind, the whole
  command (interpreter start-up included), with Argon2id at the vault's default cost (64 MiB, 3
  passes, 4 lanes): the end-to-end login runs the derivation on this machine, the server-side
  one on the server. Details give the HTTP exchanges alone (``login_http_s``): one
  ``POST /v1/auth/login``, and the three end-to-end steps with the client's derivation.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Context, GiB, MiB, Result, RssSampler, cp_fsync, say
from benchmarks.transfer import PASSPHRASE, ServedVault, _client, _upload, start_vault
from tests.support.cli import VAULT
from tests.support.files import random_file
from tests.support.server import stop_server
from vault.cli.remote.e2e_login import log_in

_TARGET_RATIO = 2.0


def _env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env["VAULT_CONFIG_DIR"] = str(config)
    return env


def _vault(env: dict[str, str], *args: str, rss: RssSampler | None = None) -> float:
    """Run ``vault ARGS``; its wall-clock seconds. With ``rss``, its memory is sampled."""
    start = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [VAULT, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if rss is not None:
        sampler = RssSampler(process.pid)
        with sampler.watching():
            _, err = process.communicate(timeout=900)
        rss.peak_rss = max(rss.peak_rss, sampler.peak_rss)
        rss.start_rss = sampler.start_rss
    else:
        _, err = process.communicate(timeout=900)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"vault {args[0]} failed: {err.decode(errors='replace')[-500:]}")
    return seconds


def _login_args(served: ServedVault, passphrase: Path, *extra: str) -> list[str]:
    return [
        "login",
        "--server",
        served.server.base_url,
        "--username",
        "jules",
        "--passphrase-file",
        str(passphrase),
        *extra,
    ]


def _http_logins(base_url: str, repeat: int) -> dict[str, float]:
    """The login exchanges alone, in this process: median seconds of each kind."""
    times: dict[str, list[float]] = {"server-side": [], "end-to-end": []}
    with _client(base_url) as client:

        def post(path: str, body: Any) -> Any:
            answer = client.post(path, json=dict(body))
            answer.raise_for_status()
            return answer.json()

        for _ in range(repeat):
            start = time.perf_counter()
            post("/v1/auth/login", {"username": "jules", "passphrase": PASSPHRASE})
            times["server-side"].append(time.perf_counter() - start)
            start = time.perf_counter()
            log_in(post, "jules", PASSPHRASE, None)
            times["end-to-end"].append(time.perf_counter() - start)
    return {k: round(statistics.median(v), 4) for k, v in times.items()}


def _store(served: ServedVault, path: Path) -> str:
    with _client(served.server.base_url) as client:
        answer = _upload(
            client,
            "/v1/documents",
            path,
            {"case": served.case_id, "title": "bench"},
            served.headers,
        )
    if answer.status_code != 201:
        raise RuntimeError(f"upload: {answer.status_code} {answer.text[:300]}")
    doc_id: str = answer.json()["id"]
    return doc_id


def run(ctx: Context) -> list[Result]:
    served = start_vault(ctx.workdir / "vault", max_upload=GiB + MiB)
    try:
        return _run(ctx, served)
    finally:
        stop_server(served.server)


def _run(ctx: Context, served: ServedVault) -> list[Result]:
    passphrase = ctx.workdir / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    server_side, e2e = _env(ctx.workdir / "cfg-server"), _env(ctx.workdir / "cfg-e2e")
    login_times: dict[str, list[float]] = {"server-side": [], "end-to-end": []}
    for _ in range(ctx.repeat):
        login_times["server-side"].append(_vault(server_side, *_login_args(served, passphrase)))
        login_times["end-to-end"].append(
            _vault(e2e, *_login_args(served, passphrase, "--end-to-end"))
        )
    http = _http_logins(served.server.base_url, ctx.repeat)

    src, small = ctx.workdir / "e2e-1GiB.bin", ctx.workdir / "e2e-1MiB.bin"
    say("e2e: writing 1 GiB of random bytes and uploading it")
    random_file(src, GiB)
    random_file(small, MiB)
    doc_id, small_id = (_store(served, path) for path in (src, small))
    out = ctx.workdir / "out"
    out.mkdir()
    samples: dict[str, list[float]] = {"cp": [], "server-side": [], "end-to-end": []}
    rss, rss_small = RssSampler(os.getpid()), RssSampler(os.getpid())
    _vault(e2e, "docs", "get", small_id, "-o", str(out / "small.bin"), rss=rss_small)
    for _ in range(ctx.repeat):
        for name in samples:
            target = out / f"{name}.bin"
            target.unlink(missing_ok=True)
            if name == "cp":
                start = time.perf_counter()
                cp_fsync(src, target)
                samples[name].append(time.perf_counter() - start)
            else:
                env = e2e if name == "end-to-end" else server_side
                watch = rss if name == "end-to-end" else None
                samples[name].append(
                    _vault(env, "docs", "get", doc_id, "-o", str(target), rss=watch)
                )
            target.unlink()
    seconds = {k: statistics.median(v) for k, v in samples.items()}
    growth = (rss.peak_rss - rss_small.peak_rss) / MiB
    download = Result(
        "e2e-download-1GiB",
        seconds["end-to-end"],
        GiB,
        {"server-side": seconds["server-side"], "cp": seconds["cp"]},
        rss_growth_mib=growth,
        details={
            "runs_s": {k: [round(s, 3) for s in v] for k, v in samples.items()},
            "ratio_to_server_side": round(seconds["end-to-end"] / seconds["server-side"], 2),
            "cli_rss_peak_mib": {
                "1MiB": round(rss_small.peak_rss / MiB, 1),
                "1GiB": round(rss.peak_rss / MiB, 1),
            },
            "targets": {
                "within_2x_server_side": seconds["end-to-end"]
                <= _TARGET_RATIO * seconds["server-side"]
            },
        },
    )
    uploads: dict[str, list[float]] = {"server-side": [], "end-to-end": []}
    for _ in range(ctx.repeat):
        for name in uploads:
            env = e2e if name == "end-to-end" else server_side
            put = ("docs", "put", str(src), "--case", served.case_id, "--title", "bench")
            uploads[name].append(_vault(env, *put))
    put_seconds = {k: statistics.median(v) for k, v in uploads.items()}
    upload = Result(
        "e2e-upload-1GiB",
        put_seconds["end-to-end"],
        GiB,
        {"server-side": put_seconds["server-side"]},
        details={
            "runs_s": {k: [round(s, 3) for s in v] for k, v in uploads.items()},
            "ratio_to_server_side": round(
                put_seconds["end-to-end"] / put_seconds["server-side"], 2
            ),
        },
    )
    logins = [
        Result(
            f"login-{kind}",
            statistics.median(times),
            None,
            {},
            details={
                "runs_s": [round(t, 3) for t in times],
                "login_http_s": http[kind],
                "argon2id": "64 MiB, 3 passes, 4 lanes",
            },
        )
        for kind, times in login_times.items()
    ]
    return [download, upload, *logins]
