"""A 1 GiB document goes through the content stream in constant memory.

Each case runs in a fresh interpreter: the parent's peak RSS (``ru_maxrss``) is a high-water
mark for the whole test session, so it would measure whatever ran before. The child records its
resident size just before the stream starts (``VmRSS``), runs the stream, and reports its peak
(``VmHWM``; ``ru_maxrss`` would carry the parent's peak across ``execve``) minus that
baseline, with the SHA-256 of what went in and what came out.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vault import crypto

GIB = 1 << 30
MIB = 1 << 20
MAX_GROWTH = 64 * MIB

CHILD = textwrap.dedent(
    """
    import hashlib, json, os, sys, uuid

    from vault import crypto

    GIB, MIB = 1 << 30, 1 << 20
    mode, path = sys.argv[1], sys.argv[2]
    key, doc = crypto.new_data_key(), uuid.uuid4()
    block = os.urandom(MIB)
    plain_hash = hashlib.sha256()

    def plaintext():
        # 1024 distinct 1 MiB chunks, hashed on the way in.
        for i in range(GIB // MIB):
            chunk = i.to_bytes(8, "big") + block[8:]
            plain_hash.update(chunk)
            yield chunk

    def status(field):
        with open("/proc/self/status") as lines:
            for line in lines:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no " + field + " in /proc/self/status")

    def vm_rss():
        return status("VmRSS")

    out_hash = hashlib.sha256()
    ciphertext_size = 0
    baseline = vm_rss()
    if mode == "pipe":
        def counted(stream):
            global ciphertext_size
            for piece in stream:
                ciphertext_size += len(piece)
                yield piece

        stream = counted(crypto.encrypt_stream(key, doc, plaintext()))
        for piece in crypto.decrypt_stream(key, doc, stream, commitment=None):
            out_hash.update(piece)
    else:
        with open(path, "wb") as f:
            for piece in crypto.encrypt_stream(key, doc, plaintext()):
                f.write(piece)
        ciphertext_size = os.path.getsize(path)

        def read_back():
            with open(path, "rb") as f:
                while chunk := f.read(MIB):
                    yield chunk

        for piece in crypto.decrypt_stream(key, doc, read_back(), commitment=None):
            out_hash.update(piece)
    # VmHWM, not ru_maxrss: ru_maxrss survives execve, so a child of a large test session
    # would report the session's peak instead of its own.
    peak = status("VmHWM")
    print(json.dumps({
        "baseline": baseline,
        "growth": peak - baseline,
        "plaintext_sha256": plain_hash.hexdigest(),
        "decrypted_sha256": out_hash.hexdigest(),
        "ciphertext_size": ciphertext_size,
    }))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("mode", ["pipe", "file"])
def test_one_gib_document_streams_in_constant_memory(tmp_path: Path, mode: str) -> None:
    blob = tmp_path / "document.svlt"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(blob)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["decrypted_sha256"] == report["plaintext_sha256"]
    assert report["ciphertext_size"] == crypto.ciphertext_size(GIB, crypto.DEFAULT_SEGMENT_SIZE)
    assert 0 <= report["growth"] < MAX_GROWTH, (
        f"peak memory grew by {report['growth'] / MIB:.1f} MiB while streaming 1 GiB"
    )
