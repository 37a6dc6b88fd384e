"""The ``login`` suite: what a login costs the user who waits for it, and what fifty at once
cost the server.

How:

- A vault is made in-process in ``ctx.workdir`` (SQLite) with an administrator whose key is
  derived with Argon2id at the vault's *default* parameters (``Settings()``: what users of a
  stock vault wait for; here the default is also the floor, RFC 9106's 64 MiB, 3 passes, 4
  lanes), and served by ``vault serve --workers 1`` with default settings (``benchmarks.server``),
  so the KDF bound is the default ``kdf_concurrency``.
- ``login-one``: ``POST /v1/auth/login`` one after another, after two untimed ones; ``vault_s``
  is the median of ``max(ctx.repeat, 5)``. Peer ``argon2id``: one bare derivation with the same
  parameters in this process (``vault.crypto.derive_passphrase_keys``) — the part of a login no
  implementation can skip.
- ``login-burst-50``: 50 clients released together by a barrier, each posting one login on its
  own connection; ``vault_s`` is the wall time until the last answer (median of the rounds: 1,
  ``--quick`` too, 2 otherwise). Details: p50/p99 latency, the status codes (503 is the KDF
  bound refusing after its 30 s queue), and the server's peak resident growth
  (``common.RssSampler`` on the server's pid, from just before the burst). Peer ``argon2id``:
  50 bare derivations, ``kdf_concurrency`` at a time, in this process — the burst's floor.
- ``details["targets"]``: the burst's peak growth within ``kdf_concurrency`` x Argon2id memory
  + 128 MiB (the allowance ``tests/api/test_login_burst.py`` uses for everything else), and no
  login refused (every one queued and answered 200).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.common import Context, MiB, Result, RssSampler, say
from benchmarks.server import LiveServer, latency_details, serve
from vault import crypto
from vault.initialise import init_vault
from vault.settings import Settings

__all__ = ["run"]

BURST = 50
OVERHEAD_MIB = 128
PASSPHRASE = "benchmark lantern orbit meadow 42"  # noqa: S105 - a throwaway test vault
_BODY = {"username": "admin", "passphrase": PASSPHRASE}


def _bare_derivations(settings: Settings, count: int, parallel: int) -> float:
    """Seconds for ``count`` Argon2id derivations at the vault's parameters, ``parallel`` at
    a time."""
    salt = crypto.new_passphrase_salt()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(
            pool.map(
                lambda _: crypto.derive_passphrase_keys(PASSPHRASE, salt, settings.argon2),
                range(count),
            )
        )
    return time.perf_counter() - start


def _login_one(server: LiveServer, settings: Settings, repeat: int) -> Result:
    samples = []
    with server.client() as client:
        for n in range(repeat + 2):
            start = time.perf_counter()
            response = client.post("/v1/auth/login", json=_BODY)
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                raise RuntimeError(f"login failed: {response.status_code} {response.text[:300]}")
            if n >= 2:  # the first two pay first-use costs
                samples.append(elapsed)
    peer = statistics.median(_bare_derivations(settings, 1, 1) for _ in range(repeat))
    return Result(
        "login-one",
        statistics.median(samples),
        peers={"argon2id": peer},
        details={
            "logins": repeat,
            "min_ms": round(min(samples) * 1000, 1),
            "max_ms": round(max(samples) * 1000, 1),
            "argon2_memory_mib": settings.argon2_memory_kib // 1024,
            "argon2_time_cost": settings.argon2_time_cost,
            "argon2_lanes": settings.argon2_lanes,
        },
    )


def _burst(server: LiveServer) -> tuple[float, list[float], Counter[int], float]:
    """One burst: wall seconds, each login's seconds, the status counts, the peak RSS growth."""
    barrier = threading.Barrier(BURST + 1)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def one() -> None:
        with server.client() as client:
            client.get("/healthz")  # connect before the barrier
            barrier.wait()
            start = time.perf_counter()
            status = client.post("/v1/auth/login", json=_BODY).status_code
            elapsed = time.perf_counter() - start
        with lock:
            latencies.append(elapsed)
            statuses[status] += 1

    threads = [threading.Thread(target=one) for _ in range(BURST)]
    for thread in threads:
        thread.start()
    sampler = RssSampler(server.pid)
    with sampler.watching():
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
    return wall, latencies, statuses, sampler.growth_mib


def _login_burst(server: LiveServer, settings: Settings, rounds: int) -> Result:
    walls: list[float] = []
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    growth = 0.0
    for n in range(rounds):
        say(f"login: burst of {BURST}, round {n + 1} of {rounds}")
        wall, times, counts, grew = _burst(server)
        walls.append(wall)
        latencies += times
        statuses += counts
        growth = max(growth, grew)
    slots = settings.kdf_concurrency
    argon2_mib = settings.argon2_memory_kib * 1024 / MiB
    bound = slots * argon2_mib + OVERHEAD_MIB
    say(f"login: {BURST} bare derivations, {slots} at a time")
    peer = _bare_derivations(settings, BURST, slots)
    details: dict[str, Any] = {
        **latency_details(latencies, sum(walls)),
        "rounds": rounds,
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "refused_503": statuses[503],
        "kdf_concurrency": slots,
        "argon2_memory_mib": argon2_mib,
        "rss_bound_mib": bound,
        "targets": {
            "rss_growth_within_kdf_bound": growth <= bound,
            "every_login_answered_200": statuses[200] == rounds * BURST,
        },
    }
    return Result(
        f"login-burst-{BURST}",
        statistics.median(walls),
        peers={"argon2id": peer},
        rss_growth_mib=growth,
        details=details,
    )


def run(ctx: Context) -> list[Result]:
    """The login suite (SQLite; the login's cost is the key derivation, not the database)."""
    root = ctx.workdir / "login"
    root.mkdir()
    data_dir = root / "data"
    settings = Settings(data_dir=data_dir, totp_required_roles="")
    init_vault(settings, admin="admin", passphrase=PASSPHRASE)
    with serve(data_dir) as server:
        say("login: one at a time")
        one = _login_one(server, settings, max(ctx.repeat, 5))
        burst = _login_burst(server, settings, 1 if ctx.quick else 2)
    return [one, burst]
