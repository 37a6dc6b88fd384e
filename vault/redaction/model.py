"""What a redaction is, independent of where it is stored and of the format it applies to.

A redaction marks something in one document that must not leave the vault: a span of its text,
every occurrence of a term, or a rectangle on a page or image. The kinds below are what the
format modules (``text``, ``pdf``, ``image``) receive once the service has resolved terms to
spans: plain values with no database or web types in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Area", "Category", "Kind", "Markers", "Rect", "Span", "Status"]


class Kind(StrEnum):
    SPAN = "span"  # [start, end) in code points of the document's text
    TERM = "term"  # a literal string, removed wherever it occurs (normalised match)
    REGION = "region"  # a rectangle on a page (PDF points) or an image (pixels)


class Category(StrEnum):
    SOURCE_IDENTITY = "source-identity"
    THIRD_PARTY = "third-party"
    LEGAL = "legal"
    OTHER = "other"


class Status(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    # An approved redaction someone asked to withdraw: it still applies until a second editor
    # approves the withdrawal; then it is withdrawn and applies no more.
    WITHDRAWING = "withdrawing"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle with ``x0 < x1`` and ``y0 < y1``.

    On a PDF page the unit is the PDF point and the origin is the page's bottom-left corner
    (PDF user space, as ``pdftotext -bbox`` and pdfium report it); on an image the unit is the
    pixel and the origin is the top-left corner.
    """

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not (self.x0 < self.x1 and self.y0 < self.y1):
            raise ValueError("a rectangle needs x0 < x1 and y0 < y1")


@dataclass(frozen=True)
class Span:
    """``[start, end)`` in Unicode code points of a document's text."""

    start: int
    end: int
    category: Category = Category.OTHER

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError("a span needs 0 <= start < end")


@dataclass(frozen=True)
class Area:
    """A rectangle on page ``page`` (1-based; images have one page)."""

    page: int
    rect: Rect
    category: Category = Category.OTHER

    def __post_init__(self) -> None:
        if self.page < 1:
            raise ValueError("pages are numbered from 1")


@dataclass(frozen=True)
class Markers:
    """What replaces a redacted span in text exports.

    One fixed marker by default, the same whatever it hides, so that the export does not leak
    the length of what was removed; ``per_category`` names the category instead
    (``[REDACTED: source-identity]``), still independent of the hidden text's length.
    """

    marker: str = "[REDACTED]"
    per_category: bool = False

    def for_category(self, category: Category) -> str:
        if not self.per_category:
            return self.marker
        return (
            f"{self.marker[:-1]}: {category.value}]"
            if self.marker.endswith("]")
            else (f"{self.marker} ({category.value})")
        )
