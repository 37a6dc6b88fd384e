"""Kept pages rebuilt from what they draw, for exports that keep unredacted pages as vector text.

A page without redactions still carries bytes nobody sees: comments in its content stream,
marked-content property lists (/ActualText, /Alt, /E), data between BX and EX, unused patterns,
images and forms in a shared resource dictionary, EXIF inside a JPEG, an ICC profile's
description, a font called after a person. ``kept_page`` builds a new page instead of copying
the old one:

* content streams (the page's and every form's it draws) are parsed and written again with
  comments gone (the parser skips them), marked-content operators and their property lists
  dropped, BX/EX compatibility sections and every operator not in the PDF specification dropped;
* resources hold only what the rebuilt content names, under new neutral keys (/F0, /Im0,
  /Fm0, /GS0);
* images are decoded to pixels and encoded again (Flate, or JPEG for photographs) with nothing
  but the pixels and their colour space;
* fonts get neutral names (resource key, /BaseFont, /FontName; the 14 standard fonts, which a
  viewer finds by name, keep theirs), only the keys that draw glyphs, a ToUnicode CMap written
  afresh from the mappings the old one held, and embedded TrueType, OpenType and CFF programs
  with their naming tables and glyph names cleared (fontTools);
* ICC-based colour spaces become the device space with the same number of components;
* graphics states keep only their drawing parameters.

What it cannot rebuild faithfully — inline images, Type 3 fonts, Type 1 font programs,
shadings, patterns, soft masks, optional content, colour spaces other than device, calibrated
and ICC-based, non-identity CID encodings, image masks — raises :class:`Unsafe`, and the page is
re-rendered as a picture instead. The release check reads every byte of the result anyway; this
module is what makes a kept page come out *clean* rather than refused.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from PIL import Image
from pypdf import PageObject, PdfReader
from pypdf.generic import (
    ArrayObject,
    ContentStream,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    RectangleObject,
    StreamObject,
)

from vault.redaction.pdf import fonts
from vault.redaction.pdf.fonts import Unsafe, get, number, numbers

__all__ = ["Unsafe", "kept_page", "number"]

logger = logging.getLogger(__name__)

_OPERATORS = frozenset(
    b"b B b* B* c cm CS cs d d0 d1 Do G g gs h i j J K k l m M n q Q re RG rg ri s S SC sc SCN "
    b"scn T* Tc Td TD Tf Tj TJ TL Tm Tr Ts Tw Tz v w W W* y ' \" BT ET f F f*".split()
)
_MARKED = frozenset({b"BMC", b"BDC", b"EMC", b"MP", b"DP", b"BX", b"EX"})
_DEVICE = {1: "/DeviceGray", 3: "/DeviceRGB", 4: "/DeviceCMYK"}
_GSTATE_KEYS = frozenset(
    "/LW /LC /LJ /ML /D /RI /OP /op /OPM /FL /SM /SA /BM /CA /ca /AIS /TK".split()
)
_MAX_DEPTH = 8


def kept_page(page: PageObject, reader: PdfReader) -> PageObject:
    """A new page that draws what ``page`` draws, from nothing but rebuilt parts."""
    new = PageObject()
    new[NameObject("/Type")] = NameObject("/Page")
    for key in ("/MediaBox", "/CropBox"):
        box = get(page, key)
        if box is not None:
            new[NameObject(key)] = RectangleObject([float(v) for v in numbers(box)])
    for key in ("/Rotate", "/UserUnit"):
        if (value := get(page, key)) is not None:
            new[NameObject(key)] = number(value)
    try:
        content = page.get_contents()
    except Exception as error:  # pypdf raises many types on malformed content
        logger.debug("could not parse a kept page: %s", type(error).__name__)
        raise Unsafe("content that does not parse") from None
    rebuild = _Rebuild(reader)
    resources = get(page, "/Resources")
    data = rebuild.content(content, resources, 0) if content is not None else b""
    stream = DecodedStreamObject()
    stream.set_data(data)
    new[NameObject("/Contents")] = stream.flate_encode()
    new[NameObject("/Resources")] = rebuild.resources
    return new


class _Rebuild:
    """New resources, filled as rebuilt content names them; one object per original object."""

    def __init__(self, reader: PdfReader) -> None:
        self.reader = reader
        self.resources = DictionaryObject()
        self._done: dict[tuple[str, int], NameObject] = {}

    def _add(self, kind: str, prefix: str, original: Any, build: Any) -> NameObject:
        key = (kind, id(original))
        if key not in self._done:
            group = self.resources.setdefault(NameObject(kind), DictionaryObject())
            name = NameObject(f"/{prefix}{len(group)}")
            group[name] = build()
            self._done[key] = name
        return self._done[key]

    def content(self, stream: ContentStream, resources: Any, depth: int) -> bytes:
        if depth > _MAX_DEPTH:
            raise Unsafe("forms nested too deep")
        kept: list[tuple[list[Any], bytes]] = []
        for operands, operator in stream.operations:
            if operator == b"INLINE IMAGE":
                raise Unsafe("an inline image")
            if operator in _MARKED:
                _check_marked(operator, operands, resources)
                continue
            if operator not in _OPERATORS:
                continue
            kept.append((self._operands(operator, operands, resources, depth), operator))
        out = ContentStream(None, self.reader)
        out.operations = kept
        return out.get_data()

    def _operands(
        self, operator: bytes, operands: list[Any], resources: Any, depth: int
    ) -> list[Any]:
        if operator == b"Tf" and operands:
            font = get(get(resources, "/Font"), str(operands[0]))
            neutral = f"Font{len(self._done)}"
            return [
                self._add("/Font", "F", font, lambda: fonts.rebuild(font, neutral)),
                *operands[1:],
            ]
        if operator == b"Do" and operands:
            xobject = get(get(resources, "/XObject"), str(operands[0]))
            return [self._xobject(xobject, resources, depth)]
        if operator == b"gs" and operands:
            state = get(get(resources, "/ExtGState"), str(operands[0]))
            return [self._add("/ExtGState", "GS", state, lambda: _gstate(state))]
        if operator in (b"cs", b"CS") and operands:
            return [_colour_space(operands[0], resources)]
        if operator in (b"scn", b"SCN") and operands and isinstance(operands[-1], NameObject):
            raise Unsafe("a pattern")
        if operator == b"sh":
            raise Unsafe("a shading")
        return [_clean_operand(o) for o in operands]

    def _xobject(self, xobject: Any, resources: Any, depth: int) -> NameObject:
        if not isinstance(xobject, StreamObject):
            raise Unsafe("a missing XObject")
        subtype = get(xobject, "/Subtype")
        if subtype == "/Image":
            return self._add("/XObject", "Im", xobject, lambda: _image(xobject))
        if subtype != "/Form":
            raise Unsafe("an XObject of another kind")
        if "/OC" in xobject or "/SMask" in xobject:
            raise Unsafe("optional content")

        def build() -> StreamObject:
            own = get(xobject, "/Resources")
            data = self.content(ContentStream(xobject, self.reader), own or resources, depth + 1)
            form = DecodedStreamObject()
            form.set_data(data)
            form.update(
                {
                    NameObject("/Type"): NameObject("/XObject"),
                    NameObject("/Subtype"): NameObject("/Form"),
                    NameObject("/BBox"): numbers(get(xobject, "/BBox")),
                }
            )
            if (matrix := get(xobject, "/Matrix")) is not None:
                form[NameObject("/Matrix")] = numbers(matrix)
            return form.flate_encode()

        # Forms share this page's new resources: their names are unique across the page.
        return self._add("/XObject", "Fm", xobject, build)


def _check_marked(operator: bytes, operands: list[Any], resources: Any) -> None:
    """Marked content is dropped, which is safe unless it changes what the page shows or says:
    optional content (a hidden layer would become visible) and /ActualText (the text a reader
    extracts would change under the page) make the page a picture instead."""
    if operator not in (b"BDC", b"BMC") or not operands:
        return
    if operands[0] == "/OC":
        raise Unsafe("optional content")
    if operator == b"BDC" and len(operands) > 1:
        properties = operands[1]
        if isinstance(properties, NameObject):
            properties = get(get(resources, "/Properties"), str(properties))
        if isinstance(properties, DictionaryObject) and "/ActualText" in properties:
            raise Unsafe("replacement text (/ActualText)")


def _clean_operand(operand: Any) -> Any:
    if isinstance(operand, DictionaryObject):
        raise Unsafe("a dictionary operand")
    return operand


def _colour_space(name: Any, resources: Any) -> NameObject:
    if name in ("/DeviceGray", "/DeviceRGB", "/DeviceCMYK"):
        return NameObject(str(name))
    space = get(get(resources, "/ColorSpace"), str(name))
    if isinstance(space, NameObject) and space in _DEVICE.values():
        return NameObject(str(space))
    if isinstance(space, ArrayObject) and space:
        family = space[0]
        if family == "/ICCBased":
            components = get(space[1].get_object(), "/N")
            if components in _DEVICE:
                return NameObject(_DEVICE[components])
        if family == "/CalRGB":
            return NameObject("/DeviceRGB")
        if family == "/CalGray":
            return NameObject("/DeviceGray")
    raise Unsafe("a colour space that is not a device space")


def _gstate(state: Any) -> DictionaryObject:
    if not isinstance(state, DictionaryObject):
        raise Unsafe("a missing graphics state")
    out = DictionaryObject()
    for key, value in state.items():
        value = value.get_object()
        if key == "/SMask" and value != "/None":
            raise Unsafe("a soft mask")
        if key == "/Font":
            raise Unsafe("a font in a graphics state")
        if key not in _GSTATE_KEYS:
            continue
        if isinstance(value, NameObject):
            out[NameObject(key)] = NameObject(str(value))
        elif isinstance(value, ArrayObject) and key == "/BM":
            out[NameObject(key)] = ArrayObject(NameObject(str(v)) for v in value)
        elif isinstance(value, ArrayObject):
            out[NameObject(key)] = numbers(value)
        else:
            out[NameObject(key)] = value if isinstance(value, bool) else number(value)
    return out


def _image(xobject: StreamObject) -> StreamObject:
    if get(xobject, "/ImageMask") or "/Mask" in xobject:
        raise Unsafe("an image mask")
    try:
        picture = xobject.decode_as_image()
        picture.load()
    except Exception as error:  # pypdf and Pillow raise many types on malformed images
        logger.debug("could not decode an image: %s", type(error).__name__)
        raise Unsafe("an image that does not decode") from None
    alpha = picture.getchannel("A") if picture.mode in ("RGBA", "LA", "PA") else None
    mode = "L" if picture.mode in ("1", "L", "LA", "I", "I;16") else "RGB"
    if picture.mode == "CMYK":
        mode = "CMYK"
    clean = Image.new(mode, picture.size)
    clean.paste(picture.convert(mode), (0, 0))
    jpeg = get(xobject, "/Filter") in ("/DCTDecode", ArrayObject([NameObject("/DCTDecode")]))
    stream = _pixels(clean, jpeg)
    if alpha is not None:
        stream[NameObject("/SMask")] = _pixels(alpha, False)
    return stream


def _pixels(image: Image.Image, jpeg: bool) -> StreamObject:
    """A new image XObject from ``image``'s pixels alone (``Image.new`` carries no metadata)."""
    space = {"L": "/DeviceGray", "RGB": "/DeviceRGB", "CMYK": "/DeviceCMYK"}[image.mode]
    entries = {
        NameObject("/Type"): NameObject("/XObject"),
        NameObject("/Subtype"): NameObject("/Image"),
        NameObject("/Width"): NumberObject(image.width),
        NameObject("/Height"): NumberObject(image.height),
        NameObject("/ColorSpace"): NameObject(space),
        NameObject("/BitsPerComponent"): NumberObject(8),
    }
    stream = DecodedStreamObject()
    if jpeg:
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90)
        stream.set_data(out.getvalue())
        stream.update(entries)
        stream[NameObject("/Filter")] = NameObject("/DCTDecode")
        if image.mode == "CMYK":  # Pillow writes Adobe's inverted CMYK JPEGs
            stream[NameObject("/Decode")] = ArrayObject(NumberObject(v) for v in [1, 0] * 4)
        return stream
    stream.set_data(image.tobytes())
    stream.update(entries)
    return stream.flate_encode()
