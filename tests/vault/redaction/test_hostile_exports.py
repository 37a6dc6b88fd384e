"""Hostile files through the real export: each case must be refused or come out clean.

The corpus (``hostile.corpus``) hides an invented source's name in every place this project
knows a redaction can leak from; the oracle (``hostile.oracle``) is written apart from the
product and reads the result the way an adversary would: every object and decoded stream through
qpdf, the raw bytes in four encodings, poppler's text, and OCR of every page rendered by poppler.
A case passes when the export refuses (``RedactionLeak``) or when the oracle finds nothing in
what was released. Every PDF runs in the default mode (every page re-rendered); the classes a
sanitiser must handle run with ``keep_text_pages`` as well.
"""

from __future__ import annotations

import pytest

from tests.vault.redaction.hostile.corpus import CASES, HostileCase
from tests.vault.redaction.hostile.oracle import findings
from vault.errors import RedactionLeak
from vault.redaction import export
from vault.redaction.model import Category, Kind

pytestmark = pytest.mark.slow
_KEPT_CLASSES = {"stream", "string", "name", "confusable", "visual"}


def _targets(case: HostileCase) -> list[export.Target]:
    return [
        export.Target(f"r{i}", Kind.TERM, Category.SOURCE_IDENTITY, term=term)
        for i, term in enumerate(case.terms)
    ]


def _params() -> list[object]:
    out: list[object] = []
    for case in CASES:
        out.append(pytest.param(case, False, id=f"{case.id}"))
        if case.media_type == "application/pdf" and case.klass in _KEPT_CLASSES:
            out.append(pytest.param(case, True, id=f"{case.id}-keep-text"))
    return out


@pytest.mark.parametrize(("case", "keep_text_pages"), _params())
def test_a_hostile_file_is_refused_or_comes_out_clean(
    case: HostileCase, keep_text_pages: bool
) -> None:
    content = case.build()
    options = export.ExportOptions(keep_text_pages=keep_text_pages)
    try:
        result = export.produce(content, case.media_type, _targets(case), options)
    except RedactionLeak as refusal:
        message = str(refusal).lower()
    else:
        assert findings(result.content, case.media_type, case.terms) == []
        return
    # Refused: and the refusal says where, never what.
    assert not any(term.lower() in message for term in case.terms)
