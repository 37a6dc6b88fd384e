"""Login throttling behind a shared address: forwarded addresses are believed only from trusted
proxies, a correct login from a known device passes the per-address block, the per-account
limit holds for everyone, and HSTS follows the scheme a trusted proxy forwarded."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api import create_app
from tests.conftest import PASSPHRASE, World
from vault.services import throttle
from vault.settings import Settings
from vault.storage.models import Throttle

WRONG = "not the passphrase at all, sorry"
PROXY = "10.0.0.7"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Three failures block an address here (the default, 20, would only make the tests slower).
    return dataclasses.replace(settings, address_free_failures=3)


@contextmanager
def client_for(world: World, *, peer: str, **settings: object) -> Iterator[TestClient]:
    app = create_app(dataclasses.replace(world.vault.settings, **settings), vault=world.vault)
    with TestClient(app, raise_server_exceptions=False, client=(peer, 40000)) as client:
        yield client


def login(
    client: TestClient,
    username: str,
    passphrase: str = PASSPHRASE,
    *,
    via: str | None = None,
    device: str | None = None,
) -> httpx.Response:
    body = {"username": username, "passphrase": passphrase}
    if device is not None:
        body["device_token"] = device
    headers = {"X-Forwarded-For": via} if via is not None else {}
    return client.post("/v1/auth/login", json=body, headers=headers)


def block_address(
    world: World, client: TestClient, address: str, *, via: str | None = None
) -> None:
    """Failed logins on accounts that are not the victims', counted against ``address``, until
    it is blocked; then the block is stretched to ten minutes, so that the test does not race
    the first, one-second block."""
    for n in range(3):
        assert login(client, f"stranger{n}", WRONG, via=via).status_code == 401
    with world.db() as db:
        row = db.get(Throttle, throttle.address_key(address))
        assert row is not None
        assert row.failures == 3
        assert row.blocked_until is not None
        row.blocked_until += timedelta(minutes=10)
        db.add(row)
        db.commit()
    assert login(client, "stranger9", WRONG, via=via).status_code == 429


def test_behind_a_trusted_proxy_one_client_cannot_block_the_others(world: World) -> None:
    with client_for(world, peer=PROXY, trusted_proxies=f"{PROXY},192.168.0.0/16") as client:
        block_address(world, client, "203.0.113.9", via="203.0.113.9")
        # Another client behind the same proxy is not blocked ...
        assert login(client, "erin", via="198.51.100.4").status_code == 200
        # ... and the proxy chain is read from the right: a client cannot pick its own address.
        spoofed = "198.51.100.4, 203.0.113.9"
        assert login(client, "erin", via=spoofed).status_code == 429


def test_forwarded_addresses_from_anyone_else_are_ignored(world: World) -> None:
    # Without trusted proxies (the default), or from a peer that is not one, X-Forwarded-For
    # cannot move an attacker to a fresh address.
    for settings in ({}, {"trusted_proxies": "10.9.9.9"}):
        with client_for(world, peer="203.0.113.50", **settings) as client:
            # Counted against the peer, whatever the header said.
            block_address(world, client, "203.0.113.50", via="198.51.100.1")
            assert login(client, "erin", via="198.51.100.200").status_code == 429
        with world.db() as db:
            for row in db.exec(select(Throttle)):
                db.delete(row)
            db.commit()


def test_a_known_device_passes_the_address_block_and_the_account_limit_holds(
    world: World,
) -> None:
    with client_for(world, peer="203.0.113.60") as client:
        first = login(client, "erin")
        assert first.status_code == 200
        device = first.json()["device_token"]
        block_address(world, client, "203.0.113.60")
        assert login(client, "jules").status_code == 429  # no device token: blocked
        again = login(client, "erin", device=device)
        assert again.status_code == 200, again.text
        # Each login replaces the token it showed.
        replaced = again.json()["device_token"]
        assert replaced != device
        assert login(client, "erin", device=device).status_code == 429
        # A device token is bound to its account: it does not help another one.
        assert login(client, "jules", device=replaced).status_code == 429
        # Failures with a device token count against the device and the account, not the
        # address; and the account's limit holds for a known device too.
        with world.db() as db:
            before = db.get(Throttle, throttle.address_key("203.0.113.60"))
            assert before is not None
            address_failures = before.failures
        for _ in range(5):
            assert login(client, "erin", WRONG, device=replaced).status_code == 401
        assert login(client, "erin", device=replaced).status_code == 429
        with world.db() as db:
            after = db.get(Throttle, throttle.address_key("203.0.113.60"))
            assert after is not None
            assert after.failures == address_failures


def test_resetting_an_account_forgets_its_devices(world: World) -> None:
    with client_for(world, peer="203.0.113.70") as client:
        device = login(client, "jules").json()["device_token"]
        world.vault.users.reset_enrolment("jules")
        block_address(world, client, "203.0.113.70")
        assert login(client, "jules", device=device).status_code == 429


@pytest.mark.parametrize(
    ("peer", "trusted", "hsts"),
    [(PROXY, PROXY, True), ("203.0.113.80", PROXY, False), (PROXY, "", False)],
)
def test_hsts_follows_the_scheme_a_trusted_proxy_forwarded(
    world: World, peer: str, trusted: str, hsts: bool
) -> None:
    with client_for(world, peer=peer, trusted_proxies=trusted) as client:
        answer = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert ("strict-transport-security" in answer.headers) is hsts
