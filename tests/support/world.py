"""The ``World`` most storage and API tests start from, made once and copied for each test.

Making it costs an ``init`` (migrations and an Argon2id derivation), a login and two more
accounts: four derivations at the RFC 9106 floor the settings refuse to go below, about a second
per test. So each test process makes it once per database backend (the *template*: a data
directory and, on PostgreSQL, a database that other databases are created from), and every test
gets its own copy: the data directory copied, the database created from the template database.
The copy is byte for byte the vault the slow path makes, with the same ids and keys, so the
template's unlocked ``Actor``s open it. Tests whose settings change what is stored (a module that
overrides ``settings`` with other Argon2id costs, recovery shares or two-factor roles) take the
slow path.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlmodel import Session

from tests.support import postgres
from tests.support.postgres import PG_ENV
from vault import crypto
from vault.initialise import InitResult, init_vault
from vault.instance import Vault
from vault.services.users import Actor
from vault.settings import Settings
from vault.storage.models import Role

__all__ = [
    "PASSPHRASE",
    "PG_ENV",
    "Templates",
    "World",
    "build_world",
    "default_settings",
    "empty_database",
    "is_template_copy",
    "postgres_database",
]

# Databases made from a template are named so, and only they are ever emptied or dropped.
_COPY_PREFIX = "vault_t_"
PASSPHRASE = "correct horse battery staple"
CASE_NAME = "mexico-delegation"

# Settings a test may change without making the template's vault a different one: they are
# read while serving, never written at initialisation.
_RUNTIME_ONLY = ("data_dir", "database_url", "address_free_failures", "min_free_bytes")

# A template is rebuilt after this long, so nothing in it (a session's idle time, a code's
# validity) comes near an expiry in a long serial run.
_TEMPLATE_MAX_AGE = 15 * 60


def default_settings(data_dir: Path, database_url: str | None) -> Settings:
    """The settings of the shared fixtures."""
    # Two-factor login is exercised by its own tests; elsewhere it would only add ceremony.
    return Settings(
        data_dir=data_dir,
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
    # Session tokens by username, opened when the template was made (the API tests' logins).
    tokens: dict[str, str] = dataclasses.field(default_factory=dict)

    def add_user(self, username: str, role: Role, *, member: bool = True) -> Actor:
        _, _, totp_uri = self.vault.users.create_account(
            None, username=username, role=role, passphrase=PASSPHRASE
        )
        actor = log_in(self.vault, username, totp_uri)
        if member:
            self.add_member(actor)
        return actor

    def add_member(
        self, actor: Actor, case_id: uuid.UUID | None = None, *, approve: bool = True
    ) -> None:
        """Add ``actor`` to a case as the administrator, and approve them as the editor (the
        founding member of the fixture's case) unless ``approve`` is false."""
        case = case_id or self.case_id
        approved = self.vault.cases.add_member(self.admin, case, actor.username)
        if approve and not approved:
            self.vault.cases.approve(self.editor, case, actor.username)

    def db(self) -> Session:
        return Session(self.vault.engine, expire_on_commit=False)


def log_in(vault: Vault, username: str, totp_uri: str | None) -> Actor:
    """``username``'s actor with their key unlocked, by a login (with a one-time code from the
    secret in ``totp_uri`` when the account has one)."""
    otp = None
    if totp_uri is not None:
        secret = parse_qs(urlsplit(totp_uri).query)["secret"][0]
        otp = crypto.totp_code(base64.b32decode(secret + "=" * (-len(secret) % 8)), time.time())
    return vault.auth.login(username, PASSPHRASE, otp, address="127.0.0.1").actor


def build_world(settings: Settings) -> World:
    """The slow path: a new vault as ``settings`` describe it, and the world's accounts."""
    result = init_vault(settings, admin="admin", passphrase=PASSPHRASE)
    vault = Vault.open(settings)
    admin = log_in(vault, "admin", result.totp_uri)
    world = World(vault, result, admin, admin, admin, uuid.uuid4())
    world.case_id = vault.cases.create(admin, CASE_NAME).id
    world.editor = world.add_user("erin", Role.EDITOR)
    world.journalist = world.add_user("jules", Role.JOURNALIST)
    return world


@dataclass(frozen=True)
class _Template:
    settings: Settings
    database: str | None  # the PostgreSQL template database's name
    init: InitResult
    admin: Actor
    editor: Actor
    journalist: Actor
    case_id: uuid.UUID
    tokens: dict[str, str]
    made: float

    def fits(self, settings: Settings) -> bool:
        """Whether a vault made with ``settings`` would be this one."""
        ignored = {name: getattr(self.settings, name) for name in _RUNTIME_ONLY}
        return dataclasses.replace(settings, **ignored) == self.settings


class Templates:
    """This test process's templates, one per backend, made on first use."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._made: dict[str, _Template] = {}
        # Each database copy, by the template database it was made from: a template rebuilt
        # between a test's database and its world (it ages out) has another seal key file, so
        # the new template's data directory must not be paired with the old template's copy.
        self._copied_from: dict[str, str] = {}

    def _get(self, backend: str) -> _Template:
        template = self._made.get(backend)
        if template is None or time.monotonic() - template.made > _TEMPLATE_MAX_AGE:
            if template is not None:
                self._drop(template)
            template = self._build(backend)
            self._made[backend] = template
        return template

    def _build(self, backend: str) -> _Template:
        data_dir = self._root / f"{backend}-{uuid.uuid4().hex[:8]}" / "data"
        database = None
        url = None
        if backend == "postgresql":
            base = os.environ[PG_ENV]
            database = f"vault_tpl_{uuid.uuid4().hex[:16]}"
            postgres.create_database(base, database)
            url = postgres.url_for(base, database)
        world = build_world(default_settings(data_dir, url))
        # The sessions the API tests would open first, through the real login (each is an
        # Argon2id derivation); the template is rebuilt long before they could go idle.
        tokens = {
            actor.username: world.vault.auth.login(
                actor.username, PASSPHRASE, None, address="testclient"
            ).token
            for actor in (world.admin, world.editor, world.journalist)
        }
        # A database with open connections cannot be a template.
        world.vault.close()
        return _Template(
            settings=world.vault.settings,
            database=database,
            init=world.init,
            admin=world.admin,
            editor=world.editor,
            journalist=world.journalist,
            case_id=world.case_id,
            tokens=tokens,
            made=time.monotonic(),
        )

    def database(self, base: str) -> str:
        """A new PostgreSQL database made from the template; its name."""
        template = self._get("postgresql")
        name = f"{_COPY_PREFIX}{uuid.uuid4().hex[:16]}"
        assert template.database is not None
        postgres.create_database(base, name, template=template.database)
        self._copied_from[name] = template.database
        return name

    def world(self, settings: Settings) -> World | None:
        """A copy of the template for ``settings``, or ``None`` if the template is not the vault
        ``settings`` would make (or the database was not made from it)."""
        backend = "sqlite" if settings.database_url is None else "postgresql"
        template = self._get(backend)
        if not template.fits(settings) or settings.data_dir.exists():
            return None
        if template.database is not None:
            assert settings.database_url is not None
            name = postgres.database_name(settings.database_url)
            if self._copied_from.get(name) != template.database:
                return None  # not a copy, or a copy of a template since rebuilt
        shutil.copytree(template.settings.data_dir, settings.data_dir)
        vault = Vault.open(settings)
        return World(
            vault,
            template.init,
            template.admin,
            template.editor,
            template.journalist,
            template.case_id,
            dict(template.tokens),
        )

    def _drop(self, template: _Template) -> None:
        shutil.rmtree(template.settings.data_dir.parent, ignore_errors=True)
        if template.database is not None:
            postgres.drop_database(os.environ[PG_ENV], template.database)

    def close(self) -> None:
        for template in self._made.values():
            self._drop(template)
        self._made.clear()


def is_template_copy(url: str | None) -> bool:
    """Whether ``url`` names a database made from a template (``postgres_database``)."""
    return url is not None and postgres.database_name(url).startswith(_COPY_PREFIX)


def empty_database(base: str, url: str) -> None:
    """Make the template copy ``url`` names empty again (for a test the template does not fit)."""
    assert is_template_copy(url)
    name = postgres.database_name(url)
    postgres.drop_database(base, name)
    postgres.create_database(base, name)


@contextmanager
def postgres_database(base: str, templates: Templates | None) -> Iterator[str]:
    """A URL to a fresh PostgreSQL database: made from the template when ``templates`` is given
    (a test that takes the world), else a new empty schema (cheaper than a database)."""
    if templates is None:
        with postgres.schema(base) as url:
            yield url
        return
    name = templates.database(base)
    try:
        yield postgres.url_for(base, name)
    finally:
        postgres.drop_database(base, name)
