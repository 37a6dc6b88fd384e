"""``GET /v1/documents/{id}/sealed`` and ``/ciphertext``: a document as stored, for a client
that opens it with its own key, with byte ranges (RFC 9110 §14), each request logged."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from uuid import UUID, uuid4

import pytest
from sqlmodel import select

from tests.api.conftest import ApiWorld
from vault import crypto, document_record
from vault.cli.remote.sealed_read import DOCUMENT_KIND
from vault.services import keyring
from vault.storage.models import AuditEntry

CONTENT = b"minutes of the harbour meeting\n" * 3000


def _opened(api: ApiWorld, doc_id: str) -> tuple[dict[str, object], bytes]:
    """jules's view of the document as stored, and the data key his key unwraps from it."""
    answer = api.client.get(f"/v1/documents/{doc_id}/sealed", headers=api.auth("jules"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    key = api.world.journalist.key
    assert key is not None
    assert body["recipient_key_id"] == key.public_key().key_id
    commitment = base64.b64decode(body["key_commitment"])
    data_key = crypto.unwrap_key(
        base64.b64decode(body["wrapped_key"]),
        key,
        kind=DOCUMENT_KIND,
        subject_id=UUID(doc_id),
        commitment=commitment,
    )
    return body, data_key


def test_the_kind_is_the_servers() -> None:
    assert DOCUMENT_KIND == keyring.DOCUMENT


def test_a_document_opens_from_what_the_server_stored(api: ApiWorld) -> None:
    doc = api.upload("erin", CONTENT, title="harbour minutes")
    doc_id = str(doc["id"])
    body, data_key = _opened(api, doc_id)
    commitment = base64.b64decode(str(body["key_commitment"]))
    meta = document_record.open_sealed(
        data_key,
        base64.b64decode(str(body["sealed_metadata"])),
        document_id=UUID(doc_id),
        bound=document_record.binding(
            case_id=UUID(str(body["case_id"])),
            uploader_id=UUID(str(body["uploader_id"])),
            created_at=datetime.fromisoformat(str(body["created_at"])),
            key_commitment=commitment,
        ),
    )
    assert meta.title == "harbour minutes"
    whole = api.client.get(f"/v1/documents/{doc_id}/ciphertext", headers=api.auth("jules"))
    assert whole.status_code == 200
    assert whole.headers["accept-ranges"] == "bytes"
    assert len(whole.content) == body["ciphertext_size"]
    assert CONTENT[:64] not in whole.content
    plain = b"".join(
        crypto.decrypt_stream(data_key, UUID(doc_id), [whole.content], commitment=commitment)
    )
    assert plain == CONTENT
    with api.world.db() as db:
        leaves = [bytes(e.leaf) for e in db.exec(select(AuditEntry)).all()]
    modes = [json.loads(leaf) for leaf in leaves if b'"mode":"end-to-end"' in leaf]
    assert [m["action"] for m in modes[-2:]] == [
        "document.metadata.read",
        "document.content.read",
    ]


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-", 100, None),
        ("bytes=-50", None, None),
        ("bytes=10-999999999", 10, None),
    ],
)
def test_a_byte_range_is_served_as_asked(
    api: ApiWorld, header: str, first: int | None, last: int | None
) -> None:
    doc_id = str(api.upload("erin", CONTENT)["id"])
    headers = api.auth("jules")
    whole = api.client.get(f"/v1/documents/{doc_id}/ciphertext", headers=headers).content
    size = len(whole)
    part = api.client.get(
        f"/v1/documents/{doc_id}/ciphertext", headers={**headers, "Range": header}
    )
    assert part.status_code == 206, part.text
    start = size - 50 if first is None else first
    end = size - 1 if last is None else last
    assert part.content == whole[start : end + 1]
    assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert int(part.headers["content-length"]) == end - start + 1


@pytest.mark.parametrize("header", ["bytes=999999999-", "bytes=20-10", "bytes=-0"])
def test_a_range_past_the_end_is_416_with_the_size(api: ApiWorld, header: str) -> None:
    doc_id = str(api.upload("erin", CONTENT)["id"])
    answer = api.client.get(
        f"/v1/documents/{doc_id}/ciphertext", headers={**api.auth("jules"), "Range": header}
    )
    assert answer.status_code == 416, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    size = int(
        api.client.get(f"/v1/documents/{doc_id}/sealed", headers=api.auth("jules")).json()[
            "ciphertext_size"
        ]
    )
    assert answer.headers["content-range"] == f"bytes */{size}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-1", "bytes=abc", "bytes=-"])
def test_ranges_this_route_does_not_serve_get_the_whole(api: ApiWorld, header: str) -> None:
    doc_id = str(api.upload("erin", CONTENT)["id"])
    answer = api.client.get(
        f"/v1/documents/{doc_id}/ciphertext", headers={**api.auth("jules"), "Range": header}
    )
    assert answer.status_code == 200
    assert "content-range" not in answer.headers


def test_a_sealed_listing_pages_like_the_listing_and_opens_with_the_readers_key(
    api: ApiWorld,
) -> None:
    ids = [str(api.upload("erin", b"document %d" % i, title=f"t{i}")["id"]) for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.client.get(
            f"/v1/cases/{api.world.case_id}/sealed-documents",
            headers=api.auth("jules"),
            params=params,
        )
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["documents"]) <= 2
        seen += [d["id"] for d in body["documents"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert [i for i in seen if i in ids] == ids
    listed = api.client.get(
        f"/v1/cases/{api.world.case_id}/sealed-documents", headers=api.auth("jules")
    ).json()["documents"]
    one = next(d for d in listed if d["id"] == ids[0])
    assert one == _opened(api, ids[0])[0]
    outsider = api.client.get(f"/v1/cases/{uuid4()}/sealed-documents", headers=api.auth("jules"))
    assert outsider.status_code == 404
