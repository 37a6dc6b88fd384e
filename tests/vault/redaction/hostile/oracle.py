"""An independent leak oracle: where does a file still show a redacted term?

It imports nothing from ``vault``, and reads files in as many ways as it can, so a redactor's
blind spot is unlikely to be the oracle's too. For a PDF:

* the raw file bytes, in Latin-1, UTF-8, UTF-16BE and UTF-16LE, and the PDF tokens of the
  raw file outside stream bodies (strings of objects no xref lists any more);
* every zlib stream carved out of the raw bytes, whether or not the xref still lists it (older
  revisions of an incrementally updated file, objects nothing points at);
* every object pikepdf can see, reachable or not, and the trailer: dictionary keys and name
  values (``#xx`` unescaped), string bytes in every encoding, and streams undecoded, decoded
  (filters that keep bytes) and fully decoded; in textual streams also the PDF tokens
  (literal strings with escapes, hex strings, names);
* font programs (TrueType/OpenType name tables, CFF strings, Type 1 after eexec decryption),
  embedded JPEG/PNG metadata, attached PDFs (recursively), and the pixels of image XObjects
  and thumbnails (OCR; decoded samples over ``SAMPLE_LIMIT`` are not searched as bytes);
* ``pdftotext`` (media box, so text outside the crop box counts), and OCR of every page
  rendered by ``pdftoppm -r 200 -gray``.

For an image: raw bytes, metadata and pixels (see ``pixels``). An empty list means clean; a
file the oracle cannot read is a finding, not a pass.
"""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import tempfile
import warnings
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import pikepdf
from fontTools.cffLib import CFFFontSet
from fontTools.ttLib import TTFont

from .fold import Matcher
from .pixels import image_findings, metadata_findings, ocr_files, prepared

PDF = "application/pdf"
IMAGES = ("image/jpeg", "image/png")
MAX_DEPTH = 2  # attachments inside attachments
# Decoded samples of images larger than this are not searched as text (a rasterised page is
# ~10 MB of pixels); their raw and JPEG bytes still are, and OCR reads what they show.
SAMPLE_LIMIT = 1 << 20
LEVELS = (
    ("decoded", pikepdf.StreamDecodeLevel.generalized),  # JPEG bytes stay JPEG bytes here
    ("specialized", pikepdf.StreamDecodeLevel.specialized),  # adds RunLength
    ("all", pikepdf.StreamDecodeLevel.all),  # pixels of DCT images
)
_GENERAL_FILTERS = (
    "/FlateDecode", "/LZWDecode", "/ASCII85Decode", "/ASCIIHexDecode", "/RunLengthDecode",
    "/Fl", "/LZW", "/A85", "/AHx", "/RL",
)  # fmt: skip
_FONT_FILE_KEYS = ("/Length1", "/Length2", "/Length3")
_FONT_FILE_SUBTYPES = ("/Type1C", "/CIDFontType0C", "/OpenType")


def findings(
    content: bytes, media_type: str, terms: Sequence[str], *, ocr: bool = True
) -> list[str]:
    """Human-readable places where ``content`` still shows one of ``terms``; ``ocr=False``
    skips rendering and OCR (for quick checks only: it can miss text drawn as pixels)."""
    matcher = Matcher(terms)
    if media_type == PDF:
        return pdf_findings(content, matcher, ocr=ocr)
    if media_type in IMAGES:
        return image_findings(content, matcher, "image", ocr)
    raise ValueError(f"the oracle does not read {media_type}")


def pdf_findings(
    content: bytes, matcher: Matcher, ocr: bool, label: str = "pdf", depth: int = 0
) -> list[str]:
    out = [f"{label}: raw-bytes {hit}" for hit in matcher.data(content)]
    # Tokens of the file's object syntax, stream bodies left out: finds hex and escaped
    # strings in objects the xref no longer lists (an older revision's /Info, say).
    skeleton = re.sub(rb"stream\r?\n.*?endstream", b" ", content, flags=re.S)
    out += [f"{label}: raw tokens {hit}" for hit in token_hits(skeleton, matcher)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pdf = pikepdf.open(io.BytesIO(content))
    except pikepdf.PdfError as error:
        return [*out, f"{label}: unreadable by pikepdf, cannot be checked ({error})"]
    with pdf:
        walker = _Walker(matcher, label, ocr, depth)
        walker.walk(pdf)
        out += walker.out
    out += _carved(content, matcher, label, walker.seen)
    with tempfile.TemporaryDirectory(prefix="oracle-") as folder:
        path = Path(folder) / "file.pdf"
        path.write_bytes(content)
        out += _pdftotext(path, matcher, label)
        if ocr:
            out += _read_pixels(path, walker.pictures, matcher, label)
    return out


class _Walker:
    """Visits every object of an open file; see the module docstring."""

    def __init__(self, matcher: Matcher, label: str, ocr: bool, depth: int) -> None:
        self.matcher, self.label, self.ocr, self.depth = matcher, label, ocr, depth
        self.out: list[str] = []
        self.seen: set[bytes] = set()  # digests of decoded stream data, for carving
        self.pictures: list[tuple[str, bytes]] = []  # (where, prepared PNG), read at the end

    def add(self, where: str, what: str) -> None:
        self.out.append(f"{self.label}: {where}: {what}")

    def walk(self, pdf: pikepdf.Pdf) -> None:
        self.visit(pdf.trailer, "trailer")
        for obj in pdf.objects:  # every object in the xref, reachable or not
            self.visit(obj, "{} {} R".format(*obj.objgen))

    def visit(self, obj: object, where: str) -> None:
        matcher = self.matcher
        if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
            for key, value in obj.items():
                if matcher.text(key[1:]):
                    self.add(where, f"key {key}")
                if not (isinstance(value, pikepdf.Object) and value.is_indirect):
                    self.visit(value, where)
            if isinstance(obj, pikepdf.Stream):
                self.stream(obj, where)
        elif isinstance(obj, pikepdf.Array):
            for item in obj:
                if not (isinstance(item, pikepdf.Object) and item.is_indirect):
                    self.visit(item, where)
        elif isinstance(obj, pikepdf.Name):
            if matcher.text(str(obj)[1:]):
                self.add(where, f"name {obj}")
        elif isinstance(obj, pikepdf.String):
            hits = matcher.data(bytes(obj))
            needle = matcher.text(str(obj))  # as pikepdf decodes it: PDFDocEncoding or UTF-16
            if needle:
                hits.append(f"text:{needle}")
            self.out += [f"{self.label}: {where}: string {hit}" for hit in hits]

    def stream(self, stream: pikepdf.Stream, where: str) -> None:
        versions = {"raw": stream.read_raw_bytes()}
        for kind, level in LEVELS:
            try:
                data = stream.read_bytes(decode_level=level)
            except pikepdf.PdfError:
                continue
            if data not in versions.values():
                versions[kind] = data
        peeled = _peel(stream)
        if peeled is not None and peeled not in versions.values():
            versions["peeled"] = peeled
        textual = (
            stream.get("/Subtype") != "/Image"
            and not any(k in stream for k in _FONT_FILE_KEYS)
            and stream.get("/Subtype") not in _FONT_FILE_SUBTYPES
        )
        samples = _is_picture(stream, minimum=0)
        for kind, data in versions.items():
            self.seen.add(hashlib.sha256(data).digest())
            if samples and kind not in ("raw", "peeled") and len(data) > SAMPLE_LIMIT:
                continue  # decoded pixels of a big image: OCR reads what they show
            here = f"{where} stream {kind}"
            self.out += [f"{self.label}: {here}: {hit}" for hit in self.matcher.data(data)]
            if textual:
                self.out += [
                    f"{self.label}: {here}: {hit}" for hit in token_hits(data, self.matcher)
                ]
            self.out += [f"{self.label}: {here}: {hit}" for hit in font_hits(data, self.matcher)]
            if data.startswith((b"\xff\xd8\xff", b"\x89PNG")):
                self.out += metadata_findings(
                    data, self.matcher, f"{self.label}: {here} image file"
                )
            if data.startswith(b"%PDF") and self.depth < MAX_DEPTH:
                inner = f"{self.label} > {where}"
                self.out += pdf_findings(data, self.matcher, self.ocr, inner, self.depth + 1)
        if self.ocr and _is_picture(stream):
            self._ocr_image(stream, where)

    def _ocr_image(self, stream: pikepdf.Stream, where: str) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if stream.get("/Subtype") == "/Image":
                    image = pikepdf.PdfImage(stream).as_pil_image()
                else:  # a thumbnail: pikepdf wants /Subtype /Image, so give a copy one
                    scratch = pikepdf.new()
                    copy = scratch.copy_foreign(stream)
                    assert isinstance(copy, pikepdf.Stream)
                    copy.Subtype = pikepdf.Name.Image
                    image = pikepdf.PdfImage(copy).as_pil_image()
        except Exception:  # pikepdf cannot decode it; its bytes were searched all the same
            return
        self.pictures.append((where, prepared(image)))


def _peel(stream: pikepdf.Stream) -> bytes | None:
    """The stream with only its leading general-purpose filters undone: qpdf decodes a chain
    all or nothing, so [/FlateDecode /DCTDecode] would give either deflated bytes or pixels,
    never the JPEG file (and its metadata) in between."""
    filters = stream.get("/Filter")
    if not isinstance(filters, pikepdf.Array) or len(filters) < 2:
        return None
    names = [str(f) for f in filters]
    keep = next((i for i, f in enumerate(names) if f not in _GENERAL_FILTERS), len(names))
    if keep in (0, len(names)):
        return None
    scratch = pikepdf.new()
    copy = pikepdf.Stream(scratch, stream.read_raw_bytes())
    copy.Filter = pikepdf.Array([pikepdf.Name(f) for f in names[:keep]])
    parms = stream.get("/DecodeParms")
    if isinstance(parms, pikepdf.Array):
        copy.DecodeParms = pikepdf.Array(
            [
                pikepdf.Dictionary(dict(p.items())) if isinstance(p, pikepdf.Dictionary) else None
                for p in list(parms)[:keep]
            ]
        )
    try:
        return copy.read_bytes(decode_level=pikepdf.StreamDecodeLevel.specialized)
    except pikepdf.PdfError:
        return None


def _is_picture(stream: pikepdf.Stream, minimum: int = 8) -> bool:
    """Image XObjects and thumbnails (which have no /Subtype), big enough to hold letters."""
    if stream.get("/Subtype") not in (None, "/Image") or "/Width" not in stream:
        return False
    return int(stream.get("/Width", 0)) >= 2 * minimum and int(stream.get("/Height", 0)) >= minimum


# --- PDF tokens inside decoded streams

_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}
_DELIMITERS = b"()<>[]{}/% \t\r\n\f\x00"


def _literal(data: bytes, at: int) -> tuple[bytes, int]:
    """A literal string starting at ``data[at] == '('``: its bytes and the offset after it."""
    out, depth, i = bytearray(), 1, at + 1
    while i < len(data):
        c = data[i]
        if c == 0x5C and i + 1 < len(data):  # backslash
            n = data[i + 1]
            octal = re.match(rb"[0-7]{1,3}", data[i + 1 : i + 4])
            if octal:
                out.append(int(octal.group(), 8) & 0xFF)
                i += 1 + len(octal.group())
                continue
            if n in (0x0A, 0x0D):  # line continuation
                i += 3 if data[i + 1 : i + 3] == b"\r\n" else 2
                continue
            out += _ESCAPES.get(n, bytes([n]))
            i += 2
            continue
        depth += (c == 0x28) - (c == 0x29)
        if depth == 0:
            return bytes(out), i + 1
        out.append(c)
        i += 1
    return bytes(out), i


def tokens(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(kind, bytes) for the literal strings, hex strings and names in PDF syntax."""
    i = 0
    while i < len(data):
        c = data[i : i + 1]
        if c == b"%":
            newline = re.compile(rb"[\r\n]").search(data, i)
            i = len(data) if newline is None else newline.end()
        elif c == b"(":
            value, i = _literal(data, i)
            yield "literal", value
        elif c == b"<" and data[i + 1 : i + 2] != b"<":
            end = data.find(b">", i)
            end = len(data) if end < 0 else end
            digits = re.sub(rb"[^0-9A-Fa-f]", b"", data[i + 1 : end])
            yield "hex", bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode())
            i = end + 1
        elif c == b"/":
            j = i + 1
            while j < len(data) and data[j] not in _DELIMITERS:
                j += 1
            raw = data[i + 1 : j]
            yield "name", re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes.fromhex(m[1].decode()), raw)
            i = j
        else:
            i += 2 if data[i : i + 2] == b"<<" else 1


def token_hits(data: bytes, matcher: Matcher) -> list[str]:
    """Needles in single tokens, and in all strings joined (text split across TJ pieces)."""
    hits, strings = [], []
    for kind, value in tokens(data):
        hits += [f"{kind} token {hit}" for hit in matcher.data(value)]
        if kind != "name":
            strings.append(value)
    hits += [f"joined strings {hit}" for hit in matcher.data(b"".join(strings))]
    return hits


# --- font programs


def _eexec(data: bytes) -> bytes:
    """The decrypted private part of a Type 1 font program (binary or hex eexec)."""
    start = data.find(b"eexec")
    if start < 0:
        return b""
    body = data[start + 5 :].lstrip(b"\r\n\t ")
    if re.fullmatch(rb"[0-9A-Fa-f\s]{8,}", body[:64]):
        body = bytes.fromhex(
            re.sub(rb"[^0-9A-Fa-f]", b"", body[: body.find(b"0000000000")]).decode()
        )
    key, out = 55665, bytearray()
    for cipher in body:
        out.append(cipher ^ (key >> 8))
        key = ((cipher + key) * 52845 + 22719) & 0xFFFF
    return bytes(out[4:])


def font_hits(data: bytes, matcher: Matcher) -> list[str]:
    """Names inside font programs: sfnt name tables and glyph names, CFF strings, Type 1."""
    texts: list[tuple[str, str]] = []
    try:
        if data[:4] in (b"\x00\x01\x00\x00", b"OTTO", b"true", b"ttcf"):
            font = TTFont(io.BytesIO(data), lazy=True)
            texts += [("name table", r.toUnicode(errors="replace")) for r in font["name"].names]
            texts += [("glyph name", name) for name in font.getGlyphOrder()]
            if "CFF " in font:
                data = font.getTableData("CFF ")
        if data[:3] == b"\x01\x00\x04":
            cff = CFFFontSet()
            cff.decompile(io.BytesIO(data), None)
            texts += [("cff font name", name) for name in cff.fontNames]
            texts += [("cff string", str(s)) for s in cff.strings.strings]
            for name in cff.fontNames:
                texts += [("cff glyph name", glyph) for glyph in cff[name].charset]
    except Exception:  # noqa: S110 - not a font after all; its bytes were searched
        pass
    hits = [f"font {where}" for where, text in texts if matcher.text(text)]
    if data.startswith((b"%!PS-AdobeFont", b"%!FontType1")):
        hits += [f"type1 eexec {hit}" for hit in matcher.data(_eexec(data))]
    return hits


# --- raw carving, text extraction, rendering


def _carved(content: bytes, matcher: Matcher, label: str, seen: set[bytes]) -> list[str]:
    """Flate streams carved from the raw bytes that pikepdf did not hand us (dead
    revisions, unlisted objects)."""
    out = []
    for found in re.finditer(rb"stream\r?\n", content):
        end = content.find(b"endstream", found.end())
        try:
            data = zlib.decompressobj().decompress(content[found.end() : end if end > 0 else None])
        except zlib.error:
            continue
        if not data or hashlib.sha256(data).digest() in seen:
            continue
        hits = matcher.data(data) + token_hits(data, matcher)
        out += [f"{label}: carved stream at byte {found.start()}: {hit}" for hit in hits]
    return out


def _pdftotext(path: Path, matcher: Matcher, label: str) -> list[str]:
    result = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        return [f"{label}: pdftotext failed, cannot be checked: {result.stderr[:200]!r}"]
    pages = result.stdout.decode("utf-8", errors="replace").split("\f")
    return [
        f"{label}: pdftotext page {n} ({hit})"
        for n, text in enumerate(pages, 1)
        if (hit := matcher.text(text))
    ]


def _read_pixels(
    path: Path, pictures: list[tuple[str, bytes]], matcher: Matcher, label: str
) -> list[str]:
    """OCR of every page rendered by pdftoppm and of every picture the walk found, in one
    batch (``ocr_files``)."""
    prefix = path.with_name("page")
    result = subprocess.run(
        ["pdftoppm", "-r", "200", "-gray", str(path), str(prefix)],
        capture_output=True,
        check=False,
    )
    pages = sorted(path.parent.glob("page-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    out = []
    if result.returncode != 0 or not pages:
        out.append(f"{label}: pdftoppm failed, cannot be checked: {result.stderr[:200]!r}")
    files = list(pages)
    for n, (_, png) in enumerate(pictures):
        files.append(path.with_name(f"picture-{n}.png"))
        files[-1].write_bytes(png)
    texts = ocr_files(files)
    for page, text in zip(pages, texts, strict=False):
        needle = matcher.ocr(text)
        if needle:
            out.append(f"{label}: ocr page {page.stem.rsplit('-', 1)[1].lstrip('0')} ({needle})")
    for (where, _), text in zip(pictures, texts[len(pages) :], strict=True):
        needle = matcher.ocr(text)
        if needle:
            out.append(f"{label}: {where}: ocr of the image ({needle})")
    return out


__all__ = ["IMAGES", "PDF", "findings"]
