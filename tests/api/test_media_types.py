"""An upload's media type is checked on the way in (422, nothing stored) and never sent back
unchecked: a file part declaring ``text/plain\\nX-Injected: yes`` was stored, and its download
closed the connection with 0 bytes."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tests.api.conftest import ApiWorld
from vault import document_record, mediatypes
from vault.errors import InvalidInput
from vault.services import documents as document_service
from vault.services.documents import NewDocument

PROBLEM = "application/problem+json"


def _upload_with_part_type(api: ApiWorld, part_type: bytes) -> tuple[int, dict[str, object]]:
    """An upload whose file part declares ``part_type`` as it is, byte for byte."""
    body = (
        b"--b\r\n"
        b'Content-Disposition: form-data; name="case"\r\n\r\n'
        + str(api.world.case_id).encode()
        + b"\r\n--b\r\n"
        b'Content-Disposition: form-data; name="title"\r\n\r\ninjected\r\n'
        b"--b\r\n"
        b'Content-Disposition: form-data; name="file"; filename="x.txt"\r\n'
        b"Content-Type: " + part_type + b"\r\n\r\n"
        b"hello\r\n--b--\r\n"
    )
    response = api.client.post(
        "/v1/documents",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=b", **api.auth("jules")},
    )
    return response.status_code, response.json()


BAD_PART_TYPES = {
    "line feed": b"text/plain\nX-Injected: yes",
    "nul": b"text/pl\x00ain",
    "non-ascii": "text/pláin".encode(),
    "over-long": b"application/" + b"x" * 250,
    "missing subtype": b"text",
    "space": b"text/pla in",
}


@pytest.mark.parametrize("part_type", BAD_PART_TYPES.values(), ids=BAD_PART_TYPES.keys())
def test_an_upload_with_a_bad_media_type_is_refused_and_stores_nothing(
    api: ApiWorld, part_type: bytes
) -> None:
    status, problem = _upload_with_part_type(api, part_type)
    assert status == 422, problem
    assert problem["type"] in (
        "urn:source-vault:problem:invalid-input",
        "urn:source-vault:problem:validation",
    )
    assert list(api.world.vault.blobs.blob_ids()) == []


@pytest.mark.parametrize(
    "part_type", [b"text/plain\rX: y", b"text/plain\x0bX: y"], ids=["cr", "vertical tab"]
)
def test_a_control_character_in_the_part_content_type_is_refused(
    api: ApiWorld, part_type: bytes
) -> None:
    status, problem = _upload_with_part_type(api, part_type)
    assert status == 422, problem
    assert list(api.world.vault.blobs.blob_ids()) == []


def test_a_media_type_is_stored_in_its_normal_form(api: ApiWorld) -> None:
    status, created = _upload_with_part_type(api, b'Text/Plain; Charset="UTF-8"; name=x.txt')
    assert status == 201, created
    meta = api.client.get(f"/v1/documents/{created['id']}", headers=api.auth("jules"))
    assert meta.json()["media_type"] == "text/plain; charset=utf-8"
    content = api.client.get(f"/v1/documents/{created['id']}/content", headers=api.auth("jules"))
    assert content.headers["x-content-media-type"] == "text/plain; charset=utf-8"
    assert content.content == b"hello"


def test_a_stored_legacy_media_type_goes_out_as_octet_stream(
    api: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A document stored before media types were checked: the service is made to skip the
    # check for this one write (where the upload is validated, and where it is stored).
    unchecked = SimpleNamespace(normalise=lambda value: value, DEFAULT=mediatypes.DEFAULT)
    for module in (document_record, document_service):
        monkeypatch.setattr(module, "mediatypes", unchecked)
    info = api.world.vault.documents.add(
        api.world.journalist,
        case_id=api.world.case_id,
        content=iter([b"legacy"]),
        document=NewDocument(title="legacy", media_type="text/plain\nX-Injected: yes"),
    )
    monkeypatch.undo()
    headers = api.auth("jules")
    content = api.client.get(f"/v1/documents/{info.id}/content", headers=headers)
    assert content.status_code == 200
    assert content.content == b"legacy"
    assert content.headers["x-content-media-type"] == "application/octet-stream"
    assert "x-injected" not in content.headers
    meta = api.client.get(f"/v1/documents/{info.id}", headers=headers)
    assert meta.json()["media_type"] == "application/octet-stream"


def test_the_core_refuses_a_bad_media_type_before_reading_content(api: ApiWorld) -> None:
    read: list[bytes] = []

    def content() -> Iterator[bytes]:
        read.append(b"x")
        yield b"x"

    with pytest.raises(InvalidInput):
        api.world.vault.documents.add(
            api.world.journalist,
            case_id=api.world.case_id,
            content=content(),
            document=NewDocument(title="t", media_type="text/plain\r\nX: y"),
        )
    assert read == []
    assert list(api.world.vault.blobs.blob_ids()) == []
