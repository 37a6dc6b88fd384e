"""Three ``vault serve`` replicas on one PostgreSQL database and one S3-protocol bucket (moto, on
loopback), behind nginx terminating TLS: they behave as one vault.

The load test drives uploads, reads, logins, deletions and redaction reviews through the proxy
for a bounded time and SIGKILLs one replica midway. A request the killed replica was serving
gets no answer: its effect is *uncertain* (it may have committed just before the kill). The
checks are therefore exact about what was acknowledged and bounded about what was not:

- every acknowledged upload reads back through every replica with its digest, at once and at
  the end, and every acknowledged deletion is gone everywhere;
- every visible document is an acknowledged upload, or an uncertain one that committed whole
  (its content is exactly what was sent);
- the access log holds one upload entry per committed document, one deletion entry per
  document now gone, one decision per redaction, the winning one, and no more logins or reads
  than were attempted;
- `vault fsck` finds no missing blob and `vault audit verify` passes.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import json
import os
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.e2e.conftest import PASSPHRASE, LiveVault, start_live_vault, stop_live_vault
from tests.support import postgres
from tests.support.cli import VAULT, run_vault
from tests.support.nginx import PROXY_ADDRESS, Nginx, nginx_binary, start_nginx, stop_nginx
from tests.support.postgres import PG_ENV
from tests.support.s3 import REGION, s3_server
from tests.support.server import Server, start_server, start_vault_serve, stop_server

__all__ = ["s3_server"]

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

NGINX_REQUIRED = bool(os.environ.get("VAULT_TEST_REQUIRE_NGINX"))
if nginx_binary() is None and not NGINX_REQUIRED:
    pytest.skip(
        "nginx is not installed; CI installs it and never skips this", allow_module_level=True
    )

USERS = {
    "jules": "journalist",
    "june": "journalist",
    "erin": "editor",
    "rosa": "editor",
    "eve": "editor",
}
UPLOADERS = ("jules", "june", "erin")
LOAD_SECONDS = 15.0
KILL_AFTER = 6.0
# What nginx answers when the replica it chose died with the request (or none was reachable).
UNANSWERED = {502, 503, 504}
_RNG = secrets.SystemRandom()
VERB_OF = {"approved": "redaction.approve", "rejected": "redaction.reject"}


@dataclass
class Cluster:
    """The vault (made and first served by ``start_live_vault``), two more replicas each with
    its own copy of the data directory (as on separate machines: key files, pinned checkpoint),
    and nginx in front of all three."""

    live: LiveVault
    replicas: list[Server]
    data_dirs: list[Path]
    proxy: Nginx
    root: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return self.live.env

    def proxied(self, **kwargs: Any) -> httpx.Client:
        return self.proxy.client(**{"timeout": 60.0} | kwargs)

    def direct(self, replica: int, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.replicas[replica].base_url, timeout=60.0, **kwargs)

    def login(self, username: str) -> str:
        with self.proxied() as client:
            answer = client.post(
                "/v1/auth/login", json={"username": username, "passphrase": PASSPHRASE}
            )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["token"]
        return token

    def auth(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            self.tokens[username] = self.login(username)
        return {"Authorization": f"Bearer {self.tokens[username]}"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, s3_server: str) -> Iterator[Cluster]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set: replicas need a PostgreSQL server")
    root = tmp_path_factory.mktemp("replicas")
    name = f"replicas_{uuid.uuid4().hex[:12]}"
    postgres.create_database(base, name)
    settings = {
        "VAULT_BLOB_URL": f"s3://vault-{uuid.uuid4().hex[:12]}/newsroom",
        "VAULT_S3_ENDPOINT_URL": s3_server,
        "VAULT_S3_REGION": REGION,
        "VAULT_TRUSTED_PROXIES": PROXY_ADDRESS,
        "VAULT_LOG_CLIENT_ADDRESSES": "true",
        "VAULT_DATABASE_POOL_SIZE": "4",
    }
    live = start_live_vault(
        root / "vault", postgres.url_for(base, name), users=USERS, extra_env=settings
    )
    replicas, data_dirs = [live.server], [live.data_dir]
    proxy = None
    try:
        for number in (1, 2):
            data_dir = root / f"replica-{number}" / "data"
            data_dir.mkdir(parents=True)
            for key_file in ("log-seal.key", "log-checkpoint"):
                source = live.data_dir / key_file
                (data_dir / key_file).write_bytes(source.read_bytes())
                (data_dir / key_file).chmod(0o600)
            env = dict(live.env, VAULT_DATA_DIR=str(data_dir))
            log_path = root / f"replica-{number}.log"
            replicas.append(start_vault_serve(data_dir, env=env, log_path=log_path))
            data_dirs.append(data_dir)
        upstreams = [f"127.0.0.1:{server.port}" for server in replicas]
        proxy = start_nginx(root / "nginx", upstreams)
        yield Cluster(live, replicas, data_dirs, proxy, root)
    finally:
        if proxy is not None:
            stop_nginx(proxy)
        for server in replicas[1:]:
            stop_server(server)
        stop_live_vault(live)
        postgres.drop_database(base, name)


def _text(size: int) -> bytes:
    return (f"statement {secrets.token_hex(8)}\n".encode() + secrets.token_hex(size).encode())[
        :size
    ]


def _upload(
    client: httpx.Client, headers: dict[str, str], case: str, title: str, body: bytes
) -> httpx.Response:
    return client.post(
        "/v1/documents",
        headers=headers,
        data={"case": case, "title": title},
        files={"file": (f"{title}.txt", body, "text/plain")},
    )


def test_a_session_and_a_document_made_through_one_replica_work_on_every_other(
    cluster: Cluster,
) -> None:
    token = cluster.login("jules")
    headers = {"Authorization": f"Bearer {token}"}
    body = _text(20_000)
    with cluster.direct(0) as first:
        made = _upload(first, headers, cluster.live.case_id, "one-replica", body)
    assert made.status_code == 201, made.text
    doc = made.json()["id"]
    for replica in range(3):
        with cluster.direct(replica) as client:
            assert client.get("/v1/auth/me", headers=headers).status_code == 200
            read = client.get(f"/v1/documents/{doc}/content", headers=headers)
            assert read.status_code == 200, read.text
            assert read.content == body
    with cluster.direct(2) as last:
        assert last.post("/v1/auth/logout", headers=headers).status_code == 204
    for replica in range(3):
        with cluster.direct(replica) as client:
            assert client.get("/v1/auth/me", headers=headers).status_code == 401


def test_failed_logins_are_counted_across_replicas(cluster: Cluster) -> None:
    """Each replica sees only some of the failures; the counters are the database's, so the
    account is blocked wherever the next attempt lands (``FREE_FAILURES`` is 5)."""
    answers = []
    for attempt in range(6):
        with cluster.direct(attempt % 3) as client:
            answers.append(
                client.post(
                    "/v1/auth/login", json={"username": "june", "passphrase": "wrong " * 3}
                ).status_code
            )
    assert answers[:5] == [401] * 5
    with cluster.direct(2) as client:
        blocked = client.post("/v1/auth/login", json={"username": "june", "passphrase": PASSPHRASE})
    assert blocked.status_code == 429, (answers, blocked.text)
    assert int(blocked.headers["Retry-After"]) >= 1
    time.sleep(int(blocked.headers["Retry-After"]) + 0.2)
    cluster.tokens.pop("june", None)
    cluster.login("june")  # the right passphrase after the wait clears the account's count


def _client_of(logs: str, request_id: str) -> str:
    """The client address a replica logged for the request ``request_id``."""
    for line in logs.splitlines():
        if line.startswith("{") and json.loads(line).get("request_id") == request_id:
            return str(json.loads(line).get("client"))
    raise AssertionError(f"no replica logged request {request_id}")


def test_the_forwarded_address_is_believed_only_from_the_proxy(cluster: Cluster) -> None:
    """A client connects from 127.0.0.3. Through nginx (which reaches the replicas from
    127.0.0.2, the one trusted proxy address) the replica logs 127.0.0.3 and knows the request
    came over TLS, whatever the client put in the header itself (nginx replaces it). Directly,
    the same forged headers are ignored: the replica logs the peer, and answers as over HTTP."""
    forged = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    with cluster.proxy.client(local_address="127.0.0.3", headers=forged, timeout=30) as client:
        via_proxy = client.get("/v1/auth/me")
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with cluster.direct(1, headers=forged, transport=transport) as client:
        direct = client.get("/v1/auth/me")
    assert via_proxy.status_code == direct.status_code == 401
    assert "strict-transport-security" in via_proxy.headers
    assert "strict-transport-security" not in direct.headers
    time.sleep(0.5)  # the log line is written after the answer is sent
    logs = "".join(server.log() for server in cluster.replicas)
    assert _client_of(logs, via_proxy.headers["x-request-id"]) == "127.0.0.3"
    assert _client_of(logs, direct.headers["x-request-id"]) == "127.0.0.3"
    assert "198.51.100.7" not in logs


BIG = 200 << 20


def test_a_large_upload_streams_through_the_proxy(cluster: Cluster) -> None:
    """200 MiB up and down through nginx: nothing is ever spooled in its body directory (the
    upload reaches a replica as it is sent), and what comes back is what went in."""
    sent = hashlib.sha256()
    boundary = secrets.token_hex(12)
    spooled: list[str] = []
    done = threading.Event()

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="case"\r\n\r\n'
            f"{cluster.live.case_id}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nbig\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        block = os.urandom(1 << 20)
        for number in range(BIG >> 20):
            chunk = number.to_bytes(4, "big") + block[4:]
            sent.update(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    def watch() -> None:
        while not done.is_set():
            spooled.extend(cluster.proxy.spooled())
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with cluster.proxied(timeout=300) as client:
            headers = cluster.auth("jules")
            answer = client.post(
                "/v1/documents",
                headers=headers | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
                content=body(),
            )
            assert answer.status_code == 201, answer.text
            assert answer.json()["sha256"] == sent.hexdigest()
            received = hashlib.sha256()
            url = f"/v1/documents/{answer.json()['id']}/content"
            with client.stream("GET", url, headers=headers) as download:
                assert download.status_code == 200
                for piece in download.iter_bytes():
                    received.update(piece)
    finally:
        done.set()
        watcher.join()
    assert received.hexdigest() == sent.hexdigest()
    assert spooled == []
    # nginx's own word for it, in case a spool file came and went between two looks.
    assert "buffered to a temporary file" not in cluster.proxy.error_log.read_text()


@dataclass
class Ledger:
    """What the load did, as the clients saw it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, str] = field(default_factory=dict)  # document -> sha256 of what was sent
    sent: dict[str, str] = field(default_factory=dict)  # title -> sha256, every attempt
    uncertain_titles: set[str] = field(default_factory=set)
    deleting: set[str] = field(default_factory=set)  # a DELETE was sent (or is about to be)
    deleted: set[str] = field(default_factory=set)
    uncertain_deletes: set[str] = field(default_factory=set)
    decisions: dict[str, str] = field(default_factory=dict)  # redaction -> approved/rejected
    logins: int = 0
    uncertain_logins: int = 0
    reads: int = 0
    uncertain_reads: int = 0
    unexpected: list[str] = field(default_factory=list)

    def standing(self) -> list[str]:
        """The acknowledged documents that no deletion may have touched."""
        with self.lock:
            gone = self.deleted | self.uncertain_deletes
            return [doc for doc in self.acked if doc not in gone]

    def note(self, what: str) -> None:
        with self.lock:
            self.unexpected.append(what)


@dataclass
class Load:
    cluster: Cluster
    ledger: Ledger
    stop: threading.Event
    alive: list[bool]

    def live_replicas(self) -> list[int]:
        return [number for number, up in enumerate(self.alive) if up]

    def read_direct(self, replica: int, headers: dict[str, str], doc: str, expected: str) -> None:
        try:
            with self.cluster.direct(replica) as client:
                answer = client.get(f"/v1/documents/{doc}/content", headers=headers)
        except httpx.TransportError:
            if self.alive[replica]:
                self.ledger.note(f"replica {replica} did not answer a read")
            with self.ledger.lock:
                self.ledger.uncertain_reads += 1
            return
        with self.ledger.lock:
            self.ledger.reads += answer.status_code == 200
        if answer.status_code != 200 or hashlib.sha256(answer.content).hexdigest() != expected:
            self.ledger.note(f"read of {doc} on replica {replica}: {answer.status_code}")


def _answer(send: Callable[[], httpx.Response]) -> httpx.Response | None:
    """What a replica answered; ``None`` when no replica's answer came back (the connection
    broke, or nginx answered for a replica that died: ``UNANSWERED``)."""
    try:
        answer = send()
    except httpx.TransportError:
        return None
    return None if answer.status_code in UNANSWERED else answer


def _uploader(load: Load, username: str) -> None:
    """Uploads through the proxy; each acknowledged one is read at once from every replica."""
    ledger, headers = load.ledger, load.cluster.auth(username)
    with load.cluster.proxied() as client:
        while not load.stop.is_set():
            title = f"upload-{uuid.uuid4().hex}"
            body = _text(_RNG.randint(4 << 10, 64 << 10))
            digest = hashlib.sha256(body).hexdigest()
            with ledger.lock:
                ledger.sent[title] = digest
            case = load.cluster.live.case_id
            answer = _answer(functools.partial(_upload, client, headers, case, title, body))
            if answer is None:
                with ledger.lock:
                    ledger.uncertain_titles.add(title)
                continue
            if answer.status_code != 201:
                ledger.note(f"upload: {answer.status_code} {answer.text[:200]}")
                continue
            doc = answer.json()["id"]
            if answer.json()["sha256"] != digest:
                ledger.note(f"upload {doc}: the server's digest differs")
            for replica in load.live_replicas():
                load.read_direct(replica, headers, doc, digest)
            with ledger.lock:  # only now may the deleter pick it
                ledger.acked[doc] = digest


def _reader(load: Load) -> None:
    headers = load.cluster.auth("rosa")
    with load.cluster.proxied() as client:
        while not load.stop.is_set():
            choices = load.ledger.standing()
            if not choices:
                time.sleep(0.05)
                continue
            doc = _RNG.choice(choices)
            answer = _answer(
                functools.partial(client.get, f"/v1/documents/{doc}/content", headers=headers)
            )
            if answer is None:
                with load.ledger.lock:
                    load.ledger.uncertain_reads += 1
                continue
            with load.ledger.lock:
                load.ledger.reads += answer.status_code == 200
                deleted = doc in load.ledger.deleting
            if answer.status_code == 404 and deleted:
                continue  # deleted after it was chosen
            if (
                answer.status_code != 200
                or hashlib.sha256(answer.content).hexdigest() != load.ledger.acked[doc]
            ):
                load.ledger.note(f"read of {doc}: {answer.status_code}")


def _deleter(load: Load) -> None:
    headers = load.cluster.auth("eve")
    with load.cluster.proxied() as client:
        while not load.stop.is_set():
            time.sleep(0.3)
            choices = load.ledger.standing()
            if len(choices) < 5:
                continue
            doc = _RNG.choice(choices)
            with load.ledger.lock:
                load.ledger.deleting.add(doc)
            answer = _answer(
                functools.partial(client.delete, f"/v1/documents/{doc}", headers=headers)
            )
            with load.ledger.lock:
                if answer is None:
                    load.ledger.uncertain_deletes.add(doc)
                elif answer.status_code in (204, 404):
                    # 404: nginx sent the DELETE (idempotent) on to another replica when the
                    # first died under it, and the first had done it. The log check at the
                    # end still wants one deletion entry for each document gone.
                    load.ledger.deleted.add(doc)
                else:
                    load.ledger.unexpected.append(f"delete {doc}: {answer.status_code}")


def _logins(load: Load) -> None:
    """Logs in through the proxy, uses the session on every live replica, logs out."""
    with load.cluster.proxied() as client:
        while not load.stop.is_set():
            username = _RNG.choice(list(USERS))
            login = {"username": username, "passphrase": PASSPHRASE}
            answer = _answer(functools.partial(client.post, "/v1/auth/login", json=login))
            if answer is None:
                with load.ledger.lock:
                    load.ledger.uncertain_logins += 1
                continue
            if answer.status_code != 200:
                load.ledger.note(f"login: {answer.status_code}")
                continue
            with load.ledger.lock:
                load.ledger.logins += 1
            headers = {"Authorization": f"Bearer {answer.json()['token']}"}
            for replica in load.live_replicas():
                with (
                    contextlib.suppress(httpx.TransportError),
                    load.cluster.direct(replica) as direct,
                ):
                    if direct.get("/v1/auth/me", headers=headers).status_code != 200:
                        load.ledger.note(f"a session did not work on replica {replica}")
            with contextlib.suppress(httpx.TransportError):
                client.post("/v1/auth/logout", headers=headers)


Decision = tuple[int, str, dict[str, str], dict[str, str]]


def _race(cluster: Cluster, redaction: str, *decisions: Decision) -> dict[str, int]:
    """The ``decisions`` (replica, verb, credentials, body) on ``redaction`` sent at the same
    moment from threads of their own; each verb's status (0: the replica did not answer)."""
    answers: dict[str, int] = {}
    barrier = threading.Barrier(len(decisions))

    def decide(replica: int, verb: str, headers: dict[str, str], body: dict[str, str]) -> None:
        barrier.wait()
        try:
            with cluster.direct(replica) as client:
                answers[verb] = client.post(
                    f"/v1/redactions/{redaction}/{verb}", headers=headers, json=body
                ).status_code
        except httpx.TransportError:
            answers[verb] = 0

    threads = [threading.Thread(target=decide, args=decision) for decision in decisions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _reviews(load: Load, document: str) -> None:
    """erin proposes; rosa approves on one replica while eve rejects on another, at once:
    exactly one decision may win, the other is told the redaction was decided."""
    erin, rosa, eve = (load.cluster.auth(name) for name in ("erin", "rosa", "eve"))
    number = 0
    while not load.stop.is_set():
        number += 1
        live = load.live_replicas()
        if len(live) < 2:
            return
        first, second = _RNG.sample(live, 2)
        try:
            with load.cluster.direct(first) as client:
                proposed = client.post(
                    f"/v1/documents/{document}/redactions",
                    headers=erin,
                    json={"kind": "term", "term": f"name {number}", "category": "source-identity"},
                )
        except httpx.TransportError:
            continue
        if proposed.status_code != 201:
            load.ledger.note(f"propose: {proposed.status_code} {proposed.text[:200]}")
            continue
        redaction = proposed.json()["id"]
        answers = _race(
            load.cluster,
            redaction,
            (first, "approve", rosa, {}),
            (second, "reject", eve, {"note": "not needed"}),
        )
        if 0 in answers.values():
            continue  # a replica died under one of them: checked at the end from the list
        won = [verb for verb, status in answers.items() if status == 200]
        if len(won) != 1 or sorted(answers.values()) != [200, 409]:
            load.ledger.note(f"review race on {redaction}: {answers}")
            continue
        with load.ledger.lock:
            load.ledger.decisions[redaction] = "approved" if won == ["approve"] else "rejected"


def _kill(server: Server) -> None:
    """SIGKILL the replica and everything it started: no shutdown, no cleanup."""
    processes = [psutil.Process(server.process.pid), *server.descendants()]
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=30)


def _restart(cluster: Cluster, replica: int) -> None:
    """The killed replica again, on its port (nginx takes it back) and its data directory."""
    old = cluster.replicas[replica]
    env = dict(cluster.env, VAULT_DATA_DIR=str(cluster.data_dirs[replica]))
    command = [VAULT, "serve", "--data-dir", str(cluster.data_dirs[replica])]
    command += ["--host", "127.0.0.1", "--port", str(old.port)]
    log_path = old.log_path.with_name(old.log_path.stem + "-restarted.log")
    cluster.replicas[replica] = start_server(
        command, port=old.port, env=env, log_path=log_path, startup_lines=1
    )


def _listing(cluster: Cluster, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    with cluster.proxied() as client:
        while True:
            params = {"case": cluster.live.case_id, "limit": "200"}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/documents", headers=headers, params=params)
            assert page.status_code == 200, page.text
            for document in page.json()["documents"]:
                found[document["id"]] = document
            cursor = page.json().get("next_cursor")
            if not cursor:
                return found


def _iso(moment: float) -> str:
    """``moment`` as the log writes times (ISO 8601, UTC, microseconds, Z): comparable as text."""
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_three_replicas_behind_nginx_act_as_one_vault_while_one_is_killed(
    cluster: Cluster,
) -> None:
    for username in USERS:
        cluster.auth(username)  # sessions made before the log window opens
    earlier = set(_listing(cluster, cluster.auth("rosa")))  # the other tests' documents
    time.sleep(1.1)
    started_at = time.time()
    with cluster.proxied() as client:
        statement = _upload(
            client, cluster.auth("erin"), cluster.live.case_id, "reviewed", _text(4000)
        )
    assert statement.status_code == 201, statement.text
    reviewed = statement.json()["id"]
    ledger, stop = Ledger(), threading.Event()
    load = Load(cluster, ledger, stop, [True, True, True])
    workers: list[Callable[[], None]] = [
        *(lambda name=name: _uploader(load, name) for name in UPLOADERS),
        lambda: _reader(load),
        lambda: _deleter(load),
        lambda: _logins(load),
        lambda: _reviews(load, reviewed),
    ]
    threads = [threading.Thread(target=work, daemon=True) for work in workers]
    for thread in threads:
        thread.start()
    time.sleep(KILL_AFTER)
    load.alive[1] = False
    _kill(cluster.replicas[1])
    time.sleep(LOAD_SECONDS - KILL_AFTER)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    stopped_at = _iso(time.time())
    _restart(cluster, 1)

    assert not ledger.unexpected, ledger.unexpected[:10]
    assert len(ledger.acked) >= 10, "the load did too little to show anything"
    assert ledger.deleted
    assert ledger.decisions
    assert ledger.logins

    # Every acknowledged upload reads back everywhere; every acknowledged deletion is gone.
    admin_view = cluster.auth("rosa")
    for replica in range(3):
        with cluster.direct(replica) as client:
            for doc, digest in ledger.acked.items():
                read = client.get(f"/v1/documents/{doc}/content", headers=admin_view)
                if doc in ledger.deleted:
                    assert read.status_code == 404, (replica, doc)
                elif doc not in ledger.uncertain_deletes:
                    assert read.status_code == 200, (replica, doc, read.text)
                    assert hashlib.sha256(read.content).hexdigest() == digest

    # Nothing visible that was not acknowledged, unless it was cut off by the kill and
    # committed whole.
    visible = _listing(cluster, admin_view)
    visible.pop(reviewed)
    for doc in earlier:
        visible.pop(doc, None)
    unacknowledged = {doc: meta for doc, meta in visible.items() if doc not in ledger.acked}
    for meta in unacknowledged.values():
        assert meta["title"] in ledger.uncertain_titles, meta["title"]
        assert meta["sha256"] == ledger.sent[meta["title"]]
    gone = {doc for doc in ledger.acked if doc not in visible}
    assert ledger.deleted <= gone <= ledger.deleted | ledger.uncertain_deletes

    # The redaction decisions: one each, the winner's, on every replica.
    with cluster.direct(1) as client:
        listed = client.get(f"/v1/documents/{reviewed}/redactions", headers=admin_view)
    statuses = {item["id"]: item["status"] for item in listed.json()["redactions"]}
    for redaction, outcome in ledger.decisions.items():
        assert statuses[redaction] == outcome

    # The store and the log (up to the end of the load: the checks above read too).
    fsck = run_vault("fsck", "--json", cwd=cluster.root, env=cluster.env, timeout=300)
    report = json.loads(fsck.stdout)
    assert report["missing_blobs"] == [], report
    assert fsck.returncode in (0, 1), fsck.stderr  # 1: orphans of the killed uploads
    verified = run_vault("audit", "verify", cwd=cluster.root, env=cluster.env, timeout=300)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started_at))
    listed_log = run_vault(
        "audit", "log", "--json", "--since", since, cwd=cluster.root, env=cluster.env, timeout=300
    )
    assert listed_log.returncode == 0, listed_log.stderr
    entries = [
        entry
        for entry in json.loads(listed_log.stdout)["entries"]
        if entry["outcome"] == "ok" and entry["time"] < stopped_at
    ]

    def documents_of(action: str) -> list[str]:
        return [e["targets"].get("document") for e in entries if e["action"] == action]

    uploads = documents_of("document.upload")
    assert len(uploads) == len(set(uploads))
    assert set(uploads) == set(ledger.acked) | set(unacknowledged) | {reviewed}
    assert sorted(documents_of("document.delete")) == sorted(gone)
    decided: dict[str, list[str]] = {}
    for entry in entries:
        if entry["action"] in ("redaction.approve", "redaction.reject"):
            decided.setdefault(entry["targets"]["redaction"], []).append(entry["action"])
    assert all(len(actions) == 1 for actions in decided.values()), decided
    for redaction, outcome in ledger.decisions.items():
        assert decided[redaction] == [VERB_OF[outcome]]
    logins = sum(1 for e in entries if e["action"] == "auth.login")
    assert ledger.logins <= logins <= ledger.logins + ledger.uncertain_logins
    reads = sum(1 for e in entries if e["action"] == "document.content.read")
    # nginx sends a GET whose replica died before answering to the next one: a read the dead
    # replica had logged is then logged twice, for one answer. Its error log names each.
    retried = sum(
        1
        for line in cluster.proxy.error_log.read_text().splitlines()
        if "[error]" in line
        and "while reading response header" in line
        and '"GET /v1/documents/' in line
    )
    assert ledger.reads <= reads <= ledger.reads + ledger.uncertain_reads + retried
