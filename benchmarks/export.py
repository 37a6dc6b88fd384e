"""The ``export`` suite: seconds per page of a redacted PDF export, beside the bare cost of
rendering and OCR with the command-line tools on the same pages, in the same run.

Documents (generated here, invented text): a 20-page text PDF (reportlab, Helvetica 10 pt, about
45 lines a page, a source's name on every fourth page) and a 20-page scan of the same pages
(each page a 200 dpi greyscale picture and nothing else). Each is exported with one term
redaction of the name, in the default mode (every page re-rendered, OCR text layer, healing, the
four readers) and with ``keep_text_pages``.

- vault: ``vault.redaction.export.produce`` in this process, as the server runs it (two OCR
  processes at a time on two cores). Its OCR cache is emptied before each run, so that no run
  reuses another's readings.
- pdftoppm+tesseract: ``pdftoppm -r 200 -gray`` of the whole document to PNG files, then
  ``tesseract PAGE - -l eng+spa pdf`` for every page, two at a time: what "render and OCR
  every page" costs with the tools themselves, no redaction and no check. The vault does that
  work and then reads every page back, so a ratio near 1 means the checks are nearly free.

``rss_growth_mib`` is the vault's peak memory growth for the 20-page document; ``details``
gives the growth for a 5-page document of the same pages too: flat memory means the two are
close (the released PDF itself, a few hundred KiB a page, is the only thing that grows).
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from benchmarks.common import Context, Result, RssSampler, median_seconds, say
from vault.redaction import export, ocr
from vault.redaction.model import Category, Kind
from vault.redaction.pdf import source

NAME = "Marisol Quintero"
PAGES = 20
_WORDS = (
    "el comité revisó las cuentas del puerto y los contratos de obra pública firmados durante "
    "la legislatura anterior con empresas que no presentaron garantías ni facturas completas"
).split()


def _lines(page: int, rng: random.Random) -> list[str]:
    lines = [" ".join(rng.choice(_WORDS) for _ in range(12)) for _ in range(45)]
    if page % 4 == 0:
        lines[10] = f"Entrevista con {NAME} sobre los contratos del municipio."
    return lines


def text_pdf(pages: int) -> bytes:
    rng = random.Random(7)  # noqa: S311 - filler text, not a secret
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(612, 792), invariant=True)
    for page in range(pages):
        canvas.setFont("Helvetica", 10)
        for i, line in enumerate(_lines(page, rng)):
            canvas.drawString(60, 740 - i * 15, line)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def scan_pdf(pages: int) -> bytes:
    """The text PDF's pages as pictures: what a scanner hands over."""
    content = text_pdf(pages)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(612, 792), invariant=True)
    with source.open_pdfium(content) as document:
        for index in range(len(document)):
            page = document[index]
            try:
                picture = source.raster(page, 200, grey=True).image
            finally:
                page.close()
            canvas.drawImage(ImageReader(picture), 0, 0, 612, 792)
            canvas.showPage()
    canvas.save()
    return out.getvalue()


def _produce(content: bytes, keep_text_pages: bool) -> None:
    target = export.Target("r", Kind.TERM, Category.SOURCE_IDENTITY, term=NAME)
    options = export.ExportOptions(keep_text_pages=keep_text_pages)
    export.produce(content, "application/pdf", [target], options)


def _forget_readings() -> None:
    with ocr._cache_lock:
        ocr._cache.clear()


def _tools(content: bytes) -> None:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    with tempfile.TemporaryDirectory(prefix="vault-bench-ocr-") as work:
        pdf = Path(work) / "in.pdf"
        pdf.write_bytes(content)
        subprocess.run(  # noqa: S603 - fixed arguments
            ["pdftoppm", "-r", "200", "-gray", "-png", str(pdf), str(Path(work) / "p")],  # noqa: S607
            check=True,
        )
        pages = sorted(Path(work).glob("p*.png"))

        def read(page: Path) -> None:
            subprocess.run(  # noqa: S603 - fixed arguments
                ["tesseract", str(page), "-", "-l", ocr.LANGUAGES, "pdf"],  # noqa: S607
                check=True,
                env=env,
                capture_output=True,
            )

        with ThreadPoolExecutor(max_workers=ocr.workers()) as pool:
            list(pool.map(read, pages))


def _growth(content: bytes, keep_text_pages: bool) -> float:
    _forget_readings()
    with RssSampler(os.getpid()).watching() as sampler:
        _produce(content, keep_text_pages)
    return sampler.growth_mib


def run(ctx: Context) -> list[Result]:
    repeat = 1 if ctx.quick else 3
    documents = {"text": text_pdf, "scan": scan_pdf}
    results = []
    for kind, make in documents.items():
        say(f"   building the {PAGES}-page {kind} PDF")
        small, large = make(5), make(PAGES)
        say(f"   {kind}: pdftoppm+tesseract")
        tools = median_seconds(lambda large=large: _tools(large), repeat=repeat)
        for keep in (False, True):
            mode = "keep-text-pages" if keep else "default"
            say(f"   {kind} {mode}: vault")
            seconds = median_seconds(
                lambda large=large, keep=keep: _produce(large, keep),
                repeat=repeat,
                setup=_forget_readings,
                warmup=not ctx.quick,
            )
            growth_small, growth_large = _growth(small, keep), _growth(large, keep)
            results.append(
                Result(
                    name=f"export-{kind}-{mode}",
                    vault_s=seconds / PAGES,
                    size_bytes=len(large),
                    peers={"pdftoppm+tesseract": tools / PAGES},
                    rss_growth_mib=growth_large,
                    details={
                        "pages": PAGES,
                        "seconds": round(seconds, 2),
                        "seconds_per_page_target": 2.0,
                        "rss_growth_mib_5_pages": round(growth_small, 1),
                    },
                )
            )
    return results


__all__ = ["run", "scan_pdf", "text_pdf"]
