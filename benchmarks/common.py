"""What every benchmark suite shares: the run's settings, timing by medians, the result record,
the machine description, and the Markdown table.

The machines these run on are shared and noisy, so absolute times mean little on their own:
every case is timed as the median of several runs and compared, *in the same run*, with the
tools it replaces (``peers``). The table reports ratios against each peer.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "Context",
    "GiB",
    "KiB",
    "MiB",
    "Result",
    "RssSampler",
    "cp_fsync",
    "human_size",
    "machine",
    "markdown",
    "median_seconds",
    "percentile",
    "say",
]

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


@dataclass(frozen=True)
class Context:
    """One run's settings. ``workdir`` is a fresh directory on the disk being measured (large
    files go there, never to a tmpfs); ``database_url`` a PostgreSQL server for the cases that
    compare SQLite with it, or ``None`` to skip those."""

    quick: bool
    workdir: Path
    database_url: str | None
    repeat: int

    def sizes(self) -> list[int]:
        """The content sizes: 1 MiB, 100 MiB, 1 GiB (all of them in --quick too)."""
        return [MiB, 100 * MiB, GiB]


@dataclass
class Result:
    """One measured case: ``vault_s`` the median seconds Source Vault took, ``peers`` the
    median seconds of each peer tool on the same input in the same run."""

    name: str
    vault_s: float
    size_bytes: int | None = None
    peers: dict[str, float] = field(default_factory=dict)
    rss_growth_mib: float | None = None
    # Further figures of the case (operations per second, latency percentiles, targets).
    details: dict[str, Any] = field(default_factory=dict)
    # The suite that measured it (set by the runner), which the table groups by.
    suite: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "size_bytes": self.size_bytes,
            "vault_s": round(self.vault_s, 6),
            "peers": {k: round(v, 6) for k, v in self.peers.items()},
        }
        if self.rss_growth_mib is not None:
            data["rss_growth_mib"] = round(self.rss_growth_mib, 1)
        if self.details:
            data["details"] = self.details
        return data


def say(message: str) -> None:
    """Progress on stderr, so that stdout carries only the table."""
    print(message, file=sys.stderr, flush=True)


def median_seconds(
    run: Callable[[], object],
    *,
    repeat: int,
    setup: Callable[[], object] | None = None,
    warmup: bool = False,
) -> float:
    """The median wall-clock seconds of ``repeat`` calls of ``run``; ``setup`` runs before each
    (untimed), e.g. to delete the previous output."""
    if warmup:
        if setup is not None:
            setup()
        run()
    samples = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class RssSampler:
    """Peak resident memory of a process while a block runs, sampled every few milliseconds
    (psutil), and its growth over the resident size at the start."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.start_rss = 0
        self.peak_rss = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self._process.memory_info().rss
            except psutil.Error:
                return
            self.peak_rss = max(self.peak_rss, rss)
            self._stop.wait(self._interval)

    @contextmanager
    def watching(self) -> Iterator[RssSampler]:
        self.start_rss = self.peak_rss = self._process.memory_info().rss
        self._stop.clear()
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak_rss - self.start_rss) / MiB


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} B"


def _version(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout or done.stderr).splitlines()[0].strip() if done.returncode == 0 else None


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import cryptography

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / GiB, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "cryptography": cryptography.__version__,
        "openssl": _openssl_version(),
        "gpg": _version(["gpg", "--version"]),
        "cp": _version(["cp", "--version"]),
    }


def _openssl_version() -> str:
    from cryptography.hazmat.backends.openssl.backend import backend

    return str(backend.openssl_version_text())


def markdown(results: list[Result]) -> str:
    """The results as Markdown, one table per suite: seconds, and the ratio to each of that
    suite's peers (vault / peer: below 1 means Source Vault was faster)."""
    suites: dict[str, list[Result]] = {}
    for result in results:
        suites.setdefault(result.suite, []).append(result)
    return "\n\n".join(
        (f"**{suite}**\n\n" if suite else "") + _table(rows) for suite, rows in suites.items()
    )


def _table(results: list[Result]) -> str:
    peers = sorted({p for r in results for p in r.peers})
    rss = any(r.rss_growth_mib is not None for r in results)
    head = ["case", "size", "vault (s)", *[f"{p} (s)" for p in peers]]
    head += [f"vault/{p}" for p in peers] + (["RSS growth"] if rss else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r.name, human_size(r.size_bytes), f"{r.vault_s:.4g}"]
        cells += [f"{r.peers[p]:.4g}" if p in r.peers else "" for p in peers]
        cells += [f"{r.vault_s / r.peers[p]:.2f}x" if r.peers.get(p) else "" for p in peers]
        if rss:
            cells.append(f"{r.rss_growth_mib:.0f} MiB" if r.rss_growth_mib is not None else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cp_fsync(src: Path, dst: Path) -> None:
    """``cp`` and an fsync of the copy: the peer every upload and store figure is set against."""
    subprocess.run(["cp", str(src), str(dst)], check=True)  # noqa: S603, S607 - coreutils
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
