"""Media types: RFC 9110 §8.3.1 in ASCII, at most 255 characters, kept in one form."""

from __future__ import annotations

import pytest

from vault import mediatypes
from vault.errors import InvalidInput


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("text/plain", "text/plain"),
        ("application/pdf", "application/pdf"),
        ("Image/PNG", "image/png"),
        ("text/plain; charset=UTF-8", "text/plain; charset=utf-8"),
        ('text/plain;charset="utf-8"', "text/plain; charset=utf-8"),
        ("text/plain ; format=flowed ; charset=utf-8", "text/plain; charset=utf-8"),
        # Parameters other than charset are dropped: some clients put the file's name in one.
        ('application/octet-stream; name="Informe Quintero.pdf"', "application/octet-stream"),
        ("text/plain; charset=utf-8; charset=latin1", "text/plain; charset=utf-8"),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("text/plain;", "text/plain"),
        ("  text/plain\t", "text/plain"),
    ],
)
def test_a_media_type_is_kept_in_one_form(given: str, kept: str) -> None:
    assert mediatypes.normalise(given) == kept
    assert mediatypes.normalise(kept) == kept


BAD = {
    "line feed": "text/plain\nX-Injected: yes",
    "carriage return": "text/plain\r\nX-Injected: yes",
    "nul": "text/pl\x00ain",
    "delete": "text/plain\x7f",
    "non-ascii": "text/pláin",
    "non-ascii parameter": "text/plain; charset=ütf-8",
    "over-long": "application/" + "x" * 250,
    "missing subtype": "text",
    "empty subtype": "text/",
    "empty type": "/plain",
    "empty": "",
    "space in type": "text /plain",
    "space in subtype": "text/pla in",
    "two slashes": "text/plain/extra",
    "bare parameter": "text/plain; charset",
    "charset with a space": 'text/plain; charset="utf 8"',
    "unterminated quote": 'text/plain; charset="utf-8',
}


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
def test_what_is_not_a_media_type_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        mediatypes.normalise(value)
    # The message names the rule, never the value.
    assert value.strip() not in str(refused.value) or not value.strip()


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
def test_a_stored_value_that_does_not_pass_goes_out_as_octet_stream(value: str) -> None:
    assert mediatypes.sendable(value) == "application/octet-stream"


def test_sendable_is_the_normal_form() -> None:
    assert mediatypes.sendable("Text/Plain; Charset=UTF-8") == "text/plain; charset=utf-8"
    assert mediatypes.sendable(None) == "application/octet-stream"
