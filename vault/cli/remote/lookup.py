"""Names for ids on the command line: a case by its name, a source by its pseudonym, a
document by a unique prefix of its id (like git commits). Every lookup asks the server, which
answers only with what the caller may see."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID

from vault.cli.client import Client
from vault.cli.remote import reading, sealed_read
from vault.errors import InvalidInput, NotFound

__all__ = [
    "MIN_PREFIX",
    "as_uuid",
    "by_prefix",
    "case_id_of",
    "documents_of",
    "pseudonyms",
    "redaction_id_of",
    "resolve_case",
    "resolve_document",
    "source_id_of",
]

MIN_PREFIX = 4
_PAGE = 200  # the API's largest page


def as_uuid(ref: str) -> str | None:
    try:
        return str(UUID(ref.strip()))
    except ValueError:
        return None


def resolve_case(client: Client, ref: str) -> dict[str, Any]:
    """The case (``{"id", "name", ...}``) that ``ref`` names: an id, or a case name (exact,
    else a unique case-insensitive match)."""
    cases: list[dict[str, Any]] = client.get("/v1/cases")["cases"]
    as_id = as_uuid(ref)
    if as_id is not None:
        for case in cases:
            if case["id"] == as_id:
                return case
        # Not in the list (an administrator's token sees every case): let the server decide.
        return {"id": as_id, "name": as_id}
    exact = [c for c in cases if c["name"] == ref]
    if exact:
        return exact[0]
    folded = [c for c in cases if c["name"].casefold() == ref.casefold()]
    if len(folded) == 1:
        return folded[0]
    if folded:
        names = ", ".join(sorted(c["name"] for c in folded))
        raise InvalidInput(f"'{ref}' matches {len(folded)} cases ({names}): give the exact name")
    raise NotFound(f"no case named '{ref}' among your cases (see `vault cases ls`)")


def case_id_of(client: Client, ref: str) -> str:
    """An id as is (no request), a name looked up."""
    return as_uuid(ref) or resolve_case(client, ref)["id"]


def pseudonyms(client: Client, case_id: str) -> dict[str, str]:
    """Source id -> pseudonym for one case."""
    sources = client.get("/v1/sources", case=case_id)["sources"]
    return {s["id"]: s["pseudonym"] for s in sources}


def source_id_of(client: Client, case_id: str, ref: str) -> str:
    as_id = as_uuid(ref)
    if as_id is not None:
        return as_id
    for source_id, pseudonym in pseudonyms(client, case_id).items():
        if pseudonym == ref:
            return source_id
    raise NotFound(f"no source '{ref}' in this case (see `vault sources ls`)")


def documents_of(client: Client, case_id: str, source: str | None = None) -> list[dict[str, Any]]:
    """The case's documents as ``GET /v1/documents`` lists them; in an end-to-end session the
    records are fetched as stored and opened here, to the same shape."""
    if client.key is None:
        return list(
            client.pages("/v1/documents", "documents", case=case_id, source=source, limit=_PAGE)
        )
    found = []
    for item in client.pages(f"/v1/cases/{case_id}/sealed-documents", "documents", limit=_PAGE):
        opened = sealed_read.open_stored(item, client.key)
        doc = _pending(item) if opened is None else reading.public(opened)
        if source is None or doc.get("source") == source:
            found.append(doc)
    return found


def _pending(item: dict[str, Any]) -> dict[str, Any]:
    """A document whose key this account does not hold yet, in the listing's shape."""
    return {
        "id": item.get("id"),
        "case": item.get("case_id"),
        "uploader": item.get("uploader_id"),
        "created_at": item.get("created_at"),
        "pending": True,
    }


def resolve_document(client: Client, ref: str) -> str:
    """The full id of the document that ``ref`` names: a full id as is (no request), or a
    unique prefix of at least four hex digits among the documents of the caller's cases."""
    as_id = as_uuid(ref)
    if as_id is not None:
        return as_id
    _prefix_digits(ref, "document")  # a bad prefix is refused before any listing

    def ids() -> Iterator[str]:
        for case in client.get("/v1/cases")["cases"]:
            try:
                found = documents_of(client, case["id"])
            except NotFound:
                continue  # an administrator sees cases whose documents they cannot list
            yield from (d["id"] for d in found)

    return by_prefix(ref, ids(), "document")


def _prefix_digits(ref: str, what: str) -> str:
    digits = ref.strip().lower().replace("-", "")
    if not digits or any(ch not in "0123456789abcdef" for ch in digits):
        raise InvalidInput(f"'{ref}' is not a {what} id or a prefix of one")
    if len(digits) < MIN_PREFIX:
        raise InvalidInput(
            f"the id prefix '{ref}' is too short: give at least {MIN_PREFIX} characters"
        )
    return digits


def by_prefix(ref: str, ids: Iterable[str], what: str) -> str:
    """The one id among ``ids`` that ``ref`` starts (at least four hex digits, dashes
    ignored), like a git commit: ``NotFound`` for none, ``InvalidInput`` for several."""
    digits = _prefix_digits(ref, what)
    matches = {i for i in ids if i.replace("-", "").startswith(digits)}
    if not matches:
        raise NotFound(f"no {what} matches '{ref}'")
    if len(matches) > 1:
        raise InvalidInput(
            f"'{ref}' matches {len(matches)} {what}s: give more characters of the id"
        )
    return matches.pop()


def redaction_id_of(client: Client, ref: str, document: str | None) -> str:
    """A full id as is; a prefix only among the redactions of ``document`` (redactions are
    listed per document, never across the vault)."""
    as_id = as_uuid(ref)
    if as_id is not None:
        return as_id
    if document is None:
        raise InvalidInput(
            f"'{ref}' is not a full redaction id: give the whole id, or a prefix with "
            "--doc DOCUMENT (see `vault redact ls DOCUMENT`)"
        )
    doc_id = resolve_document(client, document)
    path = "sealed-redactions" if client.key is not None else "redactions"
    found = client.get(f"/v1/documents/{doc_id}/{path}")["redactions"]
    return by_prefix(ref, (r["id"] for r in found), "redaction")
