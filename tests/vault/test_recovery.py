"""The organisation recovery key: SLIP-39 k-of-n shares that rebuild it, error messages that never
quote a share, and reading a document with the rebuilt key (on SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import re
import uuid

import pytest

from tests.conftest import World
from vault import crypto
from vault.errors import IntegrityError, InvalidInput
from vault.services.documents import NewDocument
from vault.services.recovery import RecoveryShares, combine_shares, split_new_recovery_key

CONTENT = b"Minutes of the 14 March meeting, annotated by the source. " * 200


def key_id(shares: RecoveryShares) -> str:
    return shares.key.public_key().key_id


def refused(mnemonics: list[str]) -> str:
    """Combine shares that must not combine; return the message."""
    with pytest.raises(InvalidInput) as exc_info:
        combine_shares(mnemonics)
    return str(exc_info.value)


def assert_quotes_no_share(message: str, shares: RecoveryShares, unrelated_message: str) -> None:
    """The message says nothing about the shares it was given.

    shamir-mnemonic's own messages quote a share's first words; ours must not. A few SLIP-39
    words ("rebuild", "belong", "together") are also plain English, so the test asks that the
    message be the one given for unrelated shares, and that no share word appear in it that
    does not appear in that unrelated message too.
    """
    assert message == unrelated_message
    fixed = set(re.findall(r"[a-z]+", unrelated_message.lower()))
    for mnemonic in shares.mnemonics:
        words = mnemonic.split()
        for first, second in itertools.pairwise(words):
            assert f"{first} {second}" not in message.lower()
        leaked = {w for w in words if re.search(rf"\b{w}\b", message.lower())} - fixed
        assert not leaked


@pytest.fixture(scope="module")
def two_of_three() -> RecoveryShares:
    return split_new_recovery_key(threshold=2, shares=3)


@pytest.fixture(scope="module")
def three_of_five() -> RecoveryShares:
    return split_new_recovery_key(threshold=3, shares=5)


@pytest.fixture(scope="module")
def other_two_of_three() -> RecoveryShares:
    return split_new_recovery_key(threshold=2, shares=3)


@pytest.mark.parametrize(("threshold", "count"), [(1, 1), (2, 3), (3, 5), (16, 16)])
def test_split_makes_count_shares_with_threshold(threshold: int, count: int) -> None:
    shares = split_new_recovery_key(threshold=threshold, shares=count)
    assert shares.threshold == threshold
    assert len(shares.mnemonics) == count
    assert len(set(shares.mnemonics)) == count
    # SLIP-39 shares of a 256-bit secret are 33 words.
    assert all(len(m.split()) == 33 for m in shares.mnemonics)


def test_each_split_is_a_new_key(
    two_of_three: RecoveryShares, other_two_of_three: RecoveryShares
) -> None:
    assert key_id(two_of_three) != key_id(other_two_of_three)


@pytest.mark.parametrize("fixture", ["two_of_three", "three_of_five"])
def test_any_threshold_shares_rebuild_the_key(fixture: str, request: pytest.FixtureRequest) -> None:
    shares: RecoveryShares = request.getfixturevalue(fixture)
    combos = list(itertools.combinations(shares.mnemonics, shares.threshold))
    assert len(combos) in (3, 10)
    for combo in combos:
        for ordering in (combo, combo[::-1]):
            assert combine_shares(list(ordering)).public_key().key_id == key_id(shares)


def test_one_of_one_rebuilds_the_key() -> None:
    shares = split_new_recovery_key(threshold=1, shares=1)
    assert combine_shares(shares.mnemonics).public_key().key_id == key_id(shares)


@pytest.mark.parametrize("fixture", ["two_of_three", "three_of_five"])
def test_more_than_threshold_shares_rebuild_the_key(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    shares: RecoveryShares = request.getfixturevalue(fixture)
    assert combine_shares(shares.mnemonics).public_key().key_id == key_id(shares)


def test_shares_are_accepted_as_people_type_them(two_of_three: RecoveryShares) -> None:
    typed = [
        "  " + two_of_three.mnemonics[0].upper().replace(" ", "   ") + "\n",
        two_of_three.mnemonics[2].replace(" ", "\n"),
        "   ",  # a blank line between two pasted shares
    ]
    assert combine_shares(typed).public_key().key_id == key_id(two_of_three)


def test_the_same_share_twice_is_not_two_shares(
    two_of_three: RecoveryShares, other_two_of_three: RecoveryShares
) -> None:
    message = refused([two_of_three.mnemonics[1]] * 2)
    unrelated = refused(other_two_of_three.mnemonics[:1])
    assert_quotes_no_share(message, two_of_three, unrelated)


@pytest.mark.parametrize("fixture", ["two_of_three", "three_of_five"])
def test_fewer_than_threshold_shares_are_refused_without_quoting_them(
    fixture: str, request: pytest.FixtureRequest, other_two_of_three: RecoveryShares
) -> None:
    shares: RecoveryShares = request.getfixturevalue(fixture)
    unrelated = refused(other_two_of_three.mnemonics[:1])
    assert "not enough" in unrelated
    for combo in itertools.combinations(shares.mnemonics, shares.threshold - 1):
        assert_quotes_no_share(refused(list(combo)), shares, unrelated)


def test_shares_of_two_keys_do_not_combine(
    two_of_three: RecoveryShares,
    other_two_of_three: RecoveryShares,
    three_of_five: RecoveryShares,
) -> None:
    unrelated = refused([three_of_five.mnemonics[0], other_two_of_three.mnemonics[0]])
    assert "do not belong together" in unrelated
    mixes = [
        [two_of_three.mnemonics[0], other_two_of_three.mnemonics[1]],
        [other_two_of_three.mnemonics[2], two_of_three.mnemonics[2]],
        [two_of_three.mnemonics[0], three_of_five.mnemonics[0]],
        [*three_of_five.mnemonics[:2], two_of_three.mnemonics[0]],
    ]
    for mix in mixes:
        message = refused(mix)
        for shares in (two_of_three, other_two_of_three, three_of_five):
            assert_quotes_no_share(message, shares, unrelated)


def test_a_mistyped_share_is_refused_without_quoting_it(
    two_of_three: RecoveryShares, three_of_five: RecoveryShares, other_two_of_three: RecoveryShares
) -> None:
    unrelated = refused([three_of_five.mnemonics[0], other_two_of_three.mnemonics[0]])
    words = two_of_three.mnemonics[1].split()
    words[-1] = "academic" if words[-1] != "academic" else "acid"  # breaks the RS1024 checksum
    message = refused([two_of_three.mnemonics[0], " ".join(words)])
    assert_quotes_no_share(message, two_of_three, unrelated)
    assert refused([]) == unrelated
    assert refused(["not a share at all"]) == unrelated


@pytest.mark.parametrize(
    ("threshold", "count"),
    [(0, 3), (-1, 3), (4, 3), (1, 3), (1, 2), (2, 1), (0, 0), (2, 17), (17, 17), (3, 2)],
)
def test_invalid_threshold_and_count_are_refused(threshold: int, count: int) -> None:
    with pytest.raises(InvalidInput):
        split_new_recovery_key(threshold=threshold, shares=count)


def test_repr_never_shows_shares_or_the_key(two_of_three: RecoveryShares) -> None:
    text = repr(two_of_three)
    assert text == "RecoveryShares(threshold=2, shares=3)"
    for mnemonic in two_of_three.mnemonics:
        # Three words in a row (single words can be substrings of "threshold" or "shares").
        assert " ".join(mnemonic.split()[:3]) not in text
    assert two_of_three.key.seed.hex() not in text


# -- reading documents with the rebuilt key (SQLite and PostgreSQL) ----------------------------


def store(world: World) -> uuid.UUID:
    info = world.vault.documents.add(
        world.journalist,
        case_id=world.case_id,
        content=[CONTENT[i : i + 1000] for i in range(0, len(CONTENT), 1000)],
        document=NewDocument(title="minutes", filename="minutes.txt"),
    )
    return info.id


def test_init_result_never_shows_the_shares(world: World) -> None:
    text = repr(world.init)
    assert world.init.recovery_key_id in text
    for mnemonic in world.init.mnemonics:
        assert " ".join(mnemonic.split()[:2]) not in text


def test_any_two_shares_read_a_document(world: World) -> None:
    doc_id = store(world)
    for pair in itertools.combinations(world.init.mnemonics, 2):
        key = combine_shares(list(pair))
        assert key.public_key().key_id == world.init.recovery_key_id
        info, stream = world.vault.documents.open_with_recovery_key(key, doc_id)
        assert b"".join(stream) == CONTENT
        assert info.metadata is not None
        assert info.metadata.title == "minutes"
        assert info.metadata.filename == "minutes.txt"


def test_one_share_reads_nothing(world: World) -> None:
    store(world)
    for mnemonic in world.init.mnemonics:
        with pytest.raises(InvalidInput):
            combine_shares([mnemonic])


def test_a_key_that_is_not_the_recovery_key_is_refused(world: World) -> None:
    doc_id = store(world)
    strangers = [
        crypto.generate_private_key(),
        # A member's own key is a reader of the document, but not the recovery key.
        world.journalist.require_key(),
    ]
    for stranger in strangers:
        with pytest.raises(IntegrityError) as exc_info:
            world.vault.documents.open_with_recovery_key(stranger, doc_id)
        assert exc_info.value.reason == "key-id"
