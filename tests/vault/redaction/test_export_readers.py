"""Each layer of the export earns its place: with it turned off, the hostile case it exists for
comes out with the name in it (the independent oracle finds it); with it on, the same export is
refused or comes out clean.

Layers are turned off the way a bug would turn them off: a reader removed from
``readers.PDF_READERS``, the sanitiser copying a kept page as it is, healing finding nothing,
folding without look-alike skeletons. Defence in depth means one layer off is often covered by
another, so each row turns off exactly the layers that would otherwise also catch its case, and
says which.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pypdf import PageObject, PdfReader

from tests.vault.redaction.hostile.corpus import by_id
from tests.vault.redaction.hostile.oracle import findings
from vault.errors import RedactionLeak
from vault.redaction import export, leaks, match, ocr, readers
from vault.redaction.model import Category, Kind
from vault.redaction.pdf import sanitise

pytestmark = pytest.mark.slow


def _verbatim(page: PageObject, reader: PdfReader) -> PageObject:
    return page  # a sanitiser that rebuilds nothing


def _no_skeleton(text: str) -> str:
    return text


@pytest.fixture
def fresh_folding() -> Iterator[None]:
    """Folding caches emptied before and after: a test that changes folding must not leave
    its folds behind for the next."""

    def clear() -> None:
        for cached in (match._fold, match._plain, leaks._table, leaks._byte_table):
            cached.cache_clear()

    clear()
    yield
    clear()


# (case, keep_text_pages, the layer under test, the other layers that would also catch it)
ROWS = {
    "bytes: a comment on a kept page": ("stream-comment", True, "bytes", ["sanitiser"]),
    "bytes: a font's naming table": ("font-name-table", True, "bytes", ["sanitiser"]),
    "bytes: a font key named after her": ("name-font-key", True, "bytes", ["sanitiser"]),
    "bytes: alternate text in a property list": ("mc-alt", True, "bytes", ["sanitiser"]),
    "sanitiser: a comment on a kept page": ("stream-comment", True, "sanitiser", ["bytes"]),
    "sanitiser: a font's naming table": ("font-name-table", True, "sanitiser", ["bytes"]),
    # On a page kept as vector text only OCR reads what is drawn (a re-rendered page's OCR text
    # layer would also show it to the text extractors).
    "ocr: the name as vector outlines": ("visual-vector-outlines", True, "ocr", []),
    "ocr: the name in a picture": ("visual-raster-image", True, "ocr", []),
    "ocr: a lying ToUnicode": ("visual-lying-tounicode", True, "ocr", []),
    # The Cyrillic line shares page 1 with the Latin name, so that page is re-rendered and its
    # OCR text layer reads the look-alikes as Latin: every reader of text goes off with it.
    "skeleton: Cyrillic look-alikes": (
        "confusable-cyrillic-visible",
        True,
        "skeleton",
        ["ocr", "healing", "pypdf", "pdfium", "poppler"],
    ),
}


def _turn_off(monkeypatch: pytest.MonkeyPatch, layers: list[str]) -> None:
    for layer in layers:
        if layer in readers.PDF_READERS:
            monkeypatch.delitem(readers.PDF_READERS, layer)
        elif layer == "sanitiser":
            monkeypatch.setattr(sanitise, "kept_page", _verbatim)
        elif layer == "healing":
            monkeypatch.setattr(ocr, "spelled", lambda *_: [])
        elif layer == "skeleton":
            monkeypatch.setattr(match, "_skeleton", _no_skeleton)
        else:
            raise AssertionError(layer)


def _export(case_id: str, keep_text_pages: bool) -> tuple[Any, bytes | None]:
    case = by_id(case_id)
    targets = [
        export.Target(f"r{i}", Kind.TERM, Category.SOURCE_IDENTITY, term=term)
        for i, term in enumerate(case.terms)
    ]
    options = export.ExportOptions(keep_text_pages=keep_text_pages)
    try:
        return case, export.produce(case.build(), case.media_type, targets, options).content
    except RedactionLeak:
        return case, None


@pytest.mark.parametrize(("case_id", "keep", "layer", "others"), ROWS.values(), ids=ROWS.keys())
@pytest.mark.usefixtures("fresh_folding")
def test_with_the_layer_off_the_name_comes_out(
    monkeypatch: pytest.MonkeyPatch, case_id: str, keep: bool, layer: str, others: list[str]
) -> None:
    _turn_off(monkeypatch, [layer, *others])
    case, released = _export(case_id, keep)
    assert released is not None, "released nothing: another layer caught it; turn that off too"
    assert findings(released, case.media_type, case.terms) != []


@pytest.mark.parametrize(("case_id", "keep", "layer", "others"), ROWS.values(), ids=ROWS.keys())
@pytest.mark.usefixtures("fresh_folding")
def test_with_the_layer_on_it_is_refused_or_clean(
    monkeypatch: pytest.MonkeyPatch, case_id: str, keep: bool, layer: str, others: list[str]
) -> None:
    # The others stay off: what happens now is the work of the layer under test alone.
    _turn_off(monkeypatch, others)
    case, released = _export(case_id, keep)
    if released is not None:
        assert findings(released, case.media_type, case.terms) == []


@pytest.mark.parametrize("case_id", ["visual-vector-outlines", "visual-raster-image"])
def test_healing_turns_a_refusal_into_a_clean_release(
    monkeypatch: pytest.MonkeyPatch, case_id: str
) -> None:
    # Healing is not a check: without it the readers still refuse (the OCR text layer and OCR
    # both read the name); with it the name gets a bar and the export is released, clean.
    case, released = _export(case_id, False)
    assert released is not None
    assert findings(released, case.media_type, case.terms) == []
    _turn_off(monkeypatch, ["healing"])
    assert _export(case_id, False)[1] is None
