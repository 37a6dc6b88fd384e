"""Group commit: concurrent writers of one process share a transaction, and its fsync.

Every upload ends in a small transaction (the document's row, its wrapped keys, its access-log
entry) whose commit is an fsync, and whose log entry holds the appenders' lock until then. Eight
clients uploading at once would otherwise queue for that lock one commit at a time; SQLite's
writers would even poll for it, sleeping between tries. Here the first writer to find no commit
in progress writes every item waiting at that moment in one transaction (a *leader*); those who
arrive while it commits wait, and the next of them writes all of theirs together. A writer's
call returns only once the transaction holding its item has committed: acknowledged still means
durable, for each item.

If a batch of several items fails, each is written again on its own, so that one item's error
(its case deleted meanwhile, say) is that item's alone and never another's.

The pattern is the one databases use for their own log (PostgreSQL's ``commit_delay``, InnoDB's
group commit); no maintained library offers it for an application-level transaction, hence
these few lines.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 32
"""Items per transaction at most: enough to amortise a commit over every client a server
serves at once, few enough that a leader does not hold the appenders' lock for long."""


class _Slot(Generic[T, R]):
    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """``submit(item)`` writes ``item`` with whatever else is waiting, by calling ``write``
    with a batch of items; ``write`` returns one result per item, in order, after committing
    them all, or raises and commits none."""

    def __init__(
        self, write: Callable[[Sequence[T]], Sequence[R]], *, max_batch: int = MAX_BATCH
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._waiting: list[_Slot[T, R]] = []
        self._queue = threading.Lock()
        self._leader = threading.Lock()

    def submit(self, item: T) -> R:
        """Write ``item`` (with others waiting meanwhile); return its result once committed,
        or raise what writing it raised."""
        slot: _Slot[T, R] = _Slot(item)
        with self._queue:
            self._waiting.append(slot)
        while True:
            with self._leader:
                if slot.done:  # this thread led its batch, or a leader wrote it meanwhile
                    break
                with self._queue:
                    batch = self._waiting[: self._max_batch]
                    del self._waiting[: self._max_batch]
                self._lead(batch)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]  # set with done, unless error is

    def _lead(self, batch: list[_Slot[T, R]]) -> None:
        try:
            self._write_group(batch)
        except BaseException as exc:
            # The leader's thread is being torn down (an interrupt) or ``write`` broke its
            # contract: no writer of the group is left waiting for ever, each not yet settled
            # hears what stopped it.
            for slot in batch:
                if not slot.done:
                    _settle(slot, error=exc)
            raise

    def _write_group(self, batch: list[_Slot[T, R]]) -> None:
        try:
            results = self._write([slot.item for slot in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], error=exc)
                return
            # Which item failed is unknown: each is written again on its own.
            for slot in batch:
                try:
                    (result,) = self._write([slot.item])
                except Exception as own:
                    _settle(slot, error=own)
                else:
                    _settle(slot, result=result)
            return
        for slot, result in zip(batch, results, strict=True):
            _settle(slot, result=result)


def _settle(
    slot: _Slot[T, R], *, result: R | None = None, error: BaseException | None = None
) -> None:
    slot.result = result
    slot.error = error
    slot.done = True
