"""Documents through the ASGI app: streaming upload and download, names, paging, limits,
malformed bodies, tampered blobs, the error format, security headers and what gets logged."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from starlette.requests import Request

from api import create_app
from api.middleware import JsonFormatter
from api.routes.documents import content_disposition
from tests.api.conftest import ApiWorld
from tests.conftest import PASSPHRASE, World
from tests.support.asgi import http_scope
from vault.crypto import HEADER_SIZE
from vault.storage.models import Document, Role

MiB = 1 << 20
PROBLEM = "application/problem+json"
TAG_SIZE = 16  # AES-GCM tag per segment (docs/format.md §2)


# -- helpers ----------------------------------------------------------------------------------


def repr_digest(content: bytes) -> str:
    """The RFC 9530 ``Repr-Digest`` value for ``content``."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(content).digest()).decode()}:"


def upload(
    api: ApiWorld,
    content: bytes,
    *,
    who: str = "jules",
    filename: str = "testimony.txt",
    media_type: str = "text/plain",
    title: str = "testimony",
    **fields: str,
) -> Any:
    data = {"case": str(api.world.case_id), "title": title, **fields}
    return api.client.post(
        "/v1/documents",
        headers=api.auth(who),
        data=data,
        files={"file": (filename, content, media_type)},
    )


def uploaded(api: ApiWorld, content: bytes, **kwargs: Any) -> dict[str, Any]:
    response = upload(api, content, **kwargs)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem document with the vault's four members."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert body["type"].startswith("urn:source-vault:problem:")
    assert isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    assert body["title"]
    assert body["detail"]
    if slug is not None:
        assert body["type"] == f"urn:source-vault:problem:{slug}"
    return body


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "b0undary") -> bytes:
    """A hand-built multipart body, in exactly the given order: (name, filename, value)."""
    out = bytearray()
    for name, filename, value in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def post_raw(
    api: ApiWorld, body: bytes, content_type: str = "multipart/form-data; boundary=b0undary"
) -> Any:
    headers = {**api.auth("jules"), "Content-Type": content_type}
    return api.client.post("/v1/documents", headers=headers, content=body)


def stored(world: World) -> tuple[list[str], list[Path], int]:
    """Blobs, unfinished writes under blobs/.tmp, and document rows."""
    with world.db() as db:
        rows = len(db.exec(select(Document)).all())
    return list(world.vault.blobs.blob_ids()), world.vault.blobs.list_partial(), rows


def assert_nothing_stored(world: World) -> None:
    assert stored(world) == ([], [], 0)


def blob_path(world: World, document_id: str) -> Path:
    with world.db() as db:
        row = db.get(Document, uuid.UUID(document_id))
        assert row is not None
        blob_id = row.blob_id
    return Path(world.vault.settings.blob_dir) / blob_id[:2] / blob_id


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def asgi_call(
    app: Any, method: str, path: str, headers: dict[str, str], chunks: Iterator[bytes]
) -> tuple[int, dict[str, str], bytes, int]:
    """Call the ASGI app directly, feeding the request body one chunk per ``receive``.
    Returns the status, headers, body and how many body chunks the app pulled."""
    pulled = 0
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = http_scope(method, path, [(k.lower().encode(), v.encode()) for k, v in headers.items()])
    anyio.run(app, scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, body, pulled


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 3 * MiB + 1234], ids=["empty", "one-byte", "3MiB"])
def test_round_trip(api: ApiWorld, size: int) -> None:
    assert size % 4096 != 0 or size == 0  # the fixture's segment size; a partial last segment
    content = (hashlib.sha256(b"seed").digest() * (size // 32 + 1))[:size]
    created = uploaded(api, content, filename="acta.bin", media_type="application/pdf")
    assert created["size"] == size
    assert created["sha256"] == hashlib.sha256(content).hexdigest()
    assert created["case"] == str(api.world.case_id)

    meta = api.client.get(f"/v1/documents/{created['id']}", headers=api.auth("erin"))
    assert meta.status_code == 200, meta.text
    assert meta.json()["size"] == size
    assert meta.json()["sha256"] == created["sha256"]
    assert meta.json()["pending"] is False

    got = api.client.get(f"/v1/documents/{created['id']}/content", headers=api.auth("erin"))
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-length"] == str(size)
    assert got.headers["x-content-media-type"] == "application/pdf"
    assert got.headers["repr-digest"] == repr_digest(content)
    assert len(got.content) == size
    assert hashlib.sha256(got.content).hexdigest() == created["sha256"]
    assert got.content == content


def test_download_streams_in_segments(api: ApiWorld) -> None:
    # 20 segments of the fixture's 4096 bytes: the body must arrive as several chunks (it is
    # decrypted as it goes out), and still add up to the digest the header promised.
    content = bytes(range(256)) * 320 + b"tail"
    created = uploaded(api, content)
    path = f"/v1/documents/{created['id']}/content"
    with api.client.stream("GET", path, headers=api.auth("jules")) as response:
        assert response.status_code == 200
        chunks = list(response.iter_raw())
        digest = response.headers["repr-digest"]
    assert len(chunks) > 1
    assert b"".join(chunks) == content
    assert digest == repr_digest(content)


# -- Content-Disposition ----------------------------------------------------------------------


def _disposition(header: str) -> tuple[str, str]:
    """The ASCII fallback and the decoded RFC 8187 name of an ``attachment`` header."""
    match = re.fullmatch(r"attachment; filename=\"([^\"]*)\"; filename\*=UTF-8''(\S*)", header)
    assert match, header
    return match[1], unquote(match[2], errors="strict")


def _download_disposition(api: ApiWorld, filename: str) -> tuple[str, str]:
    created = uploaded(api, b"contenido", filename=filename)
    got = api.client.get(f"/v1/documents/{created['id']}/content", headers=api.auth("jules"))
    assert got.status_code == 200
    assert got.content == b"contenido"
    return _disposition(got.headers["content-disposition"])


def test_disposition_drops_path(api: ApiWorld) -> None:
    fallback, name = _download_disposition(api, "../../etc/passwd")
    assert (fallback, name) == ("passwd", "passwd")


def test_disposition_spanish_name(api: ApiWorld) -> None:
    created = uploaded(api, b"x", filename="declaración de Pérez.pdf")
    got = api.client.get(f"/v1/documents/{created['id']}/content", headers=api.auth("jules"))
    header = got.headers["content-disposition"]
    assert "filename*=UTF-8''declaraci%C3%B3n%20de%20P%C3%A9rez.pdf" in header
    fallback, name = _disposition(header)
    assert name == "declaración de Pérez.pdf"
    assert fallback == "declaracion_de_Perez.pdf"
    # metadata keeps the name as sent
    meta = api.client.get(f"/v1/documents/{created['id']}", headers=api.auth("jules"))
    assert meta.json()["filename"] == "declaración de Pérez.pdf"


def test_disposition_strips_quotes_and_controls_from_the_wire(api: ApiWorld) -> None:
    # httpx percent-escapes quotes and control characters in filenames; send them raw (an
    # escaped quote and a tab, BEL and DEL inside the quoted filename) as other clients may.
    body = multipart(
        [
            ("case", None, str(api.world.case_id).encode()),
            ("title", None, b"t"),
            ("file", 'a\\"b\tc\x07d\x7fe.txt', b"payload"),
        ]
    )
    response = post_raw(api, body)
    assert response.status_code == 201, response.text
    doc_id = response.json()["id"]
    got = api.client.get(f"/v1/documents/{doc_id}/content", headers=api.auth("jules"))
    fallback, name = _disposition(got.headers["content-disposition"])
    assert name == "abcde.txt"
    assert fallback == "abcde.txt"


@pytest.mark.parametrize(
    "filename",
    [
        'he said "run".pdf',
        "evil\r\nSet-Cookie: session=stolen.txt",
        "\x00\x1b[31mred\x1b[0m.txt",
        "C:\\Users\\fuente\\Desktop\\notas.docx",
        "/absolute/path/../../x.txt",
        "名前.txt",
        "Ñandú — informe “final”.docx",
        "..",
        "   ",
        "",
        None,
        "a" * 5000 + ".txt",
    ],
)
def test_content_disposition_is_safe(filename: str | None) -> None:
    header = content_disposition(filename)
    header.encode("ascii")  # a header value the server can always send
    assert not set(header) & {"\r", "\n", "\0"}
    fallback, name = _disposition(header)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", fallback), fallback
    assert 0 < len(name) <= 200
    assert not set(name) & {"/", "\\", '"'}
    assert all(ch.isprintable() for ch in name), repr(name)
    assert name not in (".", "..")


# -- listing ----------------------------------------------------------------------------------


def test_listing_pages_with_cursor(api: ApiWorld) -> None:
    ids = [uploaded(api, f"doc {i}".encode(), title=f"doc {i}")["id"] for i in range(5)]
    seen: list[dict[str, Any]] = []
    pages = []
    params: dict[str, Any] = {"case": str(api.world.case_id), "limit": 2}
    while True:
        response = api.client.get("/v1/documents", params=params, headers=api.auth("jules"))
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(len(page["documents"]))
        seen.extend(page["documents"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
        assert len(pages) < 10
    assert pages == [2, 2, 1]
    assert sorted(d["id"] for d in seen) == sorted(ids)
    assert [d["title"] for d in seen] == [f"doc {i}" for i in range(5)]
    order = [(d["created_at"], d["id"]) for d in seen]
    assert order == sorted(order)


GARBAGE_CURSORS = [
    "garbage!!",
    "bm90IGEgY3Vyc29y",  # base64 of "not a cursor"
    base64.urlsafe_b64encode(b"2024-01-01T00:00:00|not-a-uuid").decode(),
    # a naive timestamp: the cursor is always written with its UTC offset
    base64.urlsafe_b64encode(f"2024-01-01T00:00:00|{uuid.uuid4()}".encode()).decode(),
    base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),
    base64.urlsafe_b64encode(b"a|b|c").decode(),
    "x" * 201,
]


def test_garbage_cursor_or_limit_is_422(api: ApiWorld) -> None:
    # One vault for every value (each fixture costs several Argon2id derivations).
    uploaded(api, b"one document, so that a cursor would have something to skip")
    case = str(api.world.case_id)
    for cursor in GARBAGE_CURSORS:
        response = api.client.get(
            "/v1/documents", params={"case": case, "cursor": cursor}, headers=api.auth("jules")
        )
        assert response.status_code == 422, cursor
        assert_problem(response, 422)
    for limit in (0, 201, -1, "ten"):
        response = api.client.get(
            "/v1/documents", params={"case": case, "limit": limit}, headers=api.auth("jules")
        )
        assert response.status_code == 422, limit
        assert_problem(response, 422, "validation")


def test_source_filter(api: ApiWorld) -> None:
    created = api.client.post(
        "/v1/sources",
        json={"case": str(api.world.case_id), "notes": "works in the ministry"},
        headers=api.auth("jules"),
    )
    assert created.status_code == 201, created.text
    source_id = created.json()["id"]
    linked = {uploaded(api, b"a", title="from source", source=source_id)["id"] for _ in range(2)}
    uploaded(api, b"b", title="unlinked")
    params = {"case": str(api.world.case_id), "source": source_id}
    response = api.client.get("/v1/documents", params=params, headers=api.auth("jules"))
    assert response.status_code == 200, response.text
    docs = response.json()["documents"]
    assert {d["id"] for d in docs} == linked
    assert all(d["source"] == source_id for d in docs)
    everything = api.client.get(
        "/v1/documents", params={"case": str(api.world.case_id)}, headers=api.auth("jules")
    )
    assert len(everything.json()["documents"]) == 3
    other = api.client.get(
        "/v1/documents",
        params={"case": str(api.world.case_id), "source": str(uuid.uuid4())},
        headers=api.auth("jules"),
    )
    assert other.status_code == 200
    assert other.json()["documents"] == []
    bad = api.client.get(
        "/v1/documents",
        params={"case": str(api.world.case_id), "source": "nope"},
        headers=api.auth("jules"),
    )
    assert_problem(bad, 422, "validation")


def test_upload_with_unknown_source_is_404_and_stores_nothing(api: ApiWorld) -> None:
    response = upload(api, b"x", source=str(uuid.uuid4()))
    assert_problem(response, 404, "not-found")
    assert_nothing_stored(api.world)


# -- plaintext never touches the disk ---------------------------------------------------------


class TempFileSpy:
    """Records every temporary file or directory Python code asks for. ``TemporaryFile`` uses
    ``O_TMPFILE`` on Linux, which leaves no name in the directory, so listing TMPDIR alone
    would miss a spooled upload."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp", "mkdtemp"):
            original = getattr(tempfile, name)
            monkeypatch.setattr(tempfile, name, self._wrap(name, original))

    def _wrap(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return original(*args, **kwargs)

        return spy


@pytest.fixture
def empty_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    return tmpdir


def _files_containing(root: Path, marker: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and marker in p.read_bytes()]


def test_plaintext_never_touches_disk(
    api: ApiWorld, empty_tmpdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = f"PLAINTEXT-{uuid.uuid4().hex}".encode()
    meta_marker = f"META-{uuid.uuid4().hex}"
    content = (marker + b"\n") * (3 * MiB // (len(marker) + 1))
    assert len(content) > 2 * MiB  # well past Starlette's 1 MiB spooling threshold
    api.auth("jules")  # log in before spying: only the upload is under test
    spy = TempFileSpy(monkeypatch)
    created = uploaded(
        api, content, title=meta_marker, filename=f"{meta_marker}.txt", notes=meta_marker
    )
    assert created["size"] == len(content)
    assert spy.calls == []
    assert list(empty_tmpdir.iterdir()) == []
    data_dir = Path(api.world.vault.settings.data_dir)
    assert _files_containing(data_dir, marker) == []
    assert _files_containing(data_dir, meta_marker.encode()) == []
    # and it is all there, encrypted
    got = api.client.get(f"/v1/documents/{created['id']}/content", headers=api.auth("jules"))
    assert got.content == content


def test_temp_file_spy_catches_spooling(
    empty_tmpdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check above is not vacuous: Starlette's own form parser, given the same kind of
    # body, spools the file part to a temporary file, and the spy sees it.
    body = multipart([("title", None, b"t"), ("file", "f.txt", b"x" * (2 * MiB))])
    spy = TempFileSpy(monkeypatch)

    async def parse() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/",
            "headers": [(b"content-type", b"multipart/form-data; boundary=b0undary")],
        }
        async with Request(scope, receive).form():
            pass

    anyio.run(parse)
    assert spy.calls


# -- limits -----------------------------------------------------------------------------------

LIMIT = 100_000


@pytest.fixture
def small_limit(api: ApiWorld, monkeypatch: pytest.MonkeyPatch) -> int:
    vault = api.world.vault
    monkeypatch.setattr(vault, "settings", vault.settings.with_overrides(max_upload_bytes=LIMIT))
    return LIMIT


def test_declared_length_over_limit_is_refused_before_reading(
    api: ApiWorld, small_limit: int
) -> None:
    app = create_app(api.world.vault.settings, vault=api.world.vault)
    headers = {
        **api.auth("jules"),
        "content-type": "multipart/form-data; boundary=b0undary",
        "content-length": str(10 * small_limit),
    }
    body = iter([b"x" * 65536] * 16)
    status, response_headers, raw, pulled = asgi_call(app, "POST", "/v1/documents", headers, body)
    assert status == 413
    assert response_headers["content-type"] == PROBLEM
    assert b"urn:source-vault:problem:too-large" in raw
    assert pulled == 0  # refused on the header alone
    assert_nothing_stored(api.world)


def test_declared_length_over_limit_via_client(api: ApiWorld, small_limit: int) -> None:
    response = upload(api, b"x" * (small_limit * 4))
    body = assert_problem(response, 413, "too-large")
    assert str(small_limit) in body["detail"]
    assert_nothing_stored(api.world)


def _chunked(data: bytes, size: int = 8192) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_chunked_upload_over_limit(api: ApiWorld, small_limit: int) -> None:
    body = multipart(
        [
            ("case", None, str(api.world.case_id).encode()),
            ("title", None, b"too big"),
            ("file", "big.bin", b"y" * (small_limit * 3)),
        ]
    )
    headers = {**api.auth("jules"), "Content-Type": "multipart/form-data; boundary=b0undary"}
    response = api.client.post("/v1/documents", headers=headers, content=_chunked(body))
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "too-large")
    assert_nothing_stored(api.world)
    assert list((Path(api.world.vault.settings.blob_dir) / ".tmp").glob("*")) == []


@pytest.mark.parametrize(("extra", "status"), [(0, 201), (1, 413)])
def test_limit_is_on_the_document_size(
    api: ApiWorld, small_limit: int, extra: int, status: int
) -> None:
    response = upload(api, b"z" * (small_limit + extra))
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["size"] == small_limit
    else:
        assert_problem(response, 413, "too-large")
        assert_nothing_stored(api.world)


# -- malformed bodies -------------------------------------------------------------------------


NOT_MULTIPART = [
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "multipart/mixed; boundary=b0undary",
    "multipart/form-data",  # no boundary
    "",
]


def test_not_multipart_is_415(api: ApiWorld) -> None:
    for content_type in NOT_MULTIPART:
        response = post_raw(api, b'{"case": "x"}', content_type)
        assert response.status_code == 415, content_type
        assert_problem(response, 415, "unsupported-media-type")
    assert_nothing_stored(api.world)


def _malformed(case_id: uuid.UUID) -> dict[str, bytes]:
    case = str(case_id).encode()
    return {
        "no-file-part": multipart([("case", None, case), ("title", None, b"t")]),
        "no-case": multipart([("title", None, b"t"), ("file", "f.txt", b"data")]),
        "empty-case": multipart([("case", None, b""), ("title", None, b"t"), ("file", "f", b"d")]),
        "bad-uuid": multipart(
            [("case", None, b"not-a-uuid"), ("title", None, b"t"), ("file", "f.txt", b"d")]
        ),
        "bad-source-uuid": multipart(
            [
                ("case", None, case),
                ("title", None, b"t"),
                ("source", None, b"12345"),
                ("file", "f.txt", b"d"),
            ]
        ),
        "no-title": multipart([("case", None, case), ("file", "f.txt", b"data")]),
        "unknown-field": multipart(
            [
                ("case", None, case),
                ("title", None, b"t"),
                ("owner", None, b"someone"),
                ("file", "f.txt", b"data"),
            ]
        ),
        "repeated-field": multipart(
            [
                ("case", None, case),
                ("title", None, b"t"),
                ("title", None, b"u"),
                ("file", "f.txt", b"data"),
            ]
        ),
        "field-after-file": multipart(
            [
                ("case", None, case),
                ("title", None, b"t"),
                ("file", "f.txt", b"data" * 5000),
                ("notes", None, b"late"),
            ]
        ),
        "second-file-part": multipart(
            [
                ("case", None, case),
                ("title", None, b"t"),
                ("file", "f.txt", b"data" * 5000),
                ("file", "g.txt", b"more"),
            ]
        ),
        "other-file-part-first": multipart(
            [
                ("case", None, case),
                ("title", None, b"t"),
                ("attachment", "a.txt", b"data"),
                ("file", "f.txt", b"data"),
            ]
        ),
        "non-utf8-field": multipart(
            [("case", None, case), ("title", None, b"\xff\xfe"), ("file", "f.txt", b"d")]
        ),
        "truncated": multipart(
            [("case", None, case), ("title", None, b"t"), ("file", "f.txt", b"data" * 5000)]
        )[:-30],
        "garbage": b"this is not a multipart body at all",
        "empty": b"",
    }


# What the problem's detail says for some of them.
MALFORMED_DETAIL = {
    "no-file-part": "no 'file' part",
    "no-case": "field 'case' is required",
    "bad-uuid": "field 'case' must be a UUID",
    "bad-source-uuid": "field 'source' must be a UUID",
    "no-title": "title",
    "unknown-field": "unknown field 'owner'",
    "repeated-field": "repeated",
    "field-after-file": "must be the last part",
    "second-file-part": "must be the last part",
    "other-file-part-first": "unexpected file part 'attachment'",
    "non-utf8-field": "not UTF-8",
    "truncated": "ended early",
}


def test_malformed_upload_is_422_and_stores_nothing(api: ApiWorld) -> None:
    # Every body in one vault: after each, nothing may have been stored.
    for name, body in _malformed(api.world.case_id).items():
        response = post_raw(api, body)
        try:
            problem = assert_problem(response, 422)
            assert MALFORMED_DETAIL.get(name, "") in problem["detail"]
            assert_nothing_stored(api.world)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
    # and the same vault still takes a well-formed upload
    assert uploaded(api, b"fine")["size"] == 4


# -- tampered blobs ---------------------------------------------------------------------------

SEGMENT = 4096  # the fixture's segment size
SEGMENT_ON_DISK = SEGMENT + TAG_SIZE


def _multi_segment(api: ApiWorld) -> tuple[bytes, str, Path]:
    content = hashlib.sha256(b"x").digest() * (12 * SEGMENT // 32) + b"end"  # 13 segments
    created = uploaded(api, content)
    path = blob_path(api.world, created["id"])
    assert path.stat().st_size == HEADER_SIZE + len(content) + 13 * TAG_SIZE
    return content, created["id"], path


def test_tampered_later_segment_cuts_the_download(api: ApiWorld) -> None:
    content, doc_id, path = _multi_segment(api)
    flip_byte(path, HEADER_SIZE + 6 * SEGMENT_ON_DISK + 100)  # segment 6 of 0..12
    url = f"/v1/documents/{doc_id}/content"
    # The fixture's client keeps server exceptions to itself: the body is cut short.
    got = api.client.get(url, headers=api.auth("jules"))
    assert got.status_code == 200  # headers went out with the first, good, segment
    assert len(got.content) < len(content)
    assert len(got.content) <= 6 * SEGMENT
    assert content.startswith(got.content)  # nothing unauthenticated was released
    assert hashlib.sha256(got.content).hexdigest() != hashlib.sha256(content).hexdigest()
    # A client that raises server exceptions sees the failure itself.
    app = create_app(api.world.vault.settings, vault=api.world.vault)
    raised: Exception | None = None
    with TestClient(app) as strict:
        try:
            response = strict.get(url, headers=api.auth("jules"))
        except Exception as exc:  # the integrity failure escapes the half-sent response
            raised = exc
    if raised is None:
        assert len(response.content) < len(content)
    else:  # Starlette: the error handler ran, but the response had already started
        assert "response already started" in str(raised) or "Integrity" in repr(raised)


@pytest.mark.parametrize(
    ("where", "offset"),
    [("first-segment", HEADER_SIZE + 10), ("header-salt", 12), ("magic", 0)],
)
def test_tampered_start_is_a_500_before_content(api: ApiWorld, where: str, offset: int) -> None:
    content, doc_id, path = _multi_segment(api)
    flip_byte(path, offset)
    got = api.client.get(f"/v1/documents/{doc_id}/content", headers=api.auth("jules"))
    body = assert_problem(got, 500)
    assert body["type"].endswith("integrity-failure")
    assert content[:16] not in got.content
    assert "content-disposition" not in got.headers
    assert "repr-digest" not in got.headers


def test_missing_blob_is_503(api: ApiWorld) -> None:
    _, doc_id, path = _multi_segment(api)
    path.unlink()
    got = api.client.get(f"/v1/documents/{doc_id}/content", headers=api.auth("jules"))
    assert_problem(got, 503, "storage-unavailable")


# -- error format and headers -----------------------------------------------------------------

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _error_requests(api: ApiWorld) -> list[tuple[str, Callable[[], Any], int, str]]:
    c = api.client
    case = str(api.world.case_id)
    jules = api.auth("jules")
    return [
        ("no-token", lambda: c.get("/v1/cases"), 401, "unauthenticated"),
        (
            "bad-token",
            lambda: c.get("/v1/cases", headers={"Authorization": "Bearer nope"}),
            401,
            "unauthenticated",
        ),
        (
            "basic-auth",
            lambda: c.get("/v1/cases", headers={"Authorization": "Basic YTpi"}),
            401,
            "unauthenticated",
        ),
        (
            "wrong-passphrase",
            lambda: c.post(
                "/v1/auth/login", json={"username": "jules", "passphrase": "wrong horse"}
            ),
            401,
            "unauthenticated",
        ),
        ("unknown-route", lambda: c.get("/v1/nothing-here", headers=jules), 404, "not-found"),
        ("unknown-root", lambda: c.get("/nothing"), 404, "not-found"),
        (
            "unknown-document",
            lambda: c.get(f"/v1/documents/{uuid.uuid4()}", headers=jules),
            404,
            "not-found",
        ),
        (
            "other-case",
            lambda: c.get("/v1/documents", params={"case": str(uuid.uuid4())}, headers=jules),
            404,
            "not-found",
        ),
        (
            "journalist-creates-case",
            lambda: c.post("/v1/cases", json={"name": "x"}, headers=jules),
            404,
            "not-found",
        ),
        (
            "method",
            lambda: c.put("/v1/documents", headers=jules),
            405,
            "method-not-allowed",
        ),
        (
            "not-multipart",
            lambda: c.post("/v1/documents", json={"case": case}, headers=jules),
            415,
            "unsupported-media-type",
        ),
        (
            "bad-path-uuid",
            lambda: c.get("/v1/documents/not-a-uuid", headers=jules),
            422,
            "validation",
        ),
        (
            "missing-query",
            lambda: c.get("/v1/documents", headers=jules),
            422,
            "validation",
        ),
        (
            "bad-json",
            lambda: c.post(
                "/v1/auth/login",
                content=b"{not json",
                headers={"Content-Type": "application/json"},
            ),
            422,
            "validation",
        ),
        (
            "extra-json-field",
            lambda: c.post(
                "/v1/auth/login", json={"username": "a", "passphrase": "b", "admin": True}
            ),
            422,
            "validation",
        ),
        (
            "bad-cursor",
            lambda: c.get("/v1/documents", params={"case": case, "cursor": "!"}, headers=jules),
            422,
            "validation",  # the cursor's form is in the schema (a pattern)
        ),
        (
            "reason-too-short",
            lambda: c.get(f"/v1/sources/{uuid.uuid4()}/identity?reason=x", headers=jules),
            422,
            "validation",
        ),
    ]


def test_every_error_is_a_problem_document(api: ApiWorld) -> None:
    for name, call, status, slug in _error_requests(api):
        response = call()
        try:
            assert_problem(response, status, slug)
            for header, value in SECURITY_HEADERS.items():
                assert response.headers[header] == value
            assert response.headers["content-security-policy"]
            if response.request.url.path.startswith("/v1/"):
                assert response.headers["cache-control"] == "no-store"
            if status == 401:
                assert response.headers["www-authenticate"].startswith("Bearer")
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def test_validation_problem_does_not_echo_values(api: ApiWorld) -> None:
    secret = "Maria-Lopez-" + uuid.uuid4().hex
    response = api.client.get(
        "/v1/documents", params={"case": secret, "limit": secret}, headers=api.auth("jules")
    )
    body = assert_problem(response, 422, "validation")
    assert secret not in response.text
    assert {e["location"] for e in body["errors"]} == {"query.case", "query.limit"}
    login = api.client.post("/v1/auth/login", json={"username": secret, "passphrase": secret})
    assert_problem(login, 401)
    assert secret not in login.text


def test_pending_document_content_is_409(api: ApiWorld) -> None:
    created = uploaded(api, b"before the newcomer")
    nadia = api.world.add_user("nadia", Role.JOURNALIST, member=False)
    api.world.add_member(nadia, approve=False)  # a member awaiting approval holds no key
    headers = api.auth("nadia")
    meta = api.client.get(f"/v1/documents/{created['id']}", headers=headers)
    assert meta.status_code == 200
    assert meta.json()["pending"] is True
    assert meta.json()["title"] is None
    got = api.client.get(f"/v1/documents/{created['id']}/content", headers=headers)
    assert_problem(got, 409, "conflict")


def test_login_throttling_is_a_problem_with_retry_after(api: ApiWorld) -> None:
    wrong = {"username": "jules", "passphrase": "not the passphrase"}
    for _ in range(10):
        response = api.client.post("/v1/auth/login", json=wrong)
        if response.status_code == 429:
            break
        assert_problem(response, 401)
    body = assert_problem(response, 429, "rate-limited")
    assert int(response.headers["retry-after"]) >= 1
    assert "not the passphrase" not in response.text
    assert body["detail"]


def test_storage_unavailable_is_503(api: ApiWorld) -> None:
    blob_dir = Path(api.world.vault.settings.blob_dir)
    assert api.client.get("/readyz").status_code == 200
    blob_dir.rename(blob_dir.with_name("blobs-away"))
    try:
        response = api.client.get("/readyz")
        assert_problem(response, 503, "storage-unavailable")
        assert "cache-control" not in response.headers  # not under /v1/
        for header, value in SECURITY_HEADERS.items():
            assert response.headers[header] == value
    finally:
        blob_dir.with_name("blobs-away").rename(blob_dir)


def test_security_headers_on_every_response(api: ApiWorld) -> None:
    created = uploaded(api, b"headers")
    jules = api.auth("jules")
    responses = {
        "healthz": api.client.get("/healthz"),
        "readyz": api.client.get("/readyz"),
        "openapi": api.client.get("/openapi.json"),
        "docs": api.client.get("/docs"),
        "cases": api.client.get("/v1/cases", headers=jules),
        "me": api.client.get("/v1/auth/me", headers=jules),
        "list": api.client.get(
            "/v1/documents", params={"case": str(api.world.case_id)}, headers=jules
        ),
        "content": api.client.get(f"/v1/documents/{created['id']}/content", headers=jules),
        "unauthenticated": api.client.get("/v1/cases"),
        "not-found": api.client.get("/nowhere"),
    }
    for name, response in responses.items():
        assert response.status_code < 500, name
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
        csp = response.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp, name
        if name != "docs":
            assert csp.startswith("default-src 'none'"), name
        assert re.fullmatch(r"[0-9a-f]{16}", response.headers["x-request-id"]), name
        if response.request.url.path.startswith("/v1/"):
            assert response.headers.get("cache-control") == "no-store", name
    assert len({r.headers["x-request-id"] for r in responses.values()}) == len(responses)


# -- logs -------------------------------------------------------------------------------------

CLIENT_SIDE_LOGGERS = ("httpx", "httpcore")  # the test client's own logs, not the server's


def _server_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if not r.name.startswith(CLIENT_SIDE_LOGGERS)]


def _rendered(record: logging.LogRecord) -> str:
    return "\n".join([record.getMessage(), JsonFormatter().format(record), repr(vars(record))])


def _exercise(api: ApiWorld, marker: str) -> str:
    token = api.login("jules")
    headers = {"Authorization": f"Bearer {token}"}
    response = api.client.post(
        "/v1/documents",
        headers=headers,
        data={
            "case": str(api.world.case_id),
            "title": f"title {marker}",
            "notes": f"notes {marker}",
            "kind": "memo",
        },
        files={"file": (f"{marker}.txt", f"content {marker}\n".encode() * 2000, "text/plain")},
    )
    assert response.status_code == 201, response.text
    doc_id = response.json()["id"]
    assert api.client.get(f"/v1/documents/{doc_id}/content", headers=headers).status_code == 200
    assert api.client.get(f"/v1/documents/{doc_id}", headers=headers).status_code == 200
    listing = api.client.get(
        "/v1/documents", params={"case": str(api.world.case_id)}, headers=headers
    )
    assert marker in listing.text  # the reader sees it; the log must not
    # errors carrying the marker in the query and the body
    api.client.get("/v1/documents", params={"case": marker}, headers=headers)
    api.client.post("/v1/auth/login", json={"username": marker, "passphrase": marker})
    return token


def test_logs_carry_no_content_names_secrets_or_addresses(
    api: ApiWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="api.access")
    marker = f"Marker{uuid.uuid4().hex}"
    token = _exercise(api, marker)
    records = _server_records(caplog)
    access = [r for r in records if r.name == "api.access"]
    assert len(access) >= 6  # one per request
    routes = {getattr(r, "fields", {}).get("route") for r in access}
    assert "/v1/documents/{document_id}/content" in routes  # the template, not the path
    for record in records:
        text = _rendered(record)
        for secret in (marker, PASSPHRASE, token, "testclient"):
            assert secret not in text, (secret, record.name, record.getMessage())


def test_client_addresses_are_logged_only_when_asked(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="api.access")
    settings = world.vault.settings.with_overrides(log_client_addresses=True)
    with TestClient(create_app(settings, vault=world.vault)) as client:
        assert client.get("/healthz").status_code == 200
    access = [r for r in caplog.records if r.name == "api.access"]
    assert any("testclient" in _rendered(r) for r in access)
