"""The access log through the HTTP API, as an outside auditor would use it: the verifier key,
signed checkpoints, entries, inclusion and consistency proofs, and a document's history."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

from sqlmodel import Session

from tests.api.conftest import ApiWorld
from vault.audit import checkpoint, merkle
from vault.storage.models import AuditCheckpoint, Document


def _get(api: ApiWorld, path: str, **params: int) -> Any:
    response = api.client.get(path, params=params, headers=api.auth("erin"))
    assert response.status_code == 200, response.text
    return response


def _open(api: ApiWorld) -> checkpoint.Checkpoint:
    vkey = _get(api, "/v1/audit/key").text
    assert vkey.endswith("\n")
    name, public = checkpoint.decode_vkey(vkey.strip())
    note = _get(api, "/v1/audit/checkpoint").text
    opened = checkpoint.open_checkpoint(note, name=name, public=public)
    assert opened.origin == name
    return opened


def _leaves(api: ApiWorld, size: int) -> list[bytes]:
    leaves: list[bytes] = []
    while len(leaves) < size:
        page = _get(api, "/v1/audit/entries", start=len(leaves), end=size).json()["entries"]
        assert page, "a page inside the log is never empty"
        for entry in page:
            assert entry["index"] == len(leaves)
            leaves.append(base64.b64decode(entry["leaf"]))
    return leaves


def _proof(api: ApiWorld, path: str, **params: int) -> list[bytes]:
    return [base64.b64decode(p) for p in _get(api, path, **params).json()["proof"]]


def _act(api: ApiWorld, text: bytes) -> str:
    created = api.upload("jules", text)
    doc = str(created["id"])
    read = api.client.get(f"/v1/documents/{doc}/content", headers=api.auth("erin"))
    assert read.status_code == 200
    return doc


def test_checkpoint_entries_and_proofs_verify(api: ApiWorld) -> None:
    _act(api, b"first statement")
    cp = _open(api)
    leaves = _leaves(api, cp.size)
    assert len(leaves) == cp.size > 5
    reference = merkle.MemoryNodes()
    for leaf in leaves:
        reference.append(merkle.leaf_hash(leaf))
    assert merkle.root(reference, cp.size) == cp.root
    for index, leaf in enumerate(leaves):
        proof = _proof(api, "/v1/audit/proof/inclusion", index=index, tree_size=cp.size)
        assert merkle.verify_inclusion(merkle.leaf_hash(leaf), index, cp.size, proof, cp.root)
        assert json.loads(leaf)["index"] == index

    # The same size is served the same stored note.
    note = _get(api, "/v1/audit/checkpoint").text
    with Session(api.world.vault.engine) as db:
        stored = db.get(AuditCheckpoint, cp.size)
        assert stored is not None
        assert stored.note == note

    _act(api, b"second statement")
    later = _open(api)
    assert later.size > cp.size
    proof = _proof(api, "/v1/audit/proof/consistency", first=cp.size, second=later.size)
    assert merkle.verify_consistency(cp.size, later.size, cp.root, later.root, proof)
    # Every earlier size is consistent with the later tree too.
    later_leaves = _leaves(api, later.size)
    assert later_leaves[: cp.size] == leaves
    for first in range(1, later.size + 1):
        reference_first = merkle.MemoryNodes()
        for leaf in later_leaves[:first]:
            reference_first.append(merkle.leaf_hash(leaf))
        proof = _proof(api, "/v1/audit/proof/consistency", first=first, second=later.size)
        assert merkle.verify_consistency(
            first, later.size, merkle.root(reference_first, first), later.root, proof
        )
    # A tampered proof does not verify.
    proof = _proof(api, "/v1/audit/proof/consistency", first=cp.size, second=later.size)
    if proof:
        bad = [bytes(32), *proof[1:]]
        assert not merkle.verify_consistency(cp.size, later.size, cp.root, later.root, bad)
    assert _get(api, "/v1/audit/checkpoint").text == _get(api, "/v1/audit/checkpoint").text


BAD_PARAMETERS: list[tuple[str, dict[str, int]]] = [
    ("/v1/audit/proof/inclusion", {"index": 3, "tree_size": 3}),
    ("/v1/audit/proof/inclusion", {"index": 0, "tree_size": 10**9}),
    ("/v1/audit/proof/inclusion", {"index": -1, "tree_size": 2}),
    ("/v1/audit/proof/consistency", {"first": 3, "second": 2}),
    ("/v1/audit/proof/consistency", {"first": 1, "second": 10**9}),
    ("/v1/audit/proof/consistency", {"first": 0, "second": 2}),
    ("/v1/audit/entries", {"start": 4, "end": 4}),
    ("/v1/audit/entries", {"start": 5, "end": 2}),
    ("/v1/audit/entries", {"start": -1, "end": 2}),
]
AUDIT_ROUTES: list[tuple[str, dict[str, int]]] = [
    ("/v1/audit/key", {}),
    ("/v1/audit/checkpoint", {}),
    ("/v1/audit/entries", {"start": 0, "end": 2}),
    ("/v1/audit/proof/inclusion", {"index": 0, "tree_size": 2}),
    ("/v1/audit/proof/consistency", {"first": 1, "second": 2}),
]


def test_bad_parameters_are_problems(api: ApiWorld) -> None:
    for path, params in BAD_PARAMETERS:
        response = api.client.get(path, params=params, headers=api.auth("erin"))
        assert response.status_code == 422, (path, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 422


def test_journalists_see_only_what_a_receipt_needs(api: ApiWorld) -> None:
    """Entries and other people's inclusion proofs are for auditors; a journalist can fetch
    the checkpoint, the key, consistency proofs (every client checks that the log it sees
    only grows) and inclusion proofs of their own entries."""
    api.upload("jules", b"a statement")  # jules acts, so that entry 0 is not his
    auditor_only = [route for route in AUDIT_ROUTES if route[0] not in SHARED]
    for path, params in AUDIT_ROUTES:
        assert api.client.get(path, params=params, headers=api.auth("erin")).status_code == 200
        response = api.client.get(path, params=params, headers=api.auth("jules"))
        if (path, params) in auditor_only:
            assert response.status_code == 404, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        else:
            assert response.status_code == 200, (path, response.text)
        assert api.client.get(path, params=params).status_code == 401


SHARED = {"/v1/audit/key", "/v1/audit/checkpoint", "/v1/audit/proof/consistency"}


def test_an_upload_receipt_verifies_against_a_signed_checkpoint(api: ApiWorld) -> None:
    content = b"the programme, as handed over"
    created = api.upload("jules", content)
    receipt = int(str(created["log_index"]))
    jules = api.auth("jules")
    name, public = checkpoint.decode_vkey(
        api.client.get("/v1/audit/key", headers=jules).text.strip()
    )
    note = api.client.get("/v1/audit/checkpoint", headers=jules).text
    signed = checkpoint.open_checkpoint(note, name=name, public=public)
    assert receipt < signed.size
    response = api.client.get(
        "/v1/audit/proof/inclusion",
        params={"index": receipt, "tree_size": signed.size},
        headers=jules,
    )
    assert response.status_code == 200, response.text
    proof = [base64.b64decode(h) for h in response.json()["proof"]]
    leaf = base64.b64decode(str(created["log_entry"]))
    assert leaf == _leaves(api, signed.size)[receipt]  # what auditors read is the same entry
    entry = json.loads(leaf)
    assert entry["action"] == "document.upload"
    assert entry["targets"]["document"] == created["id"]
    leaf_hash = merkle.leaf_hash(leaf)
    assert merkle.verify_inclusion(leaf_hash, receipt, signed.size, proof, signed.root)
    # Someone else's entry is not theirs to prove.
    other = api.client.get(
        "/v1/audit/proof/inclusion", params={"index": 0, "tree_size": signed.size}, headers=jules
    )
    assert other.status_code == 404


def test_document_access_log(api: ApiWorld) -> None:
    doc = _act(api, b"the minutes of the meeting " * 100)
    response = api.client.get(f"/v1/documents/{doc}/access-log", headers=api.auth("jules"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["document"] == doc
    pairs = [(e["action"], e["actor"]) for e in body["entries"]]
    assert ("document.upload", "jules") in pairs
    assert ("document.content.read", "erin") in pairs
    indexes = [e["index"] for e in body["entries"]]
    assert indexes == sorted(indexes)
    # The editor of the case sees it; an outsider does not.
    assert (
        api.client.get(f"/v1/documents/{doc}/access-log", headers=api.auth("erin")).status_code
        == 200
    )
    api.world.add_user("otto", api.world.journalist.role, member=False)
    outsider = api.client.get(f"/v1/documents/{doc}/access-log", headers=api.auth("otto"))
    assert outsider.status_code == 404

    # The upload entry names the SHA-256 of the ciphertext exactly as stored on disk.
    upload_index = next(e["index"] for e in body["entries"] if e["action"] == "document.upload")
    leaf = _get(api, "/v1/audit/entries", start=upload_index, end=upload_index + 1).json()
    entry = json.loads(base64.b64decode(leaf["entries"][0]["leaf"]))
    with Session(api.world.vault.engine) as db:
        document = db.get(Document, uuid.UUID(doc))
        assert document is not None
        blob_id = document.blob_id
    blob = api.world.vault.blobs.root / blob_id[:2] / blob_id
    assert blob.is_file()
    assert entry["ciphertext_sha256"] == hashlib.sha256(blob.read_bytes()).hexdigest()
