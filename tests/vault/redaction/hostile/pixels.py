"""The oracle's image probes: OCR with tesseract, and every place a JPEG or PNG keeps text
(EXIF, XMP, comments, PNG text and private chunks, ICC profiles, embedded thumbnails, bytes
after the end). Shared by the image path and by images found inside PDFs."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import warnings
import zlib
from collections.abc import Iterator

from PIL import Image, ImageOps, ImageStat

from .fold import Matcher

TESSERACT_ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # threads make it ~10x slower
PIL_FORMATS = ["JPEG", "PNG", "PPM", "TIFF", "GIF", "BMP", "WEBP"]


def ocr_words(image_bytes: bytes) -> str:
    """Words tesseract reads in an image file (eng+spa), space separated."""
    result = subprocess.run(
        ["tesseract", "-", "-", "-l", "eng+spa", "tsv"],
        input=image_bytes,
        capture_output=True,
        env=TESSERACT_ENV,
        check=True,
    )
    words = []
    for line in result.stdout.decode("utf-8", errors="replace").splitlines()[1:]:
        columns = line.split("\t")
        if len(columns) >= 12 and columns[11].strip():
            words.append(columns[11])
    return " ".join(words)


def ocr_image(image: Image.Image) -> str:
    """OCR of any Pillow image: alpha is dropped (text under a transparent alpha channel is
    still in the pixels), dark pictures are inverted, small ones enlarged."""
    gray = image.convert("L")  # ignores alpha rather than compositing it
    if ImageStat.Stat(gray).mean[0] < 110:
        gray = ImageOps.invert(gray)
    if gray.height < 150:
        factor = -(-150 // max(gray.height, 1))
        gray = gray.resize((gray.width * factor, gray.height * factor), Image.Resampling.LANCZOS)
    gray = ImageOps.expand(gray, 20, fill=255)
    buffer = io.BytesIO()
    gray.save(buffer, "PNG")
    return ocr_words(buffer.getvalue())


def open_image(data: bytes) -> Image.Image | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # hostile files make Pillow warn; we only read
            image = Image.open(io.BytesIO(data), formats=PIL_FORMATS)
            image.load()
            return image
    except Exception:  # not an image Pillow reads; callers decide what that means
        return None


def inflate_everywhere(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Every zlib stream that starts anywhere in ``data`` (a valid two-byte header), so
    compressed text in private chunks or trailing bytes is read too."""
    for at in range(len(data) - 2):
        cmf, flg = data[at], data[at + 1]
        if cmf & 0x0F != 8 or (cmf << 8 | flg) % 31 or flg & 0x20:
            continue
        try:
            out = zlib.decompressobj().decompress(data[at:], 50_000_000)
        except zlib.error:
            continue
        if out:
            yield at, out


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    at = 8
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        yield kind, data[at + 8 : at + 8 + length]
        at += 12 + length
        if kind == b"IEND":
            yield b"after-IEND", data[at:]
            return


def _end_of_jpeg(data: bytes) -> int:
    """Offset after the main image's EOI: walk the segments, then scan the entropy data."""
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        at += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            end = data.find(b"\xff\xd9", at)
            return len(data) if end < 0 else end + 2
    return len(data)


def metadata_findings(data: bytes, matcher: Matcher, label: str) -> list[str]:
    """Text kept in an image file's metadata, decoded as Pillow and the formats define it."""
    out: list[str] = []
    extra: list[tuple[str, bytes]] = []  # pieces searched raw and for zlib streams inside
    image = open_image(data)
    if image is not None:
        for key, value in image.info.items():
            if isinstance(value, str) and matcher.text(value):
                out.append(f"{label}: info {key}")
            elif isinstance(value, bytes):
                out += [f"{label}: info {key} {hit}" for hit in matcher.data(value)]
        exif = image.getexif()
        for ifd in [exif, *(exif.get_ifd(tag) for tag in (0x8769, 0x8825, 0xA005))]:
            for tag, value in ifd.items():
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                if matcher.text(text):
                    out.append(f"{label}: exif tag {tag:#06x}")
        extra += [
            (f"segment {marker}", segment) for marker, segment in getattr(image, "applist", [])
        ]
    if data.startswith(b"\x89PNG"):
        for kind, body in _png_chunks(data):
            if kind != b"IDAT":
                extra.append((kind.decode("latin-1"), body))
    elif data.startswith(b"\xff\xd8"):
        extra.append(("after-EOI", data[_end_of_jpeg(data) :]))
    for where, body in extra:
        out += [f"{label}: {where} {hit}" for hit in matcher.data(body)]
        for at, inflated in inflate_everywhere(body[:2_000_000]):
            out += [f"{label}: {where} inflated@{at} {hit}" for hit in matcher.data(inflated)]
    return out


def embedded_jpegs(data: bytes) -> Iterator[tuple[int, Image.Image]]:
    """JPEGs that start after offset 0 (EXIF thumbnails, files glued on)."""
    at = data.find(b"\xff\xd8\xff", 1)
    while at > 0:
        image = open_image(data[at:])
        if image is not None:
            yield at, image
        at = data.find(b"\xff\xd8\xff", at + 1)


def image_findings(data: bytes, matcher: Matcher, label: str, ocr: bool) -> list[str]:
    """Everything the oracle checks in an image file: bytes, metadata, pixels."""
    out = [f"{label}: raw-bytes {hit}" for hit in matcher.data(data)]
    out += metadata_findings(data, matcher, label)
    image = open_image(data)
    if image is None:
        return [*out, f"{label}: unreadable image (cannot be checked)"]
    if ocr:
        pictures = [
            ("pixels", image),
            *((f"embedded jpeg@{at}", im) for at, im in embedded_jpegs(data)),
        ]
        for where, picture in pictures:
            needle = matcher.ocr(ocr_image(picture))
            if needle:
                out.append(f"{label}: ocr {where} ({needle})")
    return out
