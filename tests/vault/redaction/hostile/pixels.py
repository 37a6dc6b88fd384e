"""The oracle's image probes: OCR with tesseract, and every place a JPEG or PNG keeps text
(EXIF, XMP, comments, PNG text and private chunks, ICC profiles, embedded thumbnails, bytes
after the end). Shared by the image path and by images found inside PDFs."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import tempfile
import warnings
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageOps, ImageStat

from .fold import Matcher

TESSERACT_ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # threads make it ~10x slower
PIL_FORMATS = ["JPEG", "PNG", "PPM", "TIFF", "GIF", "BMP", "WEBP"]


def ocr_files(paths: Sequence[Path]) -> list[str]:
    """Words tesseract reads in each image file, in one tesseract process per core rather than
    one per picture: starting it (loading two languages) costs as much as reading a page.
    Each picture is read on its own all the same (its page of the TSV)."""
    if not paths:
        return []
    chunks = min(os.cpu_count() or 1, -(-len(paths) // 4))
    parts = [list(paths[i::chunks]) for i in range(chunks)]
    with ThreadPoolExecutor(max_workers=chunks) as pool:
        answers = list(pool.map(_ocr_list, parts))
    out = [""] * len(paths)
    for i, answer in enumerate(answers):
        for j, words in enumerate(answer):
            out[i + j * chunks] = words
    return out


def _ocr_list(paths: list[Path]) -> list[str]:
    listing = paths[0].with_name(f"{paths[0].stem}.list")
    listing.write_text("".join(f"{path}\n" for path in paths))
    result = subprocess.run(
        ["tesseract", str(listing), "-", "-l", "eng+spa", "tsv"],
        capture_output=True,
        env=TESSERACT_ENV,
        check=True,
    )
    pages: dict[int, list[str]] = {}
    for line in result.stdout.decode("utf-8", errors="replace").splitlines()[1:]:
        columns = line.split("\t")
        if len(columns) >= 12 and columns[11].strip():
            pages.setdefault(int(columns[1]), []).append(columns[11])
    if set(pages) - set(range(1, len(paths) + 1)):
        raise AssertionError(f"tesseract numbered pages {sorted(pages)} for {len(paths)} files")
    return [" ".join(pages.get(n, [])) for n in range(1, len(paths) + 1)]


def prepared(image: Image.Image) -> bytes:
    """The PNG the oracle OCRs for any Pillow image: alpha is dropped (text under a
    transparent alpha channel is still in the pixels), dark pictures are inverted, small ones
    enlarged."""
    gray = image.convert("L")  # ignores alpha rather than compositing it
    if ImageStat.Stat(gray).mean[0] < 110:
        gray = ImageOps.invert(gray)
    if gray.height < 150:
        factor = -(-150 // max(gray.height, 1))
        gray = gray.resize((gray.width * factor, gray.height * factor), Image.Resampling.LANCZOS)
    gray = ImageOps.expand(gray, 20, fill=255)
    buffer = io.BytesIO()
    gray.save(buffer, "PNG")
    return buffer.getvalue()


def ocr_pictures(pictures: Sequence[Image.Image]) -> list[str]:
    """``ocr_files`` of the pictures, prepared and written to a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="oracle-pictures-") as folder:
        paths = []
        for n, picture in enumerate(pictures):
            path = Path(folder) / f"picture-{n}.png"
            path.write_bytes(prepared(picture))
            paths.append(path)
        return ocr_files(paths)


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
        texts = ocr_pictures([picture for _, picture in pictures])
        for (where, _), text in zip(pictures, texts, strict=True):
            needle = matcher.ocr(text)
            if needle:
                out.append(f"{label}: ocr {where} ({needle})")
    return out
