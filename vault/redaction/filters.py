"""Running an outside reader (pdftotext, tesseract) as a filter: bytes in on standard input,
bytes out on standard output, nothing on disk, a time limit, and failures that say nothing of
the content. One place, so that every reader is held to the same rules."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping, Sequence

from vault.errors import InvalidInput

__all__ = ["run"]

logger = logging.getLogger(__name__)


def run(
    executable: str,
    arguments: Sequence[str],
    data: bytes,
    *,
    timeout: float,
    failure: str,
    env: Mapping[str, str] | None = None,
) -> bytes:
    """``executable``'s standard output for ``data`` on its standard input; ``InvalidInput``
    with ``failure`` as its message if it times out or exits with an error. Its standard error is
    dropped, not logged: a reader's messages may quote what it read."""
    try:
        result = subprocess.run(  # noqa: S603 - fixed argument list, no shell, data on stdin
            [executable, *arguments],
            input=data,
            capture_output=True,
            timeout=timeout,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise InvalidInput(failure) from None
    if result.returncode != 0:
        logger.debug("%s exited with status %d", executable.rsplit("/", 1)[-1], result.returncode)
        raise InvalidInput(failure)
    return result.stdout
