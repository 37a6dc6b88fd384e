"""The core refuses control characters in free text whatever path it came by (the CLI and the
library, not only the API's schemas)."""

from __future__ import annotations

import pytest

from tests.conftest import World
from vault.errors import InvalidInput


@pytest.mark.parametrize("bad", ["a\x00b", "a\nb", "a\x1b[31mb", "a\x85b"])
def test_case_and_token_names_and_source_names_refuse_control_characters(
    world: World, bad: str
) -> None:
    with pytest.raises(InvalidInput):
        world.vault.cases.create(world.admin, f"case {bad}")
    session = world.vault.auth.login("jules", "correct horse battery staple", None, address="t")
    with pytest.raises(InvalidInput):
        world.vault.auth.create_token(session.actor, name=bad, scopes=["upload"], expires_in=600)
    if not bad[1].isspace():  # a line break in a name is white space, and normalised away
        with pytest.raises(InvalidInput):
            world.vault.sources.create(world.journalist, world.case_id, None, [f"Ana {bad}"])


def test_identity_notes_keep_line_breaks_and_tabs_and_refuse_the_rest(world: World) -> None:
    world.vault.sources.create(world.journalist, world.case_id, "line one\n\tline two\r\n")
    with pytest.raises(InvalidInput):
        world.vault.sources.create(world.journalist, world.case_id, "bell \x07")
