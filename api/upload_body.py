"""A streamed upload's body, handed from the event loop to the worker thread that stores it.

Shared by the two upload routes: the server-side one (plaintext, encrypted as it arrives) and
the end-to-end one (ciphertext, checked as it arrives). Either way the body goes from the
socket to the blob store without being gathered, spooled or written anywhere in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar
from uuid import UUID

import anyio
import anyio.from_thread
from fastapi import Request

from api.limits import UploadGate
from api.multipart import boundary_of
from vault.errors import LimitExceeded, UnsupportedType

__all__ = ["FRAMING_ALLOWANCE", "multipart_boundary", "store_upload"]

# Multipart framing around the file: boundaries, part headers and the text fields.
FRAMING_ALLOWANCE = 256 * 1024
# How much of the request body the event loop gathers before handing it to the worker thread.
_PULL_BYTES = 1 << 20

T = TypeVar("T")


def multipart_boundary(
    request: Request, limit: int, *, allowance: int = FRAMING_ALLOWANCE
) -> bytes:
    """The body's multipart boundary, refusing early what cannot be accepted: another media
    type (415) or a declared length over ``limit`` plus the framing (413)."""
    boundary = boundary_of(request.headers.get("content-type", ""))
    if boundary is None:
        raise UnsupportedType("send the document as multipart/form-data")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + allowance:
        raise LimitExceeded(f"the upload is larger than the limit of {limit} bytes")
    return boundary


async def store_upload(
    request: Request,
    uploads: UploadGate,
    user_id: UUID,
    store: Callable[[Iterator[bytes]], T],
) -> T:
    """Run ``store(body)`` on an upload thread, ``body`` yielding the request's bytes as they
    arrive. An upload holds its thread while it waits for the client's bytes: only so many at
    once, and on threads of their own, so that slow ones never take those other requests
    need."""
    body = request.stream()

    async def next_pieces() -> list[bytes]:
        # uvicorn hands the body over in pieces of 64-256 KiB, and every hand-over to the
        # worker thread is a round trip through the event loop (a self-pipe write and two
        # thread switches, ~30 us). Taking about a segment's worth per trip makes that cost
        # per MiB rather than per socket read. The pieces are passed on as they are, not
        # joined, to spare a copy; memory stays bounded by _PULL_BYTES plus one piece.
        # An empty list means the body has ended.
        pieces: list[bytes] = []
        size = 0
        with uploads.receiving():
            while size < _PULL_BYTES:
                try:
                    piece = await body.__anext__()
                except StopAsyncIteration:
                    break
                if piece:
                    pieces.append(piece)
                    size += len(piece)
        return pieces

    def pull() -> Iterator[bytes]:
        while pieces := anyio.from_thread.run(next_pieces):
            yield from pieces

    def work() -> T:
        with uploads.working():
            return store(pull())

    with uploads.admit(user_id):
        return await anyio.to_thread.run_sync(work, limiter=uploads.threads)
