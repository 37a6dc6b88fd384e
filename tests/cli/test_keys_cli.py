"""Key transparency from the command line: ``vault keys show`` and the check at every login,
against an honest server and against a malicious one (``tests.support.tampering_proxy``) that
substitutes a colleague's key, replays an old view of the log, forks the log with the log's own
signing key, gives a name to another account, or replays a replaced key."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from tests.cli.conftest import PASSPHRASE, ReviewServer
from tests.support.cli import INTEGRITY, run_vault
from tests.support.tampering_proxy import Refusal, TamperingProxy, tampering_proxy
from vault import crypto
from vault.audit import checkpoint, log, merkle, signer, transparency
from vault.audit.actions import Action
from vault.instance import Vault
from vault.settings import Settings


class Machine:
    """An editor's machine: its own configuration directory (saved logins, pinned log)."""

    def __init__(self, server: ReviewServer, directory: Path, url: str) -> None:
        self.server = server
        self.directory = directory
        self.url = url

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = self.server.env(None, VAULT_CONFIG_DIR=str(self.directory))
        return run_vault(*args, cwd=self.directory.parent, env=env, in_process=True)

    def login(self, who: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run(
            "login",
            "--server",
            self.url,
            "--username",
            who,
            "--passphrase-file",
            str(self.server.passphrase_file),
            *extra,
        )

    def show(self, who: str) -> subprocess.CompletedProcess[str]:
        return self.run("keys", "show", who, "--json")

    def trust(self) -> bytes:
        return (self.directory / "trust.json").read_bytes()


def _api(server: ReviewServer, who: str, path: str, **params: Any) -> Any:
    with server.live.client(headers=server.live.auth(who)) as client:
        answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return (
        answer.json()
        if answer.headers["content-type"].startswith("application/json")
        else (answer.text)
    )


def _grow(server: ReviewServer) -> None:
    """A few entries more in the log."""
    with server.live.client() as client:
        for _ in range(3):
            answer = client.post(
                "/v1/auth/login", json={"username": "jules", "passphrase": PASSPHRASE}
            )
            assert answer.status_code == 200, answer.text


def _new_account(server: ReviewServer) -> str:
    name = f"kt-{secrets.token_hex(3)}"
    made = run_vault(
        "users", "add", name, "--role", "journalist", "--data-dir", server.live.data_dir,
        "--passphrase-file", server.passphrase_file,
        cwd=server.root, env=server.live.env, in_process=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return name


def _refused(done: subprocess.CompletedProcess[str], phrase: str) -> None:
    assert done.returncode == INTEGRITY, (done.stdout, done.stderr)
    assert phrase in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.fixture
def proxy(review_server: ReviewServer) -> Any:
    with tampering_proxy(review_server.url) as running:
        yield running


def test_keys_show_matches_the_colleagues_own_view(
    review_server: ReviewServer, tmp_path: Path
) -> None:
    erin = Machine(review_server, tmp_path / "erin", review_server.url)
    first = erin.login("erin")
    assert first.returncode == 0, first.stderr
    assert "First contact" in first.stderr
    assert "Your key's fingerprint" in first.stderr
    shown = erin.show("rosa")
    assert shown.returncode == 0, shown.stderr
    assert "First time this machine sees rosa's key" in shown.stderr
    seen = json.loads(shown.stdout)
    served = _api(review_server, "erin", "/v1/users/rosa/key")
    assert seen["key_id"] == served["key_id"]
    assert seen["fingerprint"] == transparency.fingerprint(served["key_id"])
    assert len(seen["fingerprint"].split()) == 16

    rosa = Machine(review_server, tmp_path / "rosa", review_server.url)
    assert rosa.login("rosa").returncode == 0
    own = rosa.show("rosa")
    assert json.loads(own.stdout)["fingerprint"] == seen["fingerprint"]

    again = erin.show("rosa")
    assert again.returncode == 0, again.stderr
    assert "First" not in again.stderr
    assert json.loads(again.stdout)["checkpoint_size"] >= seen["checkpoint_size"]


def test_a_substituted_key_is_refused(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    erin = Machine(review_server, tmp_path / "erin", proxy.url)
    assert erin.login("erin").returncode == 0
    before = erin.trust()
    jules = _api(review_server, "erin", "/v1/users/jules/key")
    proxy.rules["/v1/users/rosa/key"] = lambda body: {**body, "public_key": jules["public_key"]}
    _refused(erin.show("rosa"), "the log holds another key for this user")
    assert erin.trust() == before  # nothing learned from a refused answer

    # The whole record of another account under the name: the log's entry names the account,
    # not the name, so only this machine's memory of the name catches it.
    del proxy.rules["/v1/users/rosa/key"]
    assert erin.show("rosa").returncode == 0
    proxy.rules["/v1/users/rosa/key"] = lambda body: {
        **_api(review_server, "erin", "/v1/users/jules/key", since=1),
        "username": "rosa",
    }
    _refused(erin.show("rosa"), "is another account than before")


def test_an_old_view_of_the_log_is_refused_and_a_login_with_it_ends_its_session(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    old_rosa = _api(review_server, "erin", "/v1/users/rosa/key")
    old_erin = _api(review_server, "erin", "/v1/users/erin/key")
    _grow(review_server)
    erin = Machine(review_server, tmp_path / "erin", proxy.url)
    assert erin.login("erin").returncode == 0
    proxy.rules["/v1/users/rosa/key"] = lambda body: old_rosa
    _refused(erin.show("rosa"), "smaller than the saved checkpoint")

    proxy.rules["/v1/users/erin/key"] = lambda body: old_erin
    done = erin.login("erin", "--profile", "second")
    _refused(done, "smaller than the saved checkpoint")
    saved = json.loads((erin.directory / "profiles.json").read_text())
    assert "second" not in saved["profiles"]
    # The session the refused login opened was ended at once.
    entries = _api(review_server, "erin", "/v1/audit/checkpoint")
    size = int(entries.split("\n")[1])
    last = _api(review_server, "erin", "/v1/audit/entries", start=max(0, size - 20), end=size)
    actions = [json.loads(base64.b64decode(e["leaf"]))["action"] for e in last["entries"]]
    assert Action.AUTH_LOGOUT in actions[actions.index(Action.AUTH_LOGIN, -8) :]


def _log_signer(server: ReviewServer) -> signer.Signer:
    settings = Settings.from_environ(server.live.env, data_dir=server.live.data_dir)
    vault = Vault.open(settings, read_only=True)
    try:
        with Session(vault.engine) as db:
            found = signer.load_signer(db, settings)
    finally:
        vault.close()
    assert found is not None
    return found


def _leaves(server: ReviewServer, end: int) -> list[bytes]:
    leaves: list[bytes] = []
    while len(leaves) < end:
        page = _api(server, "erin", "/v1/audit/entries", start=len(leaves), end=end)
        leaves.extend(base64.b64decode(e["leaf"]) for e in page["entries"])
    return leaves


def test_a_forked_log_signed_with_the_logs_own_key_is_refused(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    """A server that holds the log's signing key forks the log behind this machine's last
    checkpoint, to give rosa a key of its own: every signature is good, and the fork is as
    long as the real log, but it does not extend what this machine saw."""
    fork_at = int(_api(review_server, "erin", "/v1/audit/checkpoint").split("\n")[1])
    _grow(review_server)
    erin = Machine(review_server, tmp_path / "erin", proxy.url)
    assert erin.login("erin").returncode == 0
    seen = int(_api(review_server, "erin", "/v1/audit/checkpoint").split("\n")[1])

    rosa = _api(review_server, "erin", "/v1/users/rosa/key")
    forger = crypto.generate_private_key().public_key()
    tree = merkle.MemoryNodes()
    for leaf in _leaves(review_server, fork_at):
        tree.append(merkle.leaf_hash(leaf))
    index = fork_at
    forged = log.NewEntry(
        Action.USER_KEY_ROTATE,
        rosa["user_id"],
        datetime.now(UTC),
        targets={"user": rosa["user_id"]},
        extra={"key_id": forger.key_id},
    ).leaf(index)
    tree.append(merkle.leaf_hash(forged))
    while tree.size < seen + 5:  # padding: the fork outgrows what erin saw
        tree.append(merkle.leaf_hash(b"padding %d" % tree.size))
    key = _log_signer(review_server)
    note = checkpoint.sign(
        checkpoint.Checkpoint(key.name, tree.size, merkle.root(tree, tree.size)), key.name, key.key
    )
    proof = merkle.inclusion_proof(tree, index, tree.size)
    # The proxy cannot make a consistency proof from erin's tree: it sends the best it has.
    fake = merkle.consistency_proof(tree, min(seen, tree.size), tree.size)
    proxy.rules["/v1/users/rosa/key"] = lambda body: {
        **body,
        "public_key": base64.b64encode(forger.to_bytes()).decode(),
        "key_id": forger.key_id,
        "index": index,
        "entry": base64.b64encode(forged).decode(),
        "checkpoint": note,
        "inclusion": [base64.b64encode(p).decode() for p in proof],
        "consistency": [base64.b64encode(p).decode() for p in fake],
    }
    _refused(erin.show("rosa"), "does not extend the saved checkpoint")


def test_a_replaced_key_replayed_in_a_fresh_log_is_refused(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    """The colleague rotated their key; the server shows the old key again with its (genuine)
    entry, a fresh checkpoint and a valid inclusion proof. Every proof holds: only this
    machine's memory of the newer entry catches it."""
    name = _new_account(review_server)
    erin = Machine(review_server, tmp_path / "erin", proxy.url)
    assert erin.login("erin").returncode == 0
    assert erin.show(name).returncode == 0
    old = _api(review_server, "erin", f"/v1/users/{name}/key")
    with review_server.live.client() as client:
        rotated = client.post(
            "/v1/auth/login",
            json={"username": name, "passphrase": PASSPHRASE, "rotate_key": True},
        )
    assert rotated.status_code == 200, rotated.text
    changed = erin.show(name)
    assert changed.returncode == 0, changed.stderr
    assert f"{name}'s key changed" in changed.stderr
    assert json.loads(changed.stdout)["entry"] > old["index"]

    def replay(body: dict[str, Any]) -> dict[str, Any]:
        size = int(body["checkpoint"].split("\n")[1])
        proof = _api(
            review_server, "erin", "/v1/audit/proof/inclusion", index=old["index"], tree_size=size
        )["proof"]
        return {
            **body,
            "public_key": old["public_key"],
            "key_id": old["key_id"],
            "index": old["index"],
            "entry": old["entry"],
            "inclusion": proof,
        }

    proxy.rules[f"/v1/users/{name}/key"] = replay
    _refused(erin.show(name), "shows an older key")


def test_a_server_that_stops_publishing_keys_does_not_switch_the_checks_off(
    review_server: ReviewServer, proxy: TamperingProxy, tmp_path: Path
) -> None:
    """A server without the key route (an older release) is let through with a warning on a
    machine that never saw its log; once this machine has, the same answer refuses the login,
    and an end-to-end login refuses it always."""
    proxy.fabricated["/v1/users/erin/key"] = lambda request: Refusal(404)
    fresh = Machine(review_server, tmp_path / "fresh", proxy.url)
    first = fresh.login("erin")
    assert first.returncode == 0, first.stderr
    assert "does not publish its users' keys" in first.stderr
    _refused(fresh.login("erin", "--end-to-end", "--profile", "e2e"), "cannot be checked")
    seen = Machine(review_server, tmp_path / "seen", proxy.url)
    del proxy.fabricated["/v1/users/erin/key"]
    assert seen.login("erin").returncode == 0
    proxy.fabricated["/v1/users/erin/key"] = lambda request: Refusal(404)
    _refused(seen.login("erin", "--profile", "again"), "cannot be checked")
