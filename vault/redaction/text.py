"""Redacted exports of plain text and Markdown documents.

The document's text is its content decoded as UTF-8 (:func:`document_text`); a span's indices
are code points of exactly that string, line endings included. :func:`render` replaces each
redacted span with a marker of fixed text, so the export does not reveal how long the hidden
text was, and merges overlapping or touching spans first, so it does not reveal either that two
things were hidden side by side.

Markdown gets no special treatment: a span inside a link target or an emphasis run is replaced
like any other. A marker inside Markdown syntax may change how the export renders (a broken link,
a stray bracket), but it never reveals the hidden text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from vault.errors import InvalidInput
from vault.redaction.model import Category, Markers, Span

__all__ = ["SUPPORTED", "document_text", "render"]

SUPPORTED = ("text/plain", "text/markdown")

_BOM = "\ufeff"
_MARKS = frozenset({"Mn", "Me"})  # combining marks, drawn on the character before them
_DEFAULT_MARKERS = Markers()  # frozen, so one shared default is safe


def document_text(content: bytes) -> str:
    """Decode a text document: strict UTF-8, one leading byte order mark removed, line endings
    kept as they are (``\\r\\n`` stays two code points).

    Raises ``InvalidInput`` if ``content`` is not valid UTF-8.
    """
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        # ``from None``: the decoder's message quotes the offending bytes, which are content.
        raise InvalidInput("the document is not valid UTF-8 text") from None
    return text.removeprefix(_BOM)


def render(text: str, spans: Sequence[Span], *, markers: Markers = _DEFAULT_MARKERS) -> str:
    """``text`` with every span replaced by its marker.

    Overlapping and touching spans become one run with one marker. With ``markers.per_category``
    a run's category is ``source-identity`` if any of its spans has it (the most protective
    label wins), else that of its first span. A span's end is moved past any combining marks
    that follow it, which would otherwise be drawn on the marker and hint at the hidden letter.

    Raises ``ValueError`` for a span that ends beyond the text (callers validate spans first).
    """
    runs: list[tuple[int, int, Category]] = []
    for span in sorted(spans, key=lambda s: s.start):
        if span.end > len(text):
            raise ValueError("a span ends beyond the text")
        end = _past_marks(text, span.end)
        if runs and span.start <= runs[-1][1]:
            start, last_end, category = runs[-1]
            if span.category is Category.SOURCE_IDENTITY:
                category = Category.SOURCE_IDENTITY
            runs[-1] = (start, max(last_end, end), category)
        else:
            runs.append((span.start, end, span.category))
    parts: list[str] = []
    position = 0
    for start, end, category in runs:
        parts.append(text[position:start])
        parts.append(markers.for_category(category))
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _past_marks(text: str, end: int) -> int:
    while end < len(text) and unicodedata.category(text[end]) in _MARKS:
        end += 1
    return end
