"""The ``metadata`` suite: listing a case of 10,000 documents, and reading one document's
metadata, through a real ``vault serve``.

How:

- A vault is made in-process in ``ctx.workdir`` (SQLite, the embedded default; Argon2id at its
  defaults): an administrator, two journalists (``jules``, ``nora``) as members of one case, and
  10,000 documents (``--quick`` too: creating them takes well under a minute) uploaded by
  ``jules`` through ``DocumentService.add`` itself — the real path, so each document has its
  blob (a few hundred bytes, fsynced), its sealed record, its key wrapped for both members and
  the recovery key, and its access-log entry.
- It is then served by ``vault serve --workers 1`` on 127.0.0.1 (``benchmarks.server``), and
  ``nora`` (who did not upload them, so every title is opened with her own wrapped key) logs in.
  Before timing, one walk through the whole case 200 at a time checks that all 10,000 are
  listed once, in order, and finds the cursor of the page that starts at document 8,000.
- Each case is ``N`` sequential requests (300; ``--quick`` 100) on one keep-alive connection:
  ``list-first-page`` (``GET /v1/documents?case=…&limit=50``), ``list-deep-page`` (the same
  with the cursor of document 8,000), ``list-metadata`` (``GET /v1/documents/{id}`` of random
  documents), and ``list-first-page-4-clients`` (four clients at once, ``N`` requests in all).
  ``vault_s`` is the median latency; details give requests per second, p50, p99 and max;
  ``rss_growth_mib`` is the server's peak resident growth during the case.
- Peer ``auth-only``: ``GET /v1/auth/me`` the same way — a request that authenticates its
  bearer token (which every request does, with a database write) and nothing else: the floor
  any authenticated route pays on this server. It grows with the vault: every authentication
  looks for pending key grants across all documents and members
  (``vault.services.grants.complete_flagged_grants``), about 3 µs per document and member here.

Listing is checked on SQLite only: PostgreSQL would double the ten thousand uploads.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from benchmarks.common import Context, Result, RssSampler, say
from benchmarks.server import LiveServer, expect, latency_details, serve
from vault.initialise import init_vault
from vault.instance import Vault
from vault.services.documents import NewDocument
from vault.settings import Settings
from vault.storage.models import Role

__all__ = ["run"]

DOCUMENTS = 10_000
PAGE = 50
DEEP = 8_000
CLIENTS = 4
PASSPHRASE = "benchmark lantern orbit meadow 42"  # noqa: S105 - a throwaway test vault


def _make_vault(data_dir: Path) -> tuple[UUID, list[UUID]]:
    """The vault described above; the case id and the document ids in upload order."""
    settings = Settings(data_dir=data_dir, totp_required_roles="")
    init_vault(settings, admin="admin", passphrase=PASSPHRASE)
    vault = Vault.open(settings)
    try:
        admin = vault.auth.login("admin", PASSPHRASE, None, address="127.0.0.1").actor
        case_id = vault.cases.create(admin, "harbour-contracts").id
        members = []
        for name in ("jules", "nora"):
            vault.users.create_account(
                None, username=name, role=Role.JOURNALIST, passphrase=PASSPHRASE
            )
            members.append(vault.auth.login(name, PASSPHRASE, None, address="127.0.0.1").actor)
            vault.cases.add_member(admin, case_id, name)
        for member in members[1:]:  # the first, founding member approves the others
            vault.cases.approve(members[0], case_id, member.username)
        uploader = members[0]
        began = time.perf_counter()
        ids = []
        for i in range(DOCUMENTS):
            document = NewDocument(
                title=f"Harbour contract correspondence {i:05d}",
                filename=f"correspondence-{i:05d}.txt",
                media_type="text/plain",
            )
            content = f"Letter {i}: the tender was awarded before it was published.\n" * 4
            info = vault.documents.add(
                uploader, case_id=case_id, content=[content.encode()], document=document
            )
            ids.append(info.id)
        say(f"metadata: {DOCUMENTS:,} documents stored in {time.perf_counter() - began:.0f} s")
    finally:
        vault.close()
    return case_id, ids


def _walk(client: httpx.Client, case_id: UUID, ids: list[UUID]) -> str:
    """List the whole case 200 at a time; check every document comes once, in order; return
    the cursor of the page that starts at document ``DEEP``."""
    seen: list[str] = []
    cursor: str | None = None
    deep = ""
    while True:
        params = {"case": str(case_id), "limit": "200"} | ({"cursor": cursor} if cursor else {})
        response = client.get("/v1/documents", params=params)
        expect(response, 200)
        body = response.json()
        seen += [doc["id"] for doc in body["documents"]]
        cursor = body["next_cursor"]
        if len(seen) == DEEP and cursor:
            deep = cursor
        if not cursor:
            break
    if seen != [str(i) for i in ids] or not deep:
        raise RuntimeError(f"the listing is not the {len(ids)} documents in order")
    return deep


Check = Callable[[dict[str, Any]], bool]


def _timed(
    server: LiveServer, headers: dict[str, str], urls: list[str], check: Check, clients: int = 1
) -> tuple[list[float], float, float]:
    """GET ``urls`` spread over ``clients`` concurrent clients (one keep-alive connection
    each); every answer must be 200 and satisfy ``check``. The per-request seconds, the wall
    time, and the server's peak resident growth (MiB)."""
    samples: list[float] = []
    failures: list[str] = []
    barrier = threading.Barrier(clients)
    lock = threading.Lock()

    def one_client(part: list[str]) -> None:
        mine = []
        with server.client(headers=headers) as client:
            expect(client.get("/v1/auth/me"), 200)  # the connection, before timing
            barrier.wait()
            for url in part:
                start = time.perf_counter()
                response = client.get(url)
                mine.append(time.perf_counter() - start)
                if response.status_code != 200 or not check(response.json()):
                    failures.append(f"{url}: {response.status_code} {response.text[:300]}")
        with lock:
            samples.extend(mine)

    threads = [
        threading.Thread(target=one_client, args=(urls[n::clients],)) for n in range(clients)
    ]
    sampler = RssSampler(server.pid)
    with sampler.watching():
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, the first: {failures[0]}")
    return samples, wall, sampler.growth_mib


def run(ctx: Context) -> list[Result]:
    """The metadata suite (SQLite only)."""
    root = ctx.workdir / "metadata"
    root.mkdir()
    data_dir = root / "data"
    say(f"metadata: storing {DOCUMENTS:,} documents through DocumentService.add")
    case_id, ids = _make_vault(data_dir)
    requests = 100 if ctx.quick else 300
    rng = random.Random(10_000)  # noqa: S311 - benchmark input, not security
    results = []
    with serve(data_dir) as server:
        headers = server.login("nora", PASSPHRASE)
        with server.client(headers=headers) as client:
            deep_cursor = _walk(client, case_id, ids)
        first = f"/v1/documents?case={case_id}&limit={PAGE}"
        deep = f"{first}&cursor={deep_cursor}"

        def page_from(index: int) -> Check:
            def check(body: dict[str, Any]) -> bool:
                docs = body["documents"]
                return (
                    len(docs) == PAGE
                    and docs[0]["id"] == str(ids[index])
                    and bool(docs[0]["title"])
                )

            return check

        def one_document(body: dict[str, Any]) -> bool:
            return bool(body["title"]) and not body["pending"]

        say("metadata: auth-only floor")
        floor, _, _ = _timed(server, headers, ["/v1/auth/me"] * requests, bool)
        floor_s = statistics.median(floor)
        first_page = {"page": PAGE, "position": 0}
        cases_to_run: list[tuple[str, list[str], Check, int, dict[str, int]]] = [
            ("list-first-page", [first] * requests, page_from(0), 1, first_page),
            (
                "list-deep-page",
                [deep] * requests,
                page_from(DEEP),
                1,
                first_page | {"position": DEEP},
            ),
            (
                "list-metadata",
                [f"/v1/documents/{rng.choice(ids)}" for _ in range(requests)],
                one_document,
                1,
                {},
            ),
            (
                f"list-first-page-{CLIENTS}-clients",
                [first] * requests,
                page_from(0),
                CLIENTS,
                first_page,
            ),
        ]
        for name, urls, check, clients, extra in cases_to_run:
            say(f"metadata: {name}, {len(urls)} requests")
            samples, wall, growth = _timed(server, headers, urls, check, clients)
            details: dict[str, Any] = {
                **latency_details(samples, wall),
                "documents": DOCUMENTS,
                "clients": clients,
                "auth_only_p50_ms": round(floor_s * 1000, 2),
                **extra,
            }
            results.append(
                Result(
                    name,
                    statistics.median(samples),
                    peers={"auth-only": floor_s},
                    rss_growth_mib=growth,
                    details=details,
                )
            )
    return results
