"""``recovery.json``: the recovery key's SLIP-0039 shares and the share files (docs/format.md
§6.1).

SLIP-0039 splitting draws random bytes (the set's identifier, the random shares, the digest's
random part); here the library's random source is replaced by a fixed stream for the duration of
the split, so ``vault.services.recovery.split_recovery_key`` writes the same mnemonics on every
run of this library version. Another implementation checks the combine direction (shares ->
seed), which does not depend on how the shares were drawn.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from shamir_mnemonic import shamir

from tests.vectors.common import RECIPIENT_SEED, check, expect_failure, header
from vault.crypto import PrivateKey
from vault.errors import InvalidInput
from vault.initialise import write_shares
from vault.services import recovery

SEED = RECIPIENT_SEED
OTHER_SEED = bytes.fromhex("c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf")


def _stream(label: bytes) -> Callable[[int], bytes]:
    """Bytes ``SHA-256(label || u32(0)) || SHA-256(label || u32(1)) || ...``, drawn in order."""
    counter = 0
    pending = b""

    def draw(size: int) -> bytes:
        nonlocal counter, pending
        while len(pending) < size:
            pending += hashlib.sha256(label + counter.to_bytes(4, "big")).digest()
            counter += 1
        out, pending = pending[:size], pending[size:]
        return out

    return draw


@contextlib.contextmanager
def _fixed_randomness(label: bytes) -> Iterator[None]:
    saved = shamir.RANDOM_BYTES
    shamir.RANDOM_BYTES = _stream(label)
    try:
        yield
    finally:
        shamir.RANDOM_BYTES = saved


def _split(seed: bytes, threshold: int, shares: int, label: bytes) -> recovery.RecoveryShares:
    with _fixed_randomness(label):
        return recovery.split_recovery_key(PrivateKey(seed), threshold=threshold, shares=shares)


def _share_files(shares: recovery.RecoveryShares) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_shares(shares, Path(tmp), [])
        return [
            {"name": path.name, "mode": oct(path.stat().st_mode & 0o777), "text": path.read_text()}
            for path in paths
        ]


def recovery_vectors() -> dict[str, Any]:
    valid = []
    for name, seed, threshold, count in [
        ("two-of-three", SEED, 2, 3),
        ("one-of-one", SEED, 1, 1),
        ("three-of-five", OTHER_SEED, 3, 5),
    ]:
        shares = _split(
            seed, threshold, count, b"source-vault test vectors slip39 " + name.encode()
        )
        mnemonics = shares.mnemonics
        rebuilt = recovery.combine_shares(mnemonics[-threshold:])
        check(rebuilt.seed == seed, f"recovery vector {name} does not combine")
        valid.append(
            {
                "id": name,
                "seed": seed.hex(),
                "key_id": PrivateKey(seed).public_key().key_id,
                "threshold": threshold,
                "shares": mnemonics,
                "share_files": _share_files(shares),
            }
        )
    two = valid[0]["shares"]
    invalid = [
        {
            "id": "too-few",
            "description": "one share of a two-of-three set",
            "shares": two[:1],
            "error": "InvalidInput",
        },
        {
            "id": "other-set",
            "description": "one share each of two sets of the same key (different identifiers)",
            "shares": [two[0], _split(SEED, 2, 3, b"another set").mnemonics[1]],
            "error": "InvalidInput",
        },
        {
            "id": "word-changed",
            "description": "the last word of one share replaced (checksum fails)",
            "shares": [two[0], " ".join([*two[1].split()[:-1], "academic"])],
            "error": "InvalidInput",
        },
    ]
    for vector in invalid:
        expect_failure("recovery", vector, _combine, InvalidInput)
    return {
        **header("recovery shares (SLIP-0039) and share files, docs/format.md section 6.1"),
        "note": "the split direction depends on the random bytes the SLIP-0039 library draws "
        "and in which order; check the combine direction (shares -> seed) elsewhere",
        "valid": valid,
        "invalid": invalid,
    }


def _combine(vector: dict[str, Any]) -> PrivateKey:
    return recovery.combine_shares(vector["shares"])
