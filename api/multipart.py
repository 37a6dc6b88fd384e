"""Pull-based streaming of a ``multipart/form-data`` upload.

Starlette's form parser spools a file part over 1 MiB to a temporary file in the clear; that
must never happen to a source's material. This reader drives python-multipart's push parser
from an iterator of body chunks and hands the file part out as an iterator of its own, so the
bytes go straight from the socket into encryption. Text fields must come before the file part
(every common client — curl ``-F`` in order, httpx, requests, browsers — sends them that way)
and nothing may follow it, except the fields a route names as ``trailing``: the end-to-end
upload's sealed record, which its client can only seal once the whole file is encrypted.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from vault.errors import InvalidInput

__all__ = ["FilePart", "StreamingForm", "boundary_of"]

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 16
# RFC 2046 §5.1.1: 1-70 characters of bchars, not ending in a space. (python-multipart refuses
# more than 256 with an error of its own, which was answered as a server failure.)
_BOUNDARY = re.compile(rb"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# The file part's Content-Type is stored and sent back in a header: a control character in it
# (a bare line feed, NUL) is refused here already. (Filenames may hold them: they are
# stripped when the name goes out in Content-Disposition.)
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, or ``None`` for anything else;
    ``InvalidInput`` for a boundary RFC 2046 does not allow."""
    media, params = parse_options_header(content_type)
    if media != b"multipart/form-data":
        return None
    boundary = params.get(b"boundary")
    if boundary is not None and _BOUNDARY.fullmatch(boundary) is None:
        raise InvalidInput("a multipart boundary is 1-70 of the characters RFC 2046 allows")
    return boundary or None


@dataclass(frozen=True)
class FilePart:
    name: str
    filename: str | None
    content_type: str | None
    chunks: Iterator[bytes]


class StreamingForm:
    """Read text fields, then stream the one file part."""

    def __init__(self, body: Iterator[bytes], boundary: bytes) -> None:
        self._body = body
        self._events: deque[tuple[str, Any]] = deque()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._done = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": lambda: self._events.append(("begin", None)),
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": lambda: self._events.append(("headers", None)),
                "on_part_data": self._on_data,
                "on_part_end": lambda: self._events.append(("end", None)),
                "on_end": lambda: self._events.append(("finished", None)),
            },
        )
        self._headers: dict[bytes, bytes] = {}
        self._limits: Mapping[str, int] = {}
        self._trailing: frozenset[str] = frozenset()
        self.trailing: dict[str, str] = {}
        """The trailing fields, once the file part has been read to its end."""

    # python-multipart callbacks ---------------------------------------------------------------

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._events.append(
            ("header", (bytes(self._header_field).lower(), bytes(self._header_value)))
        )
        self._header_field.clear()
        self._header_value.clear()

    def _on_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", bytes(data[start:end])))

    # pulling ----------------------------------------------------------------------------------

    def _next_event(self) -> tuple[str, Any]:
        while not self._events:
            if self._done:
                raise InvalidInput("the multipart body ended early")
            chunk = next(self._body, None)
            try:
                if chunk is None:
                    self._done = True
                    self._parser.finalize()
                else:
                    self._parser.write(chunk)
            except MultipartParseError:
                raise InvalidInput("the multipart body is malformed") from None
        return self._events.popleft()

    def _read_part_headers(self) -> tuple[str, str | None, str | None]:
        headers: dict[bytes, bytes] = {}
        while True:
            kind, value = self._next_event()
            if kind == "header":
                if value[0] == b"content-type" and _CONTROL.search(value[1]):
                    raise InvalidInput("a multipart Content-Type holds a control character")
                headers[value[0]] = value[1]
            elif kind == "headers":
                break
            else:
                raise InvalidInput("the multipart body is malformed")
        disposition, options = parse_options_header(headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise InvalidInput("every multipart part needs Content-Disposition: form-data; name=")
        name = options[b"name"].decode("utf-8", "replace")
        filename = options.get(b"filename")
        ctype = headers.get(b"content-type")
        return (
            name,
            filename.decode("utf-8", "replace") if filename is not None else None,
            ctype.decode("latin-1") if ctype else None,
        )

    def read(
        self,
        *,
        file_field: str = "file",
        limits: Mapping[str, int] | None = None,
        trailing: frozenset[str] = frozenset(),
    ) -> tuple[dict[str, str], FilePart]:
        """The text fields before the file part, and the file part itself (to stream).
        ``limits`` raises ``MAX_FIELD_BYTES`` for the fields it names; ``trailing`` names the
        fields that may follow the file part (in ``self.trailing`` once it is read)."""
        self._limits = limits or {}
        self._trailing = trailing
        fields: dict[str, str] = {}
        while True:
            kind, _ = self._next_event()
            if kind == "finished":
                raise InvalidInput(f"the upload has no '{file_field}' part")
            if kind != "begin":
                raise InvalidInput("the multipart body is malformed")
            name, filename, ctype = self._read_part_headers()
            if name == file_field:
                return fields, FilePart(name, filename, ctype, self._file_chunks(file_field))
            if filename is not None:
                raise InvalidInput(
                    f"unexpected file part '{name}'; send the document as '{file_field}'"
                )
            if name in fields or len(fields) >= MAX_FIELDS:
                raise InvalidInput(f"field '{name}' is repeated or there are too many fields")
            fields[name] = self._field_value(name)

    def _field_value(self, name: str) -> str:
        value = bytearray()
        while True:
            kind, data = self._next_event()
            if kind == "data":
                value += data
                if len(value) > self._limits.get(name, MAX_FIELD_BYTES):
                    raise InvalidInput(f"field '{name}' is too long")
            elif kind == "end":
                try:
                    return value.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidInput(f"field '{name}' is not UTF-8 text") from None
            else:
                raise InvalidInput("the multipart body is malformed")

    def _file_chunks(self, file_field: str) -> Iterator[bytes]:
        while True:
            kind, data = self._next_event()
            if kind == "data":
                yield data
            elif kind == "end":
                break
            else:
                raise InvalidInput("the multipart body is malformed")
        # Nothing else may follow the file: a field sent after it would arrive too late to
        # matter.
        while (kind := self._next_event()[0]) != "finished":
            if kind != "begin":
                raise InvalidInput("the multipart body is malformed")
            name, filename, _ = self._read_part_headers()
            if name not in self._trailing or filename is not None or name in self.trailing:
                raise InvalidInput(f"the '{file_field}' part must be the last part of the upload")
            self.trailing[name] = self._field_value(name)
