"""A long-lived Tesseract reader: the child process behind ``vault.redaction.ocr_engine``.

Run as ``python -I -S ocr_worker.py LANGUAGES [NAME=VALUE ...]``; it imports nothing of the
vault (and nothing outside the standard library), so it starts in milliseconds and a fault in
the engine ends this process, never the server.

Why by hand: starting the ``tesseract`` program costs about 0.4 s of CPU before it reads a
pixel (loading two languages' models), as much as reading a light page. Keeping the engine
loaded needs Tesseract's API; the maintained binding (tesserocr) ships its own build of the
engine, which could read a page differently from the installed ``tesseract`` program the rest
of the vault and its tests rely on. So this calls the system's ``libtesseract`` through its
stable C API (``capi.h``), the same library that program runs, with the same settings.

The protocol, on standard input and output:

* on start, one byte: ``R`` when the engine is loaded; ``U`` (then exit) when the library or
  the languages' data cannot be loaded;
* each request: width and height as big-endian unsigned 32-bit integers, then ``width *
  height`` bytes of 8-bit grey pixels, row by row;
* each answer: a big-endian unsigned 32-bit length, then that many bytes of TSV, exactly what
  ``tesseract stdin stdout tsv`` prints for the same pixels (its header line included).

The process exits when its input ends or after ``IDLE_SECONDS`` without a request, so a
vault that stops or goes quiet does not keep the engine's memory. Standard error is for the
engine's own chatter; the parent discards it, since it may quote what was read.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import sys

IDLE_SECONDS = 300
_COLUMNS = "level page_num block_num par_num line_num word_num left top width height conf text"
_HEADER = _COLUMNS.replace(" ", "\t").encode() + b"\n"  # as the tesseract program prints it
_PSM_AUTO = 3  # what the tesseract program uses; the library's own default is a single block
_MAX_SIDE = 32_768  # Leptonica's own limit is larger; no page the vault renders comes close


def _library() -> ctypes.CDLL:
    lib = ctypes.CDLL("libtesseract.so.5")
    handle, text = ctypes.c_void_p, ctypes.c_char_p
    lib.TessBaseAPICreate.restype = handle
    lib.TessBaseAPIInit3.argtypes = [handle, text, text]
    lib.TessBaseAPISetVariable.argtypes = [handle, text, text]
    lib.TessBaseAPISetPageSegMode.argtypes = [handle, ctypes.c_int]
    lib.TessBaseAPISetImage.argtypes = [handle, text, *[ctypes.c_int] * 4]
    lib.TessBaseAPIGetTsvText.argtypes = [handle, ctypes.c_int]
    lib.TessBaseAPIGetTsvText.restype = handle  # freed by TessDeleteText, so not c_char_p
    lib.TessDeleteText.argtypes = [handle]
    lib.TessBaseAPIClear.argtypes = [handle]
    return lib


def _read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd``, or ``None`` if the input ends first."""
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main(argv: list[str]) -> int:
    fd_in, fd_out = sys.stdin.fileno(), sys.stdout.fileno()
    try:
        lib = _library()
        api = lib.TessBaseAPICreate()
        if not api or lib.TessBaseAPIInit3(api, None, argv[0].encode()) != 0:
            raise OSError("the languages' data could not be loaded")
        for setting in argv[1:]:
            name, _, value = setting.partition("=")
            if not lib.TessBaseAPISetVariable(api, name.encode(), value.encode()):
                raise OSError("unknown setting")
        lib.TessBaseAPISetPageSegMode(api, _PSM_AUTO)
    except (OSError, AttributeError, IndexError):
        _write(fd_out, b"U")
        return 3
    _write(fd_out, b"R")
    while True:
        ready, _, _ = select.select([fd_in], [], [], IDLE_SECONDS)
        if not ready:
            return 0
        head = _read_exactly(fd_in, 8)
        if head is None:
            return 0
        width, height = struct.unpack(">II", head)
        if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
            return 4
        pixels = _read_exactly(fd_in, width * height)
        if pixels is None:
            return 0
        lib.TessBaseAPISetImage(api, pixels, width, height, 1, width)
        result = lib.TessBaseAPIGetTsvText(api, 0)
        if not result:
            return 5
        try:
            tsv = _HEADER + ctypes.string_at(result)
        finally:
            lib.TessDeleteText(result)
            lib.TessBaseAPIClear(api)
        _write(fd_out, struct.pack(">I", len(tsv)) + tsv)
        del pixels, tsv  # nothing of a page is held while the worker waits for the next


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
