"""Writing a blob on a second thread while the caller's thread produces it.

Storing a document is two halves of about equal cost: reading the upload, hashing the plaintext
and encrypting it; then hashing the ciphertext for the access log and writing it. Both halves
spend their time in code that releases the GIL (``hashlib`` on buffers over 2 KiB, AES-GCM,
file writes), so on two cores they overlap, and an upload takes the time of the slower half
instead of the sum (``benchmarks/content.py`` measures it).

The producer stays on the caller's thread because it may only be iterated there (the API's
upload body is pulled through ``anyio.from_thread``). Memory stays bounded: at most ``depth``
pieces wait between the threads. The pieces cross threads as they are, so a producer must not
change a piece after yielding it (the content stream yields fresh ``bytes``).

More threads (each hash on its own) measured slower on two cores, not faster: the work is
already split about evenly, and every further hand-off costs.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from vault.storage.blobstore import BlobStore, StoredBlob

__all__ = ["put_pipelined"]

DEPTH = 2
INLINE_BYTES = 1 << 20
"""A blob that ends within this many bytes is written on the caller's thread."""


class _ProducerFailed(Exception):
    """Raised on the writer's side when the producer stopped with an error, so that the blob
    store abandons (and removes) the partial blob."""


class _WriterStopped(Exception):
    """Raised on the producer's side when the writer stopped reading (it failed)."""


class _Handoff:
    """A bounded queue from one producer thread to one consumer thread, which the consumer
    iterates and either side can end."""

    def __init__(self, depth: int) -> None:
        self._items: deque[bytes] = deque()
        self._depth = depth
        self._ready = threading.Condition()
        self._finished = False
        self._aborted = False
        self._consumer_gone = False

    def put(self, item: bytes) -> None:
        with self._ready:
            while len(self._items) >= self._depth and not self._consumer_gone:
                self._ready.wait()
            if self._consumer_gone:
                raise _WriterStopped
            self._items.append(item)
            self._ready.notify_all()

    def finish(self) -> None:
        with self._ready:
            self._finished = True
            self._ready.notify_all()

    def abort(self) -> None:
        with self._ready:
            self._aborted = True
            self._items.clear()
            self._ready.notify_all()

    def stop_consuming(self) -> None:
        with self._ready:
            self._consumer_gone = True
            self._items.clear()
            self._ready.notify_all()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            with self._ready:
                while not (self._items or self._finished or self._aborted):
                    self._ready.wait()
                if self._aborted:
                    raise _ProducerFailed
                if not self._items:
                    return
                item = self._items.popleft()
                self._ready.notify_all()
            yield item


def put_pipelined(
    blobs: BlobStore,
    pieces: Iterable[bytes],
    *,
    observe: Callable[[bytes], None] | None = None,
    depth: int = DEPTH,
) -> StoredBlob:
    """``blobs.put(pieces)``, with ``pieces`` drawn on this thread and handed to ``put`` (and
    to ``observe``, e.g. a hash's ``update``) on a worker thread; a blob that ends within
    ``INLINE_BYTES`` is drawn whole and written on this thread instead.

    An error from ``pieces`` is raised here unchanged once the store has abandoned the partial
    blob; an error from the store (or ``observe``) is raised here once ``pieces`` is closed.
    """
    source = iter(pieces)
    # A small blob (most documents) is drawn whole first and written on this thread: a second
    # thread would overlap nothing, and starting it and handing over costs more (measured:
    # about 4 ms of a 64 KiB upload's 36 ms). Memory stays bounded by INLINE_BYTES.
    head: list[bytes] = []
    size = 0
    for piece in source:
        head.append(piece)
        size += len(piece)
        if size >= INLINE_BYTES:
            break
    else:
        return blobs.put(_observed(head, observe))
    return _pipelined(blobs, itertools.chain(head, source), source, observe, depth)


def _pipelined(
    blobs: BlobStore,
    pieces: Iterator[bytes],
    source: Iterator[bytes],
    observe: Callable[[bytes], None] | None,
    depth: int,
) -> StoredBlob:
    handoff = _Handoff(depth)

    def write() -> StoredBlob:
        try:
            return blobs.put(_observed(handoff, observe))
        finally:
            # Explicitly, not when the generator is collected: the error's traceback keeps it
            # alive, and the producer would wait for a reader that is gone.
            handoff.stop_consuming()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="blob-writer") as pool:
        writing = pool.submit(write)
        try:
            for piece in pieces:
                handoff.put(piece)
        except _WriterStopped:
            pass  # the writer's own error is raised by ``result()`` below
        except BaseException:
            handoff.abort()
            # Wait until the store has removed what it wrote; the producer's error wins.
            writing.exception()
            raise
        else:
            handoff.finish()
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        return writing.result()


def _observed(pieces: Iterable[bytes], observe: Callable[[bytes], None] | None) -> Iterator[bytes]:
    for piece in pieces:
        if observe is not None:
            observe(piece)
        yield piece
