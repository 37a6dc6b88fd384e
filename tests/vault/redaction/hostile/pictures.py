"""Pixels and image metadata for the hostile cases: text drawn with Pillow in Vera, JPEG and
PNG files with hand-made EXIF (thumbnail included), a hand-made ICC profile, and XMP."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps

from .fonts import VERA

HARMLESS = "Archivo 3"  # what harmless pictures show


def text_image(text: str, size: int = 40, invert: bool = False, margin: int = 20) -> Image.Image:
    """Black text on white (white on black if ``invert``), grayscale, sized to fit."""
    font = ImageFont.truetype(str(VERA), size)
    left, top, right, bottom = (int(v) for v in font.getbbox(text))
    image = Image.new("L", (right - left + 2 * margin, bottom - top + 2 * margin), 255)
    ImageDraw.Draw(image).text((margin - left, margin - top), text, font=font, fill=0)
    return ImageOps.invert(image) if invert else image


def harmless_image() -> Image.Image:
    """A grey gradient with a harmless caption: pixels that do not name anyone."""
    image = text_image(HARMLESS, 32, margin=30)
    gradient = Image.linear_gradient("L").resize(image.size)
    return Image.blend(image, gradient, 0.25)


def jpeg(image: Image.Image, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def png(image: Image.Image, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def xmp(creator: str, description: str = "Foto de archivo") -> bytes:
    """A minimal XMP packet naming a creator (UTF-8)."""
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:creator><rdf:Seq><rdf:li>{creator}</rdf:li></rdf:Seq></dc:creator>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{description}</rdf:li></rdf:Alt>
   </dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def exif(entries: dict[int, str]) -> bytes:
    """EXIF (``Exif\\0\\0`` + TIFF) with ASCII IFD0 entries, e.g. 0x013B Artist."""
    data = Image.Exif()
    for tag, value in entries.items():
        data[tag] = value
    return data.tobytes()


def exif_with_thumbnail(thumbnail: bytes) -> bytes:
    """EXIF whose IFD1 carries a JPEG thumbnail, written by hand (Pillow writes no IFD1).
    IFD0 holds one harmless Software entry; the thumbnail is the only place with a name."""
    software = b"Camara 3\x00"
    ifd0_at = 8
    ifd1_at = ifd0_at + 2 + 12 + 4
    software_at = ifd1_at + 2 + 3 * 12 + 4
    thumb_at = software_at + len(software)
    tiff = b"II*\x00" + struct.pack("<I", ifd0_at)
    tiff += struct.pack("<HHHII", 1, 0x0131, 2, len(software), software_at)
    tiff += struct.pack("<I", ifd1_at)
    tiff += struct.pack("<H", 3)
    tiff += struct.pack("<HHII", 0x0103, 3, 1, 6)  # Compression: JPEG
    tiff += struct.pack("<HHII", 0x0201, 4, 1, thumb_at)  # JPEGInterchangeFormat
    tiff += struct.pack("<HHII", 0x0202, 4, 1, len(thumbnail))  # ...Length
    tiff += struct.pack("<I", 0) + software + thumbnail
    return b"Exif\x00\x00" + tiff


def _desc_tag(ascii_text: str, unicode_text: str) -> bytes:
    """An ICC v2 textDescriptionType: an ASCII part and a separate UTF-16BE part."""
    ascii_part = ascii_text.encode("latin-1") + b"\x00"
    unicode_part = (unicode_text + "\x00").encode("utf-16-be")
    body = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(ascii_part)) + ascii_part
    body += struct.pack(">II", 0, len(unicode_part) // 2) + unicode_part
    return body + b"\x00\x00\x00" + b"\x00" * 67  # no ScriptCode part


def gray_icc(ascii_text: str, unicode_text: str) -> bytes:
    """A minimal valid ICC v2 gray display profile (gamma 2.2) whose 'desc' tag says what it
    is told to: an ASCII description and, separately, a UTF-16BE one."""

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + struct.pack(">iii", *(round(v * 65536) for v in (x, y, z)))

    tags = [
        (b"desc", _desc_tag(ascii_text, unicode_text)),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"kTRC", b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, 0x0233) + b"\x00\x00"),
        (b"cprt", b"text\x00\x00\x00\x00Sin derechos reservados\x00"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        body += b"\x00" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I4sI4s4s4s", size, b"\x00" * 4, 0x02100000, b"mntr", b"GRAY", b"XYZ ")
    header += struct.pack(">6H", 2024, 3, 14, 10, 0, 0) + b"acsp" + b"\x00" * 24
    header += struct.pack(">I", 0) + xyz(0.9642, 1.0, 0.8249)[8:] + b"\x00" * 48
    assert len(header) == 128
    return header + table + data


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_chunk(image: Image.Image, kind: bytes, data: bytes) -> bytes:
    """A PNG with one extra chunk spliced in just before IDAT."""
    plain = png(image)
    at = plain.index(b"IDAT") - 4
    return plain[:at] + png_chunk(kind, data) + plain[at:]
