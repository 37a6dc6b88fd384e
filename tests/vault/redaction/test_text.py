"""Plain text and Markdown exports (``vault.redaction.text``)."""

from __future__ import annotations

import pytest

from vault.errors import InvalidInput
from vault.redaction.match import find_term
from vault.redaction.model import Category, Markers, Span
from vault.redaction.text import SUPPORTED, document_text, render

SOURCE = Category.SOURCE_IDENTITY
THIRD = Category.THIRD_PARTY


def test_supported_types() -> None:
    assert SUPPORTED == ("text/plain", "text/markdown")


def test_document_text_decodes_utf8_and_keeps_line_endings() -> None:
    assert document_text("Línea uno\r\nlínea dos\n".encode()) == "Línea uno\r\nlínea dos\n"
    assert document_text(b"") == ""


def test_document_text_removes_one_leading_byte_order_mark() -> None:
    assert document_text(b"\xef\xbb\xbfhola") == "hola"
    assert document_text(b"\xef\xbb\xbf\xef\xbb\xbfhola") == "\ufeffhola"
    assert document_text("hola\ufeff".encode()) == "hola\ufeff"


@pytest.mark.parametrize(
    "content",
    [
        b"Marisol Quintero \xff",  # not UTF-8 at all
        "Pérez".encode("latin-1"),  # another encoding
        b"\xed\xa0\x80",  # an encoded surrogate, which strict UTF-8 refuses
        b"Quintero \xe2\x82",  # truncated sequence
    ],
)
def test_document_text_refuses_what_is_not_utf8_without_quoting_it(content: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        document_text(content)
    assert str(caught.value) == "the document is not valid UTF-8 text"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_render_replaces_each_span_with_the_fixed_marker() -> None:
    text = "Me llamo Marisol Quintero y vivo en Iztapalapa."
    spans = [Span(9, 25, SOURCE), Span(36, 46, THIRD)]
    assert render(text, spans) == "Me llamo [REDACTED] y vivo en [REDACTED]."


def test_render_with_no_spans_returns_the_text() -> None:
    assert render("nada que ocultar", []) == "nada que ocultar"


def test_overlapping_and_touching_spans_become_one_marker() -> None:
    text = "abcdefghij"
    assert render(text, [Span(6, 8), Span(1, 3), Span(2, 5), Span(5, 6)]) == "a[REDACTED]ij"


def test_markers_do_not_depend_on_the_hidden_length() -> None:
    short, long = render("x A y", [Span(2, 3)]), render("x " + "A" * 40 + " y", [Span(2, 42)])
    assert short == long == "x [REDACTED] y"


def test_per_category_markers_name_the_category() -> None:
    markers = Markers(per_category=True)
    text = "Ana habló con Luis"
    assert render(text, [Span(0, 3, SOURCE), Span(14, 18, THIRD)], markers=markers) == (
        "[REDACTED: source-identity] habló con [REDACTED: third-party]"
    )


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([Span(0, 4, THIRD), Span(2, 6, Category.LEGAL)], "[X: third-party]"),
        ([Span(0, 4, THIRD), Span(4, 6, SOURCE)], "[X: source-identity]"),
        ([Span(2, 6, Category.LEGAL), Span(0, 3, SOURCE)], "[X: source-identity]"),
        ([Span(2, 6, Category.LEGAL), Span(0, 3, Category.OTHER)], "[X: other]"),
    ],
)
def test_a_merged_run_takes_source_identity_if_any_else_its_first_category(
    spans: list[Span], expected: str
) -> None:
    assert render("abcdef", spans, markers=Markers("[X]", per_category=True)) == expected


def test_a_custom_marker() -> None:
    assert render("abc", [Span(1, 2)], markers=Markers("\u2588\u2588")) == "a\u2588\u2588c"


def test_a_span_may_end_at_the_end_of_the_text_but_not_beyond() -> None:
    assert render("abc", [Span(1, 3)]) == "a[REDACTED]"
    with pytest.raises(ValueError, match="beyond"):
        render("abc", [Span(1, 4)])


def test_a_span_swallows_the_combining_marks_after_it() -> None:
    # A stray accent after the marker would show that the hidden name ended in "é".
    assert render("Jose\u0301 dijo", [Span(0, 4)]) == "[REDACTED] dijo"


def test_indices_count_code_points_of_the_decoded_text_crlf_included() -> None:
    text = document_text("uno\r\ndos Pérez 😀 tres\r\n".encode())
    start = text.index("Pérez")
    assert render(text, [Span(start, start + 5)]) == "uno\r\ndos [REDACTED] 😀 tres\r\n"


def test_markdown_link_targets_and_emphasis_are_replaced_like_any_text() -> None:
    text = "Ver [perfil](https://example.org/marisol-quintero) de **Marisol**."
    spans = [Span(a, b) for a, b in find_term(text, "marisol")]
    out = render(text, spans)
    assert "marisol" not in out.lower()
    assert out == "Ver [perfil](https://example.org/[REDACTED]-quintero) de **[REDACTED]**."


def test_every_spelling_found_by_term_matching_is_removed() -> None:
    text = "PEREZ, Pe\u0301rez\ny pérez"
    out = render(text, [Span(a, b) for a, b in find_term(text, "Pérez")])
    assert out == "[REDACTED], [REDACTED]\ny [REDACTED]"
