"""What a backup says about itself: the member names, the index of digests and the signed
manifest (format in ``docs/operations.md``, "Backups").

An archive holds, in this order:

- ``database.sqlite``: the metadata database at one instant (an SQLite file, whatever the
  vault's database: see ``vault.backup.snapshot``);
- ``log-seal.key``: only with ``--include-log-key``;
- ``blobs/<2 hex>/<32 hex>``: the ciphertext of every document in the snapshot;
- ``index.jsonl``: one line per member above, ``{"name":…,"sha256":…,"size":…}``;
- ``manifest.note``: a C2SP signed note, signed with the access log's Ed25519 key exactly
  like a checkpoint. Its text is the line ``source-vault/v1 backup`` and one line of canonical
  JSON (``Manifest``), which carries the SHA-256 of the index and the log's signed checkpoint
  at the snapshot. The note stays small however many blobs there are (the index carries them),
  well under the signed-note reader's 1 MiB bound.

So one signature covers everything: manifest → index → every member's digest, and manifest →
checkpoint → the root of the log in the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vault.audit import checkpoint
from vault.audit.log import canonical
from vault.backup.archive import MemberDigest
from vault.crypto import SigningKey
from vault.errors import IntegrityError

__all__ = [
    "DATABASE",
    "INDEX",
    "LABEL",
    "LOG_KEY",
    "MANIFEST",
    "Manifest",
    "blob_member",
    "blob_of",
    "index_line",
    "open_manifest",
    "parse_index_line",
    "sign_manifest",
]

LABEL = "source-vault/v1 backup"
DATABASE = "database.sqlite"
LOG_KEY = "log-seal.key"
INDEX = "index.jsonl"
MANIFEST = "manifest.note"
FORMAT = 1

_BLOB = re.compile(r"blobs/([0-9a-f]{2})/([0-9a-f]{32})")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def blob_member(blob_id: str) -> str:
    return f"blobs/{blob_id[:2]}/{blob_id}"


def blob_of(name: str) -> str | None:
    """The blob id a member name stands for, or ``None`` if it is not a blob's name."""
    found = _BLOB.fullmatch(name)
    if found is None or not found.group(2).startswith(found.group(1)):
        return None
    return found.group(2)


def index_line(digest: MemberDigest) -> bytes:
    return canonical({"name": digest.name, "sha256": digest.sha256, "size": digest.size}) + b"\n"


def _bad(detail: str) -> IntegrityError:
    return IntegrityError(f"the backup's manifest is malformed: {detail}", reason="bad-manifest")


def parse_index_line(line: bytes) -> MemberDigest:
    try:
        item = json.loads(line)
        name, sha256, size = item["name"], item["sha256"], item["size"]
    except (ValueError, KeyError, TypeError):
        raise _bad("an index line is not a member's digest") from None
    if not (isinstance(name, str) and isinstance(sha256, str) and _HEX64.fullmatch(sha256)):
        raise _bad("an index line is not a member's digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _bad("an index line is not a member's digest")
    return MemberDigest(name, size, sha256)


@dataclass(frozen=True)
class Manifest:
    """The signed facts of one backup."""

    origin: str
    created: str
    schema: str
    checkpoint: str
    index_sha256: str
    index_size: int
    members: int
    documents: int
    log_key_included: bool
    shredded: tuple[str, ...] = field(default=())
    """Documents in the snapshot whose blob was shredded before it could be copied: a restore
    treats them as deleted."""

    def text(self) -> str:
        body = {
            "format": FORMAT,
            "origin": self.origin,
            "created": self.created,
            "schema": self.schema,
            "checkpoint": self.checkpoint,
            "index_sha256": self.index_sha256,
            "index_size": self.index_size,
            "members": self.members,
            "documents": self.documents,
            "log_key_included": self.log_key_included,
            "shredded_during_backup": list(self.shredded),
        }
        # ensure_ascii: the note must hold no control character, and JSON escapes them all.
        line = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return f"{LABEL}\n{line}\n"


def sign_manifest(manifest: Manifest, name: str, key: SigningKey) -> str:
    """The manifest as a signed note by the log key ``name``."""
    return checkpoint.sign_note(manifest.text(), name, key)


def open_manifest(
    note: bytes, keys: Iterable[tuple[str, bytes]]
) -> tuple[Manifest, tuple[str, bytes]]:
    """The manifest of ``note`` and the key among ``keys`` that signed it.

    ``IntegrityError`` with reason ``manifest-signature`` when no key signed it, and
    ``bad-manifest`` when the signed text is not a manifest.
    """
    text = None
    for name, public in keys:
        try:
            text = checkpoint.open_note(note, name=name, public=public)
        except IntegrityError:
            continue
        signer = (name, public)
        break
    if text is None:
        raise IntegrityError(
            "the backup's manifest is not signed by the vault's log key",
            reason="manifest-signature",
        )
    label, _, rest = text.partition("\n")
    if label != LABEL or rest.count("\n") != 1:
        raise _bad("not a Source Vault backup manifest")
    try:
        body: dict[str, Any] = json.loads(rest)
    except ValueError:
        raise _bad("not JSON") from None
    return _manifest(body), signer


def _manifest(body: dict[str, Any]) -> Manifest:
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise _bad("unknown format")
    strings = ("origin", "created", "schema", "checkpoint", "index_sha256")
    numbers = ("index_size", "members", "documents")
    if any(not isinstance(body.get(k), str) for k in strings):
        raise _bad("a field is missing")
    if any(not isinstance(body.get(k), int) or isinstance(body.get(k), bool) for k in numbers):
        raise _bad("a count is missing")
    shredded = body.get("shredded_during_backup")
    if not isinstance(shredded, list) or any(not isinstance(s, str) for s in shredded):
        raise _bad("the shredded documents are not a list of ids")
    if not isinstance(body.get("log_key_included"), bool):
        raise _bad("log_key_included is missing")
    if not _HEX64.fullmatch(body["index_sha256"]):
        raise _bad("the index digest is not SHA-256")
    return Manifest(
        origin=body["origin"],
        created=body["created"],
        schema=body["schema"],
        checkpoint=body["checkpoint"],
        index_sha256=body["index_sha256"],
        index_size=body["index_size"],
        members=body["members"],
        documents=body["documents"],
        log_key_included=body["log_key_included"],
        shredded=tuple(shredded),
    )
