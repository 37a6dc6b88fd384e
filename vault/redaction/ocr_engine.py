"""Tesseract kept loaded: a small pool of ``ocr_worker`` child processes, one per core.

Starting the ``tesseract`` program for every picture paid about 0.4 s of CPU to load the
models each time, as much as reading a light page; an export reads every page at least twice
(its text layer and its own check). The pool starts a worker the first time one is needed and
keeps it while it is used, so that cost is paid once per worker, not once per picture.

What the one-shot program gave, the pool keeps:

* **Isolation.** The engine runs in a child process: a fault there fails that picture
  (``InvalidInput``, as before) and the worker is replaced; the server carries on.
* **Nothing on disk.** Pixels go through a pipe, words come back through one.
* **A time limit** per picture; a worker that overruns it is killed.
* **Nothing kept that was read.** A worker holds no page between requests, and its standard
  error (which may quote what it read) goes nowhere.

Where the library cannot be loaded (a system whose Tesseract is not ``libtesseract.so.5``), the
first worker says so at start and ``read_tsv`` answers ``None`` from then on: the caller then
runs the program as before. A worker that fails to start for another reason (it died, or did
not answer in time) costs only that one picture its speed: the next picture tries again.

Workers leave after five idle minutes, or when this process ends.
"""

from __future__ import annotations

import atexit
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from vault.errors import InvalidInput

__all__ = ["read_tsv", "shut_down"]

_WORKER = Path(__file__).with_name("ocr_worker.py")
_START_TIMEOUT = 60.0  # loading the models takes under a second; a loaded machine, longer
# A worker leaves after IDLE_SECONDS (ocr_worker) without a request; one idle for half that is
# replaced rather than used, so a request never meets a worker on its way out.
_RETIRE_AFTER = 150.0


class _Gone(Exception):
    """The worker ended or broke the protocol."""


class _Worker:
    def __init__(self, arguments: Sequence[str], env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            [sys.executable, "-I", "-S", str(_WORKER), *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(env),
            close_fds=True,
        )
        self.last_used = time.monotonic()

    def started(self) -> bool:
        """Whether the engine loaded (``R``); ``False`` when the library is not there."""
        return self._receive(1, time.monotonic() + _START_TIMEOUT) == b"R"

    def ask(self, width: int, height: int, pixels: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        stdin = self.process.stdin
        if stdin is None:  # pragma: no cover - always a pipe (Popen above)
            raise _Gone()
        try:
            stdin.write(struct.pack(">II", width, height))
            stdin.write(pixels)
            stdin.flush()
        except (ValueError, OSError):  # a broken pipe: the worker is gone
            raise _Gone() from None
        (size,) = struct.unpack(">I", self._receive(4, deadline))
        answer = self._receive(size, deadline)
        self.last_used = time.monotonic()
        return answer

    def _receive(self, size: int, deadline: float) -> bytes:
        if self.process.stdout is None:  # pragma: no cover - always a pipe (Popen above)
            raise _Gone()
        fd = self.process.stdout.fileno()
        chunks: list[bytes] = []
        while size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError()
            chunk = os.read(fd, min(size, 1 << 20))
            if not chunk:
                raise _Gone()
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def stop(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass  # already broken: the worker is on its way out either way
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _Pool:
    """Idle workers for one set of arguments; a worker serves one picture at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, ...], list[_Worker]] = {}
        self._unavailable: set[tuple[str, ...]] = set()

    def take(self, arguments: tuple[str, ...], env: Mapping[str, str]) -> _Worker | None:
        with self._lock:
            idle = self._idle.setdefault(arguments, [])
            while idle:
                worker = idle.pop()
                if time.monotonic() - worker.last_used < _RETIRE_AFTER:
                    return worker
                worker.stop()
            if arguments in self._unavailable:
                return None
        worker = _Worker(arguments, env)
        try:
            if worker.started():
                return worker
            # The library or the languages' data is not there: it will not be later either.
            with self._lock:
                self._unavailable.add(arguments)
        except (TimeoutError, _Gone):
            pass  # this once (a machine too loaded to start it in time): the program reads
        worker.stop()
        return None

    def give_back(self, arguments: tuple[str, ...], worker: _Worker) -> None:
        with self._lock:
            self._idle.setdefault(arguments, []).append(worker)

    def clear(self) -> None:
        with self._lock:
            workers = [w for idle in self._idle.values() for w in idle]
            self._idle.clear()
            self._unavailable.clear()
        for worker in workers:
            worker.stop()

    def forget(self) -> None:
        """In a forked child: the parent's workers are the parent's; start afresh."""
        self._lock = threading.Lock()
        self._idle = {}


_pool = _Pool()
atexit.register(_pool.clear)
os.register_at_fork(after_in_child=_pool.forget)


def read_tsv(
    arguments: Sequence[str],
    image: tuple[int, int, bytes],
    *,
    env: Mapping[str, str],
    timeout: float,
    failure: str,
) -> bytes | None:
    """Tesseract's TSV for 8-bit grey ``image`` (width, height, pixels) read with ``arguments``
    (the languages, then ``name=value`` settings); ``None`` where no worker can load the
    library. ``InvalidInput(failure)`` if the worker fails or overruns ``timeout``. The caller
    bounds how many run at once."""
    key = tuple(arguments)
    worker = _pool.take(key, env)
    if worker is None:
        return None
    width, height, pixels = image
    try:
        answer = worker.ask(width, height, pixels, timeout)
    except (TimeoutError, _Gone):
        worker.process.kill()
        worker.stop()
        raise InvalidInput(failure) from None
    except BaseException:
        # Interrupted mid-exchange: its answer may still be on the way, so it cannot be reused.
        worker.process.kill()
        worker.stop()
        raise
    _pool.give_back(key, worker)
    return answer


def shut_down() -> None:
    """Stop every idle worker now (tests; a process that will not read again)."""
    _pool.clear()
