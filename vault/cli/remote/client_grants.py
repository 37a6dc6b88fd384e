"""Completing pending grants on this machine, in an end-to-end session: the server names the
members waiting for a copy of a document key this account holds (``GET /v1/grants``), and the
copies are wrapped here, for each member's key as the access log holds it
(``vault.cli.remote.key_check``), never for a key only the server vouches for."""

from __future__ import annotations

import base64
from typing import Any

from vault import crypto
from vault.cli.client import Client
from vault.cli.remote import sealed_read
from vault.cli.remote.key_check import checked_key
from vault.errors import IntegrityError

__all__ = ["complete_pending"]


def complete_pending(client: Client) -> int:
    """Wrap and send every pending grant this account's key can complete; how many the
    server stored. ``IntegrityError`` if the server names a key for a member that is not the
    one the access log holds for them (nothing is sent then)."""
    key = client.key
    if key is None:
        return 0
    pending: list[dict[str, Any]] = client.get("/v1/grants")["grants"]
    copies, members = [], {}
    for grant in pending:
        opened = sealed_read.open_stored(grant["document"], key)
        if opened is None:
            continue
        name = str(grant["username"])
        if name not in members:
            members[name] = checked_key(client, name).entry
        member = members[name]
        if str(member.user_id) != str(grant["user_id"]) or member.key_id != grant["key_id"]:
            raise IntegrityError(
                f"the server asks for a copy for {name!r} under another key than the one the "
                "access log holds for them: nothing was sent",
                reason="key",
            )
        wrapped = crypto.wrap_key(
            opened.data_key,
            member.public_key,
            kind=sealed_read.DOCUMENT_KIND,
            subject_id=opened.id,
            commitment=opened.commitment,
        )
        copies.append(
            {
                "document_id": str(opened.id),
                "user_id": str(member.user_id),
                "key_id": member.key_id,
                "wrapped_key": base64.b64encode(wrapped).decode(),
            }
        )
    if not copies:
        return 0
    answer = client.post("/v1/grants", {"grants": copies})
    return int(answer["completed"])
