"""The kept-loaded OCR engine: the same words as the ``tesseract`` program, picture after
picture on one worker and from several threads at once; a worker that dies, overruns or idles
is replaced; nothing outlives the process that started it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from PIL import Image, ImageFilter, ImageOps

from tests.vault.redaction.hostile.pictures import text_image
from vault.errors import InvalidInput
from vault.redaction import ocr, ocr_engine

pytestmark = pytest.mark.skipif(not ocr.available(), reason="tesseract is not installed")


def _page(lines: list[str], *, grey: int = 0, size: int = 34) -> Image.Image:
    page = Image.new("L", (1400, 200 + 70 * len(lines)), 255)
    for i, line in enumerate(lines):
        page.paste(text_image(line, size), (100, 100 + 70 * i))
    if grey:  # light text: the darkest pixel becomes ``grey``
        page = page.point(lambda v: max(v, grey))
    return page


def _pictures() -> list[Image.Image]:
    """Pictures that exercise different paths of the engine: plain print, two languages, very
    light text, white on black, a blurred photograph, a tiny one, a blank one."""
    noisy = _page(["Acta de la reunión del comité", "Teléfono 55 1234 5678"])
    return [
        _page(["Entrevista con Marisol Quintero", "en el puerto, a las nueve"]),
        _page(["Año: señalización, pingüino, acción"], size=40),
        _page(["very light text on white paper"], grey=215),
        ImageOps.invert(_page(["white letters on a black ground"])),
        noisy.filter(ImageFilter.GaussianBlur(1.2)).rotate(1.5, fillcolor=255),
        text_image("Quintero", 14, margin=2),
        Image.new("L", (600, 300), 255),
        Image.new("RGB", (640, 200), (200, 30, 30)),  # colour goes in as grey, like the program
    ]


def _program_tsv(image: Image.Image, monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as patch:
        patch.setattr(ocr, "_USE_ENGINE", False)
        return ocr._tsv(ocr._grey(image))


def _worker_pids() -> list[int]:
    return [w.process.pid for idle in ocr_engine._pool._idle.values() for w in idle]


@pytest.fixture(autouse=True)
def _fresh_pool() -> None:
    ocr_engine.shut_down()


def test_the_engine_reads_every_picture_exactly_as_the_program_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pictures = _pictures()
    expected = [_program_tsv(picture, monkeypatch) for picture in pictures]
    # One worker reads them all in turn: nothing of one picture may colour the next.
    with monkeypatch.context() as patch:
        patch.setattr(ocr, "_slots", threading.BoundedSemaphore(1))
        got = [ocr._tsv(ocr._grey(picture)) for picture in pictures]
        again = [ocr._tsv(ocr._grey(picture)) for picture in reversed(pictures)]
    assert len(_worker_pids()) == 1
    assert got == expected
    assert again == list(reversed(expected))
    assert b"Quintero" in expected[0]  # they do read something
    assert b"light" in expected[2]


def test_pictures_read_from_several_threads_each_get_their_own_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pictures = _pictures()[:4]
    expected = [_program_tsv(picture, monkeypatch) for picture in pictures]
    got: dict[int, bytes] = {}

    def read(i: int) -> None:
        for _ in range(2):
            answer = ocr._tsv(ocr._grey(pictures[i]))
            assert got.setdefault(i, answer) == answer

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(pictures))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [got[i] for i in range(len(pictures))] == expected
    assert 1 <= len(_worker_pids()) <= ocr.workers()


def test_a_worker_that_dies_fails_its_picture_and_the_next_one_gets_a_new_worker() -> None:
    picture = ocr._grey(_pictures()[0])
    first = ocr._tsv(picture)
    (pid,) = _worker_pids()
    os.kill(pid, 9)
    time.sleep(0.1)
    with pytest.raises(InvalidInput, match="could not read a page"):
        ocr._tsv(picture)
    assert ocr._tsv(picture) == first
    assert len(_worker_pids()) == 1
    assert pid not in _worker_pids()


def test_a_worker_that_overruns_its_time_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    picture = ocr._grey(_pictures()[0])
    ocr._tsv(picture)  # a loaded worker, so the limit below is spent reading
    (pid,) = _worker_pids()
    monkeypatch.setattr(ocr, "_TIMEOUT", 0.01)
    with pytest.raises(InvalidInput, match="could not read a page"):
        ocr._tsv(picture)
    assert _worker_pids() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_an_idle_worker_is_replaced_rather_than_used(monkeypatch: pytest.MonkeyPatch) -> None:
    picture = ocr._grey(_pictures()[5])
    ocr._tsv(picture)
    (old,) = _worker_pids()
    monkeypatch.setattr(ocr_engine, "_RETIRE_AFTER", 0.0)
    ocr._tsv(picture)
    (new,) = _worker_pids()
    assert new != old
    with pytest.raises(ProcessLookupError):
        os.kill(old, 0)


def test_a_worker_leaves_on_its_own_when_nobody_asks() -> None:
    """The worker's own idle limit: run with a short one, it exits without being told."""
    worker = ocr_engine._Worker(["eng"], {"OMP_THREAD_LIMIT": "1"})
    try:
        assert worker.started()
        assert worker.process.poll() is None
    finally:
        worker.stop()
    source = ocr_engine._WORKER.read_text().replace("IDLE_SECONDS = 300", "IDLE_SECONDS = 0.2")
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", source, "eng"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert child.stdout is not None
    assert child.stdout.read(1) == b"R"
    assert child.wait(timeout=30) == 0  # its input still open: it left because it was idle
    assert child.stdin is not None
    child.stdin.close()
    child.stdout.close()


def test_languages_the_library_cannot_load_fall_back_to_nothing_not_an_error() -> None:
    picture = ocr._grey(_pictures()[5])
    args = ["xx-no-such-language"]
    env = {"OMP_THREAD_LIMIT": "1"}
    assert ocr_engine.read_tsv(args, picture, env=env, timeout=30, failure="x") is None
    assert ocr_engine.read_tsv(args, picture, env=env, timeout=30, failure="x") is None
    # ...and only for those languages: the vault's own still use the engine.
    ocr._tsv(picture)
    assert len(_worker_pids()) == 1


def test_where_the_engine_cannot_start_pages_are_read_by_the_program(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    picture = _pictures()[0]
    expected = _program_tsv(picture, monkeypatch)
    monkeypatch.setattr(ocr_engine, "_WORKER", ocr_engine._WORKER.with_name("not-there.py"))
    ocr._cache.clear()
    assert ocr._tsv(ocr._grey(picture)) == expected
    assert _worker_pids() == []
    monkeypatch.undo()  # a start that failed is not remembered: the next picture tries again
    ocr._tsv(ocr._grey(picture))
    assert len(_worker_pids()) == 1


def test_no_worker_outlives_the_process_that_started_it() -> None:
    script = textwrap.dedent(
        """
        from PIL import Image, ImageDraw
        from vault.redaction import ocr, ocr_engine
        image = Image.new("L", (400, 120), 255)
        ImageDraw.Draw(image).text((20, 40), "hello", fill=0)
        ocr.read(image)
        print(*[w.process.pid for idle in ocr_engine._pool._idle.values() for w in idle])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    pids = [int(p) for p in done.stdout.split()]
    assert len(pids) == 1
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pids[0]):
        time.sleep(0.05)
    assert not _alive(pids[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone as far as its memory goes; only a running worker counts.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_forked_child_starts_its_own_workers() -> None:
    ocr._tsv(ocr._grey(_pictures()[5]))
    assert len(_worker_pids()) == 1
    pid = os.fork()
    if pid == 0:  # the child: the parent's workers are not its to use
        os._exit(len(_worker_pids()))
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(_worker_pids()) == 1  # the parent's are untouched


def test_a_picture_of_impossible_size_is_refused_by_the_worker() -> None:
    worker = ocr_engine._Worker(["eng"], {"OMP_THREAD_LIMIT": "1"})
    try:
        assert worker.started()
        with pytest.raises(ocr_engine._Gone):
            worker.ask(0, 10, b"", timeout=30)
        assert worker.process.wait(timeout=10) == 4
    finally:
        worker.stop()
