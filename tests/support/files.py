"""Files of random bytes for the tests and benchmarks that move large content."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["random_file"]

_CHUNK = 1 << 20


def random_file(path: Path, size: int) -> str:
    """``size`` random bytes, streamed to ``path`` (memory stays at one chunk) and fsynced;
    their SHA-256 (hex)."""
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(left, _CHUNK))
            digest.update(chunk)
            fh.write(chunk)
            left -= len(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    return digest.hexdigest()
