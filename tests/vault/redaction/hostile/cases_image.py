"""Cases of class "image": JPEG and PNG files that show the name in their pixels, or keep it
in metadata (EXIF, XMP, comments, PNG text and private chunks, ICC profiles, an EXIF
thumbnail, bytes after the end of the image)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from .fonts import VERA
from .pdfkit import NAME, SURNAME
from .pictures import (
    exif,
    exif_with_thumbnail,
    gray_icc,
    harmless_image,
    jpeg,
    png,
    png_with_chunk,
    text_image,
    xmp,
)

JPEG, PNG = "image/jpeg", "image/png"
CYRILLIC = "\u041caris\u043el Quint\u0435ro"


@dataclass(frozen=True)
class ImageSpec:
    id: str
    media_type: str
    make: Callable[[], bytes]
    note: str
    terms: tuple[str, ...] = (NAME,)


SPECS: list[ImageSpec] = []


def case(
    id: str, media_type: str, note: str, terms: tuple[str, ...] = (NAME,)
) -> Callable[[Callable[[], bytes]], Callable[[], bytes]]:
    def register(make: Callable[[], bytes]) -> Callable[[], bytes]:
        SPECS.append(ImageSpec(id, media_type, make, note, terms))
        return make

    return register


def _caption(text: str) -> Image.Image:
    """A photo-like picture: a gradient, a harmless caption, and ``text`` in large letters."""
    image = Image.linear_gradient("L").resize((900, 260)).point(lambda v: 200 + v // 5)
    draw = ImageDraw.Draw(image)
    draw.text((30, 20), "Archivo 3", font=ImageFont.truetype(str(VERA), 28), fill=40)
    draw.text((30, 110), text, font=ImageFont.truetype(str(VERA), 64), fill=0)
    return image


# --- pixels


@case("jpeg-pixels", JPEG, "the name in large letters in the pixels")
def _jpeg_pixels() -> bytes:
    return jpeg(_caption(NAME))


@case("png-pixels", PNG, "the name in large letters in the pixels")
def _png_pixels() -> bytes:
    return png(_caption(NAME))


@case("png-inverted-pixels", PNG, "the name white on black in the pixels")
def _png_inverted() -> bytes:
    return png(text_image(NAME, 56, invert=True, margin=40))


@case(
    "png-transparent-text",
    PNG,
    "RGBA: black letters with alpha 0 on opaque white (invisible when composited)",
)
def _png_transparent() -> bytes:
    letters = text_image(NAME, 56, margin=40)
    alpha = letters.point(lambda v: 255 if v > 128 else 0)
    return png(Image.merge("RGBA", (letters, letters, letters, alpha)))


@case("png-surname-pixels", PNG, "only the surname in the pixels", (NAME, SURNAME))
def _png_surname() -> bytes:
    return png(_caption(f"Sr. {SURNAME}"))


# --- JPEG metadata


@case("jpeg-exif-artist", JPEG, "EXIF IFD0 Artist and ImageDescription")
def _exif_artist() -> bytes:
    return jpeg(harmless_image(), exif=exif({0x013B: NAME, 0x010E: f"Retrato de {NAME}"}))


@case("jpeg-exif-xpauthor", JPEG, "EXIF XPAuthor (Windows tag): UTF-16LE bytes")
def _exif_xp() -> bytes:
    data = Image.Exif()
    data[0x9C9D] = (NAME + "\x00").encode("utf-16-le")
    return jpeg(harmless_image(), exif=data.tobytes())


@case("jpeg-xmp", JPEG, "XMP packet (APP1) dc:creator")
def _jpeg_xmp() -> bytes:
    return jpeg(harmless_image(), xmp=xmp(NAME))


@case("jpeg-com", JPEG, "JPEG COM segment in Latin-1")
def _jpeg_com() -> bytes:
    return jpeg(harmless_image(), comment=f"Foto: {NAME}".encode("latin-1"))


@case(
    "jpeg-exif-thumbnail", JPEG, "EXIF IFD1 thumbnail (a JPEG inside APP1) shows the name in pixels"
)
def _jpeg_thumbnail() -> bytes:
    thumbnail = jpeg(text_image(NAME, 24, margin=10))
    return jpeg(harmless_image(), exif=exif_with_thumbnail(thumbnail))


@case("jpeg-icc-desc", JPEG, "APP2 ICC profile: the Unicode 'desc' is the name (UTF-16BE)")
def _jpeg_icc() -> bytes:
    return jpeg(harmless_image(), icc_profile=gray_icc("Gris 2.2", NAME))


@case("jpeg-app15-zlib", JPEG, "private APP15 segment holding zlib-compressed UTF-16LE text")
def _jpeg_app15() -> bytes:
    payload = b"VAULTNOTE\x00" + zlib.compress(f"fuente: {NAME}".encode("utf-16-le"))
    plain = jpeg(harmless_image())
    return plain[:2] + b"\xff\xef" + struct.pack(">H", len(payload) + 2) + payload + plain[2:]


@case("jpeg-trailing", JPEG, "UTF-16LE name in bytes after the end-of-image marker")
def _jpeg_trailing() -> bytes:
    return jpeg(harmless_image()) + NAME.encode("utf-16-le")


# --- PNG metadata


def _png_info(add: Callable[[PngInfo], None]) -> bytes:
    info = PngInfo()
    add(info)
    return png(harmless_image(), pnginfo=info)


@case("png-text", PNG, "tEXt chunk Author (Latin-1)")
def _png_text() -> bytes:
    return _png_info(lambda info: info.add_text("Author", NAME))


@case("png-ztxt", PNG, "zTXt chunk (compressed) Comment")
def _png_ztxt() -> bytes:
    return _png_info(lambda info: info.add_text("Comment", f"Entrevista con {NAME}", zip=True))


@case(
    "png-itxt-cyrillic",
    PNG,
    "compressed iTXt (UTF-8): the name with Cyrillic em, o, ie",
)
def _png_itxt() -> bytes:
    return _png_info(
        lambda info: info.add_itxt("Description", CYRILLIC, "es", "Descripción", zip=True)
    )


@case("png-exif", PNG, "eXIf chunk: Artist")
def _png_exif() -> bytes:
    return png(harmless_image(), exif=exif({0x013B: NAME}))


@case("png-icc-desc", PNG, "iCCP chunk (compressed ICC): ASCII 'desc' names her")
def _png_icc() -> bytes:
    return png(harmless_image(), icc_profile=gray_icc(f"Perfil {NAME}", "Gris"))


@case("png-private-chunk", PNG, "private ancillary chunk 'vnOt': zlib-compressed UTF-16LE text")
def _png_private() -> bytes:
    return png_with_chunk(harmless_image(), b"vnOt", zlib.compress(NAME.encode("utf-16-le")))


@case("png-trailing", PNG, "Latin-1 name in bytes after IEND")
def _png_trailing() -> bytes:
    return png(harmless_image()) + f"\n{NAME}\n".encode("latin-1")
