"""Shared fixtures. Storage tests take ``settings`` and so run once on SQLite and once on
PostgreSQL; without ``VAULT_TEST_DATABASE_URL`` the PostgreSQL half skips with a reason, with it
an unreachable server fails the tests."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from vault.clock import system_clock
from vault.initialise import InitResult, init_vault
from vault.instance import Vault
from vault.services import cases, grants, users
from vault.services.users import Actor
from vault.settings import Settings
from vault.storage.models import Role

PG_ENV = "VAULT_TEST_DATABASE_URL"
# poppler's pdftotext is the independent reader of redacted PDFs. Without it those checks are
# skipped on a developer's machine; CI installs it and sets this variable, so there a missing
# pdftotext fails the checks instead of skipping them.
POPPLER_REQUIRED = bool(os.environ.get("VAULT_TEST_REQUIRE_POPPLER"))
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None and not POPPLER_REQUIRED,
    reason="pdftotext (poppler-utils) is not installed; CI installs it and never skips this",
)
PASSPHRASE = "correct horse battery staple"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` for the embedded SQLite default, else a URL to a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set: no PostgreSQL server to test against")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    # Two-factor login is exercised by its own tests; elsewhere it would only add ceremony.
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        segment_size=4096,
        totp_required_roles="",
    )


@dataclass
class World:
    """An initialised vault with an administrator, an editor and a journalist, and one case of
    which the editor and the journalist are members."""

    vault: Vault
    init: InitResult
    admin: Actor
    editor: Actor
    journalist: Actor
    case_id: uuid.UUID

    def add_user(self, username: str, role: Role, *, member: bool = True) -> Actor:
        with self.vault.session() as db:
            user, key = users.create_user(
                db,
                username=username,
                role=role,
                passphrase=PASSPHRASE,
                params=self.vault.settings.argon2,
                clock=system_clock,
            )
            db.commit()
            actor = users.actor_for(user, key)
        if member:
            self.add_member(actor)
        return actor

    def add_member(
        self, actor: Actor, case_id: uuid.UUID | None = None, *, approve: bool = True
    ) -> None:
        """Add ``actor`` to a case as the administrator, and approve them as the editor (the
        founding member of the fixture's case) unless ``approve`` is false."""
        case = case_id or self.case_id
        with self.vault.session() as db:
            member = cases.add_member(db, self.admin, case, actor.user_id, clock=system_clock)
            if approve and member.approved_at is None:
                grants.approve(db, self.editor, case, actor.user_id, clock=system_clock)
            db.commit()

    def db(self) -> Session:
        return Session(self.vault.engine, expire_on_commit=False)


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    result = init_vault(settings, admin="admin", passphrase=PASSPHRASE)
    vault = Vault.open(settings)
    admin = vault.login("admin", PASSPHRASE)
    world = World(vault, result, admin, admin, admin, uuid.uuid4())
    with vault.session() as db:
        case = cases.create_case(db, admin, "mexico-delegation", clock=system_clock)
        db.commit()
        world.case_id = case.id
    world.editor = world.add_user("erin", Role.EDITOR)
    world.journalist = world.add_user("jules", Role.JOURNALIST)
    try:
        yield world
    finally:
        vault.close()
