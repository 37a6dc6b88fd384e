"""A session opened without a one-time code does not outlive a TOTP requirement that applies to
its user later: a role that needs one, or the vault's settings changed to need one."""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import PASSPHRASE, World
from vault.errors import AuthenticationFailed
from vault.services.auth import AuthService
from vault.services.throttle import KdfLimiter
from vault.settings import Settings
from vault.storage.models import Role


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, totp_required_roles="editor,admin")


def test_a_role_that_needs_a_code_ends_sessions_opened_without_one(world: World) -> None:
    auth = world.vault.auth
    session = auth.login("jules", PASSPHRASE, None, address="127.0.0.1")
    token = auth.create_token(session.actor, name="nightly", scopes=["upload"], expires_in=3600)
    assert auth.authenticate(session.token).username == "jules"
    world.vault.users.set_role(None, "jules", Role.EDITOR)
    for credential in (session.token, token.token):
        with pytest.raises(AuthenticationFailed, match="one-time code"):
            auth.authenticate(credential)
    # Back to a role without the requirement, the session is what it was.
    world.vault.users.set_role(None, "jules", Role.JOURNALIST)
    assert auth.authenticate(session.token).username == "jules"


def test_a_settings_change_that_needs_a_code_ends_sessions_opened_without_one(
    world: World,
) -> None:
    session = world.vault.auth.login("jules", PASSPHRASE, None, address="127.0.0.1")
    stricter = AuthService(
        engine=world.vault.engine,
        settings=dataclasses.replace(world.vault.settings, totp_required_roles="journalist"),
        clock=world.vault.clock,
        kdf=KdfLimiter(1),
    )
    with pytest.raises(AuthenticationFailed):
        stricter.authenticate(session.token)
    assert world.vault.auth.authenticate(session.token).username == "jules"
