"""The template worlds the storage tests copy: a PostgreSQL copy is paired only with the data
directory of the template it was made from. A template that ages out between a test's database
and its world is rebuilt with another seal key file; pairing the new directory with the old copy
made the vault refuse its own log key ("sealed record failed authentication") once in a CI run."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.world import _TEMPLATE_MAX_AGE, PG_ENV, Templates, default_settings


@pytest.mark.postgres
def test_a_copy_of_a_template_rebuilt_since_gets_no_world(tmp_path: Path) -> None:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set: no PostgreSQL server to test against")
    templates = Templates(tmp_path / "templates")
    copies: list[str] = []
    try:
        copies.append(templates.database(base))
        first = templates._made["postgresql"]
        # The template ages out before the test asks for its world: the next use rebuilds it.
        aged = dataclasses.replace(first, made=first.made - _TEMPLATE_MAX_AGE - 1)
        templates._made["postgresql"] = aged
        stale = default_settings(tmp_path / "stale", postgres.url_for(base, copies[0]))
        assert templates.world(stale) is None  # the caller builds a world of its own instead
        assert templates._made["postgresql"].database != first.database

        copies.append(templates.database(base))
        fresh = default_settings(tmp_path / "fresh", postgres.url_for(base, copies[1]))
        world = templates.world(fresh)
        assert world is not None  # a copy of the current template is paired with it
        world.vault.close()
    finally:
        templates.close()
        for name in copies:
            postgres.drop_database(base, name)
