"""Media types, checked before one is stored and again before one is sent.

An uploader names their document's media type, and the vault later sends it back in a header
(``X-Content-Media-Type``). A value with a line break in it once split that header and cut the
download off; one with control characters went out as it came. So a media type must be what
RFC 9110 §8.3.1 says it is, in ASCII, at most 255 characters::

    media-type = type "/" subtype parameters
    parameters = *( OWS ";" OWS [ parameter ] )
    parameter  = parameter-name "=" parameter-value   ; value: token / quoted-string

and it is kept in one form: type and subtype lower-cased (they are case-insensitive), and of the
parameters only ``charset`` (lower-cased), the one a reader of the document needs. The others
say nothing the vault uses, and some clients put the file's name in one (``name=``).
"""

from __future__ import annotations

import re

from vault.errors import InvalidInput

__all__ = ["DEFAULT", "MAX_LENGTH", "normalise", "sendable"]

DEFAULT = "application/octet-stream"
MAX_LENGTH = 255

# RFC 9110 §5.6.2: a token is one or more tchar.
_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# qdtext and quoted-pair without obs-text: only printable ASCII, space and tab.
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t -~])*"'
_PARAMETER = re.compile(rf"[ \t]*;[ \t]*(?:({_TCHARS})=({_TCHARS}|{_QUOTED}))?")
_TYPE = re.compile(rf"({_TCHARS})/({_TCHARS})")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # all but the tab OWS allows


def normalise(value: str) -> str:
    """``value`` in its stored form; ``InvalidInput`` unless it is an RFC 9110 media type."""
    text = value.strip(" \t")
    if len(value) > MAX_LENGTH or not text.isascii():
        raise InvalidInput(f"a media type is at most {MAX_LENGTH} ASCII characters")
    if _CONTROL.search(text):
        raise InvalidInput("a media type must not contain control characters")
    found = _TYPE.match(text)
    if found is None:
        raise InvalidInput("a media type is type/subtype, e.g. application/pdf (RFC 9110)")
    kept = f"{found[1]}/{found[2]}".lower()
    charset = None
    position = found.end()
    while position < len(text):
        parameter = _PARAMETER.match(text, position)
        if parameter is None or parameter.end() == position:
            raise InvalidInput("a media type's parameters are ;name=value (RFC 9110)")
        position = parameter.end()
        name, raw = parameter[1], parameter[2]
        if name is not None and name.lower() == "charset" and charset is None:
            charset = _unquoted(raw)
            if re.fullmatch(_TCHARS, charset) is None:
                raise InvalidInput("a media type's charset is a name such as utf-8")
    return kept if charset is None else f"{kept}; charset={charset.lower()}"


def sendable(value: str | None) -> str:
    """A stored media type as it may go out in a header: its normal form, or ``DEFAULT`` for
    one stored before it was checked that does not pass now."""
    if not value:
        return DEFAULT
    try:
        return normalise(value)
    except InvalidInput:
        return DEFAULT


def _unquoted(raw: str) -> str:
    if not raw.startswith('"'):
        return raw
    return re.sub(r"\\(.)", r"\1", raw[1:-1])
