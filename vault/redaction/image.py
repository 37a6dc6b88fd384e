"""True redaction of photographs and scans: black pixels in a new file made of pixels only.

A redacted image must not give back what it hides, and a photograph carries more than its
pixels: EXIF (camera serial, time, GPS position, and a thumbnail of the *unredacted* picture),
XMP, IPTC, ICC profiles that name a device, PNG text chunks, JPEG comments, extra frames (MPO,
APNG). ``render`` decodes the image, fills the areas, and encodes a new image of the same
format from the pixel data alone; ``structural_problems`` reads a file back (through Pillow and
by walking the JPEG segments or PNG chunks) and names anything besides pixels that it carries.

Coordinates are pixels with the origin at the top-left of the image *as displayed*: the EXIF
orientation is applied first, as viewers do, and the result is stored upright with no
orientation tag. ``image_size`` reports that displayed size.

Limits: only the first frame is kept (an animated PNG becomes a still); colour profiles are
dropped, so colours are shown as sRGB (a wide-gamut photo looks a little duller); CMYK JPEGs
become RGB and palette PNGs become RGB(A). JPEG is re-encoded (quality 90, no chroma
subsampling), and its black boxes are widened to the 8-pixel block grid so that every block
they touch decodes as solid black instead of ringing into the box.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterator, Sequence
from typing import cast

from PIL import Image, ImageDraw, ImageOps

from vault.errors import InvalidInput, UnsupportedType
from vault.redaction.model import Area

__all__ = [
    "SUPPORTED",
    "filled",
    "image_size",
    "render",
    "structural_problems",
    "upright_pixels",
]

logger = logging.getLogger(__name__)

SUPPORTED = ("image/jpeg", "image/png")
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
_UNREADABLE = "the image could not be read"
_TOO_LARGE = "the image has too many pixels to process"
_JPEG_QUALITY = 90
_JPEG_BLOCK = 8  # with subsampling=0 (4:4:4) a JPEG block is 8 x 8 pixels in every channel
_JPEG_TOLERANCE = 8  # how far from 0 a decoded "black" JPEG pixel may be (IDCT rounding)
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that turn the picture by a quarter
_ORIENTATION = 0x0112
_GPS_IFD = 0x8825


def _format(media_type: str) -> str:
    base = media_type.split(";", 1)[0].strip().lower()
    if base not in _FORMATS:
        raise UnsupportedType("this image type cannot be redacted", supported=SUPPORTED)
    return _FORMATS[base]


def _open(content: bytes, formats: Sequence[str]) -> Image.Image:
    """Pillow's lazy reading of ``content`` (header only), refused if it is not one of
    ``formats`` or larger than ``Image.MAX_IMAGE_PIXELS``."""
    try:
        image = Image.open(io.BytesIO(content), formats=list(formats))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow raises the error beyond twice the limit, and warns (an error under
        # ``-W error``) between once and twice; below it is checked again, warning or not.
        raise InvalidInput(_TOO_LARGE) from None
    except Exception as error:  # Pillow raises many types on malformed input
        logger.debug("Pillow could not open an image: %s", type(error).__name__)
        raise InvalidInput(_UNREADABLE) from None
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and image.width * image.height > limit:
        image.close()
        raise InvalidInput(_TOO_LARGE)
    return image


def _upright(image: Image.Image) -> Image.Image:
    """The decoded pixels, turned as the EXIF orientation says (a new image)."""
    try:
        image.load()
        return ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInput(_TOO_LARGE) from None
    except Exception as error:  # truncated or corrupt data
        logger.debug("Pillow could not decode an image: %s", type(error).__name__)
        raise InvalidInput(_UNREADABLE) from None


def _pixel_mode(image: Image.Image, kind: str) -> str:
    if kind == "JPEG":
        return "L" if image.mode in ("1", "L") else "RGB"
    if image.mode in ("1", "L", "LA", "RGB", "RGBA", "I", "I;16") and (
        "transparency" not in image.info
    ):
        return image.mode
    alpha = "A" in image.mode or "a" in image.mode or "transparency" in image.info
    return "RGBA" if alpha else "RGB"


def _clean(image: Image.Image, kind: str) -> Image.Image:
    """A new image holding only ``image``'s pixels: ``Image.new`` starts with empty ``info``,
    so no EXIF, XMP, ICC profile, text or comment can ride along into ``save``."""
    mode = _pixel_mode(image, kind)
    source = image if image.mode == mode else image.convert(mode)
    clean = Image.new(mode, image.size)
    clean.paste(source, (0, 0))
    return clean


def _box(area: Area, width: int, height: int) -> tuple[int, int, int, int]:
    """``area`` in whole pixels (left, top, right, bottom; right and bottom exclusive), rounded
    outward; ``InvalidInput`` unless it is on page 1 and inside the image."""
    if area.page != 1:
        raise InvalidInput("an image has one page: its regions must be on page 1")
    rect = area.rect
    if rect.x0 < 0 or rect.y0 < 0 or rect.x1 > width or rect.y1 > height:
        raise InvalidInput(f"the region lies outside the {width}x{height} image")
    return math.floor(rect.x0), math.floor(rect.y0), math.ceil(rect.x1), math.ceil(rect.y1)


def _to_blocks(
    box: tuple[int, int, int, int], width: int, height: int
) -> tuple[int, int, int, int]:
    left, top, right, bottom = box
    step = _JPEG_BLOCK
    return (
        left - left % step,
        top - top % step,
        min(-(-right // step) * step, width),
        min(-(-bottom // step) * step, height),
    )


def _black(mode: str) -> int | tuple[int, ...]:
    return {"LA": (0, 255), "RGB": (0, 0, 0), "RGBA": (0, 0, 0, 255)}.get(mode, 0)


def image_size(content: bytes) -> tuple[int, int]:
    """Width and height in pixels as displayed (EXIF orientation applied), from the header;
    ``InvalidInput`` for anything but a readable JPEG or PNG."""
    with _open(content, ("JPEG", "PNG")) as image:
        try:
            orientation = image.getexif().get(_ORIENTATION)
        except Exception:  # a broken EXIF block: viewers ignore it too
            orientation = None
        if orientation in _SWAPS_AXES:
            return image.height, image.width
        return image.width, image.height


def render(content: bytes, media_type: str, areas: Sequence[Area]) -> bytes:
    """``content`` with every area filled black, as a new file of the same type that holds
    the pixels and nothing else."""
    kind = _format(media_type)
    with _open(content, (kind,)) as opened:
        upright = _upright(opened)
    boxes = [_box(area, *upright.size) for area in areas]  # all checked before drawing
    image = _clean(upright, kind)
    del upright
    draw = ImageDraw.Draw(image)
    for box in boxes:
        left, top, right, bottom = _to_blocks(box, *image.size) if kind == "JPEG" else box
        draw.rectangle((left, top, right - 1, bottom - 1), fill=_black(image.mode))
    out = io.BytesIO()
    if kind == "JPEG":
        image.save(out, "JPEG", quality=_JPEG_QUALITY, subsampling=0)
    else:
        image.save(out, "PNG")
    return out.getvalue()


def filled(content: bytes, areas: Sequence[Area]) -> bool:
    """Whether every pixel of every area is opaque black in ``content`` (within a few levels
    for JPEG, whose decoding rounds)."""
    with _open(content, ("JPEG", "PNG")) as opened:
        tolerance = _JPEG_TOLERANCE if opened.format == "JPEG" else 0
        image = _upright(opened)
    alpha = image.mode in ("LA", "RGBA", "PA") or "transparency" in image.info
    for area in areas:
        region = image.crop(_box(area, *image.size)).convert("RGBA" if alpha else "RGB")
        # One (low, high) pair per band of a multi-band image.
        extrema = cast(tuple[tuple[float, float], ...], region.getextrema())
        colours, opacity = extrema[:3], extrema[3:]
        if any(high > tolerance for _, high in colours):
            return False
        if any(low < 255 - tolerance for low, _ in opacity):
            return False
    return True


# -- what a file carries besides its pixels ---------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks that only describe how to show the pixels; anything else is reported.
_PNG_PLAIN = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT"}
_PNG_PLAIN |= {b"bKGD", b"pHYs"}
_PNG_CHUNKS = {
    b"tEXt": "text-chunks",
    b"iTXt": "text-chunks",
    b"zTXt": "text-chunks",
    b"eXIf": "exif",
    b"iCCP": "icc-profile",
    b"acTL": "extra-frames",
    b"fcTL": "extra-frames",
    b"fdAT": "extra-frames",
}
_JPEG_APP = {
    b"Exif\x00\x00": "exif",
    b"http://ns.adobe.com/xap/1.0/\x00": "xmp",
    b"http://ns.adobe.com/xmp/extension/\x00": "xmp",
    b"ICC_PROFILE\x00": "icc-profile",
    b"MPF\x00": "extra-frames",
}


def _png_chunks(content: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, data) of each chunk, then ``(b"", trailing bytes)`` if any follow IEND."""
    if not content.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG")
    at = len(_PNG_SIGNATURE)
    while at + 8 <= len(content):
        length = int.from_bytes(content[at : at + 4], "big")
        kind = content[at + 4 : at + 8]
        yield kind, content[at + 8 : at + 8 + length]
        at += 12 + length
        if kind == b"IEND":
            break
    if at < len(content):
        yield b"", content[at:]


def _jpeg_segments(content: bytes) -> Iterator[tuple[int, bytes]]:
    """(marker, payload) of each marker segment, headers and those between scans alike, then
    ``(-1, trailing bytes)`` if any follow the end-of-image marker."""
    if not content.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    at = 2
    while (at := content.find(b"\xff", at)) != -1 and at + 1 < len(content):
        marker = content[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
        elif marker in (0x00, 0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            at += 2  # stuffed zero in scan data, or a marker without a payload
        elif marker == 0xD9:  # end of image
            at += 2
            break
        else:
            length = int.from_bytes(content[at + 2 : at + 4], "big")
            yield marker, content[at + 4 : at + 2 + length]
            at += 2 + length
    else:
        return  # ran out of bytes before the end-of-image marker: nothing trails
    if at < len(content):
        yield -1, content[at:]


def _container_problems(content: bytes, kind: str) -> set[str]:
    problems: set[str] = set()
    if kind == "PNG":
        for chunk, data in _png_chunks(content):
            if chunk == b"":
                problems.add("trailing-data")
            elif chunk in _PNG_CHUNKS:
                problems.add(_PNG_CHUNKS[chunk])
                if chunk == b"iTXt" and data.startswith(b"XML:com.adobe.xmp\x00"):
                    problems.add("xmp")
            elif chunk not in _PNG_PLAIN:
                problems.add("other-metadata")
        return problems
    for marker, data in _jpeg_segments(content):
        if marker == -1:
            problems.add("trailing-data")
        elif marker == 0xFE:
            problems.add("comment")
        elif marker == 0xE0 and data.startswith(b"JFIF\x00"):
            continue  # the minimal JFIF header: version, density units, no thumbnail
        elif 0xE0 <= marker <= 0xEF:
            found = [code for prefix, code in _JPEG_APP.items() if data.startswith(prefix)]
            problems.update(found or ["other-metadata"])
    return problems


def _pillow_problems(content: bytes, kind: str) -> set[str]:
    problems: set[str] = set()
    with _open(content, (kind,)) as image:
        image.load()  # PNG chunks after the pixel data are only read now
        info = image.info
        if "exif" in info or len(image.getexif()):
            problems.add("exif")
        if _GPS_IFD in image.getexif() or image.getexif().get_ifd(_GPS_IFD):
            problems.add("gps")
        if "xmp" in info or "XML:com.adobe.xmp" in info:
            problems.add("xmp")
        if "icc_profile" in info:
            problems.add("icc-profile")
        if "comment" in info:
            problems.add("comment")
        if getattr(image, "text", None):
            problems.add("text-chunks")
        if getattr(image, "n_frames", 1) > 1:
            problems.add("extra-frames")
    return problems


def structural_problems(content: bytes, media_type: str) -> list[str]:
    """Short codes for what ``content`` carries besides pixels: ``exif``, ``gps``, ``xmp``,
    ``icc-profile``, ``text-chunks``, ``comment``, ``extra-frames``, ``other-metadata``,
    ``trailing-data``; ``unreadable`` if it cannot be parsed. An empty list means clean."""
    kind = _format(media_type)
    problems: set[str] = set()
    # Substrings no pixel data contains by chance, wherever the format hides them.
    if b"Exif\x00\x00" in content:
        problems.add("exif")
    if b"http://ns.adobe.com/xap/1.0/" in content:
        problems.add("xmp")
    try:
        problems |= _container_problems(content, kind)
        problems |= _pillow_problems(content, kind)
    except Exception as error:  # includes InvalidInput from _open: not clean either way
        logger.debug("could not check an image: %s", type(error).__name__)
        problems.add("unreadable")
    return sorted(problems)


def upright_pixels(content: bytes) -> Image.Image:
    """The decoded pixels of a JPEG or PNG as displayed (EXIF orientation applied)."""
    with _open(content, ("JPEG", "PNG")) as opened:
        return _upright(opened)
