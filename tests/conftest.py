"""Shared fixtures. Storage tests take ``settings`` and so run once on SQLite and once on
PostgreSQL; without ``VAULT_TEST_DATABASE_URL`` the PostgreSQL half skips with a reason, with it
an unreachable server fails the tests. ``world`` is a copy of a template made once per test
process (``tests.support.world``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.world import (
    PASSPHRASE,
    PG_ENV,
    Templates,
    World,
    build_world,
    default_settings,
    empty_database,
    is_template_copy,
    postgres_database,
)
from vault.settings import Settings

__all__ = ["PASSPHRASE", "PG_ENV", "POPPLER_REQUIRED", "World", "needs_poppler"]

# poppler's pdftotext is the independent reader of redacted PDFs. Without it those checks are
# skipped on a developer's machine; CI installs it and sets this variable, so there a missing
# pdftotext fails the checks instead of skipping them.
POPPLER_REQUIRED = bool(os.environ.get("VAULT_TEST_REQUIRE_POPPLER"))
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None and not POPPLER_REQUIRED,
    reason="pdftotext (poppler-utils) is not installed; CI installs it and never skips this",
)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """This test process's template worlds (``tests.support.world``)."""
    made = Templates(tmp_path_factory.mktemp("templates"))
    yield made
    made.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` for the embedded SQLite default, else a URL to a fresh PostgreSQL database: a
    copy of the template world's when the test takes the world, else an empty schema."""
    if request.param == "sqlite":
        yield None
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set: no PostgreSQL server to test against")
    wants_world = "world" in request.fixturenames
    templates = request.getfixturevalue("templates") if wants_world else None
    with postgres_database(base, templates) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return default_settings(tmp_path / "data", database_url)


@pytest.fixture
def world(settings: Settings, templates: Templates) -> Iterator[World]:
    made = templates.world(settings)
    if made is None:
        if is_template_copy(settings.database_url):
            empty_database(os.environ[PG_ENV], settings.database_url)
        made = build_world(settings)
    try:
        yield made
    finally:
        made.vault.close()
