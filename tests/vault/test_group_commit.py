"""Group commit, alone: batching, each writer's own result, and one item's failure kept its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from vault.services.group_commit import GroupCommit


class Poison(Exception):
    pass


class Writer:
    """A ``write`` that records its batches and can be held at its first call."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.hold.set()

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.holding.set()
        self.hold.wait(10)
        if -1 in items:
            raise Poison("an item of this batch is refused")
        self.batches.append(list(items))
        return [item * 10 for item in items]


def _submit_all(group: GroupCommit[int, int], items: list[int]) -> dict[int, int | BaseException]:
    outcomes: dict[int, int | BaseException] = {}

    def one(item: int) -> None:
        try:
            outcomes[item] = group.submit(item)
        except BaseException as exc:
            outcomes[item] = exc

    threads = [threading.Thread(target=one, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    return outcomes if _join(threads) else {}


def _join(threads: list[threading.Thread]) -> bool:
    for thread in threads:
        thread.join(10)
    return not any(thread.is_alive() for thread in threads)


def _waiting(group: GroupCommit[int, int], count: int) -> None:
    deadline = time.monotonic() + 10
    while len(group._waiting) < count:
        assert time.monotonic() < deadline, "the writers never queued"
        time.sleep(0.001)


def test_one_writer_is_written_alone() -> None:
    writer = Writer()
    assert GroupCommit(writer).submit(4) == 40
    assert writer.batches == [[4]]


def test_writers_arriving_during_a_commit_share_the_next() -> None:
    writer = Writer()
    group = GroupCommit(writer)
    writer.hold.clear()
    first = threading.Thread(target=group.submit, args=(0,))
    first.start()
    assert writer.holding.wait(10)  # the first writer leads, and its commit is "in progress"
    items = list(range(1, 9))
    outcomes: dict[int, int | BaseException] = {}
    done = threading.Thread(target=lambda: outcomes.update(_submit_all(group, items)))
    done.start()
    _waiting(group, len(items))
    writer.hold.set()
    first.join(10)
    done.join(10)
    assert outcomes == {item: item * 10 for item in items}
    assert writer.batches == [[0], sorted(writer.batches[1])]
    assert sorted(writer.batches[1]) == items


def test_a_batch_is_at_most_max_batch_items() -> None:
    writer = Writer()
    group = GroupCommit(writer, max_batch=3)
    with group._leader:  # a commit in progress: all ten queue
        outcomes: dict[int, int | BaseException] = {}
        done = threading.Thread(target=lambda: outcomes.update(_submit_all(group, list(range(10)))))
        done.start()
        _waiting(group, 10)
    done.join(10)
    assert outcomes == {item: item * 10 for item in range(10)}
    assert all(len(batch) <= 3 for batch in writer.batches)
    assert sorted(item for batch in writer.batches for item in batch) == list(range(10))


def test_a_failing_item_fails_alone_and_the_others_commit() -> None:
    writer = Writer()
    group = GroupCommit(writer)
    items = [1, 2, -1, 3, 4]
    with group._leader:
        outcomes: dict[int, int | BaseException] = {}
        done = threading.Thread(target=lambda: outcomes.update(_submit_all(group, items)))
        done.start()
        _waiting(group, len(items))
    done.join(10)
    assert isinstance(outcomes.pop(-1), Poison)
    assert outcomes == {1: 10, 2: 20, 3: 30, 4: 40}
    # The failed batch committed nothing; each other item was then written on its own.
    assert sorted(writer.batches) == [[1], [2], [3], [4]]


def test_a_lone_failure_reaches_its_writer() -> None:
    with pytest.raises(Poison):
        GroupCommit(Writer()).submit(-1)


def test_an_interrupted_leader_fails_its_whole_batch_and_later_writers_go_on() -> None:
    calls = []

    def write(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            raise KeyboardInterrupt
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(write)
    with pytest.raises(KeyboardInterrupt):
        group.submit(1)
    assert group.submit(2) == 2
    assert calls == [[1], [2]]


def test_a_leader_interrupted_while_writing_items_one_by_one_leaves_none_waiting() -> None:
    """The group failed, and the leader's thread is torn down during the first retry: every
    other writer of the group is told, none waits for ever."""
    calls: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if not items:  # as the vault's own writer: an empty group commits nothing
            return []
        if len(items) > 1:
            raise Poison("the group is refused")
        raise KeyboardInterrupt

    group: GroupCommit[int, int] = GroupCommit(write)
    with group._leader:
        outcomes: dict[int, int | BaseException] = {}
        done = threading.Thread(target=lambda: outcomes.update(_submit_all(group, [1, 2, 3])))
        done.start()
        _waiting(group, 3)
    done.join(10)
    assert not done.is_alive()
    assert sorted(outcomes) == [1, 2, 3]
    assert all(isinstance(outcome, KeyboardInterrupt) for outcome in outcomes.values())
    assert len(calls) == 2  # the group, then the first retry, which was interrupted


def test_a_write_that_answers_for_too_few_items_fails_them_all_and_blocks_nobody() -> None:
    group: GroupCommit[int, int] = GroupCommit(lambda items: [])
    with pytest.raises(ValueError, match=r"zip\(\) argument 2 is shorter"):
        group.submit(1)
    assert group._waiting == []
