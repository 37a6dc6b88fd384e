"""``vault fsck`` on a vault whose database was edited outside it: exit 5 (``INTEGRITY``), one
line per edited record naming its table and id, the same records in ``--json``, and ``--repair``
seals none of them again. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

from tests.support.cli import INTEGRITY, OK, run_vault, vault_env
from tests.support.world import World
from tests.vault.test_tampered_rows import sql, store, stored
from vault.redaction.model import Category, Kind
from vault.services.documents import NewDocument
from vault.services.redaction_records import Proposal
from vault.storage.models import Role

NAME = "Marisol Quintero Vidal"


def _fsck(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    settings = world.vault.settings
    env = vault_env()
    if settings.database_url:
        env["VAULT_DATABASE_URL"] = settings.database_url
    return run_vault(
        "fsck",
        "--data-dir",
        settings.data_dir,
        *args,
        cwd=settings.data_dir.parent,
        env=env,
        secrets=(NAME, "jules", "erin"),
        in_process=True,
    )


def _approved_redaction(world: World) -> tuple[uuid.UUID, uuid.UUID]:
    """A text document of the case with one approved redaction: (document, redaction)."""
    rosa = world.add_user("rosa", Role.EDITOR)
    doc = world.vault.documents.add(
        world.editor,
        case_id=world.case_id,
        content=[f"La asistente, {NAME}, tomó notas.\n".encode()],
        document=NewDocument(title="testimonio", media_type="text/plain"),
    ).id
    proposal = Proposal(Kind.TERM, Category.SOURCE_IDENTITY, term=NAME)
    rid = world.vault.redactions.propose(world.editor, doc, proposal).id
    world.vault.redactions.approve(rosa, rid)
    return doc, rid


def _tamper(world: World) -> dict[tuple[str, str], uuid.UUID]:
    """Three records edited and one deleted in SQL; the edited ones by (table, id)."""
    doc = store(world)
    _, rid = _approved_redaction(world)
    other = world.vault.cases.create(world.admin, "other").id
    sql(
        world,
        "UPDATE documents SET case_id = :c WHERE id = :d",
        c=stored(other, world),
        d=stored(doc, world),
    )
    sql(
        world,
        "UPDATE users SET role = 'admin' WHERE id = :u",
        u=stored(world.journalist.user_id, world),
    )
    sql(
        world,
        "UPDATE cases SET retain_days = 1 WHERE id = :c",
        c=stored(world.case_id, world),
    )
    sql(world, "DELETE FROM redactions WHERE id = :r", r=stored(rid, world))
    return {
        ("documents", str(doc)): doc,
        ("users", str(world.journalist.user_id)): world.journalist.user_id,
        ("cases", str(world.case_id)): world.case_id,
        ("redactions", str(rid)): rid,
    }


def _lines_naming(out: str, record: str) -> list[str]:
    return [line for line in out.splitlines() if record in line]


def _report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_a_clean_vault_passes(world: World) -> None:
    done = _fsck(world)
    assert done.returncode == OK, done.stdout + done.stderr


def test_each_edited_record_is_named_on_its_own_line(world: World) -> None:
    edited = _tamper(world)
    done = _fsck(world)
    assert done.returncode == INTEGRITY, done.stdout + done.stderr
    for table, record in edited:
        [line] = _lines_naming(done.stdout, record)
        if table == "redactions":
            assert "redaction not as logged" in line  # deleted: nothing left to have a seal
        else:
            assert f"{table} record not matching its seal" in line


def test_json_lists_the_broken_seals_and_the_unwitnessed_redactions(world: World) -> None:
    edited = _tamper(world)
    done = _fsck(world, "--json")
    assert done.returncode == INTEGRITY, done.stdout + done.stderr
    report = _report(done)
    assert report["clean"] is False
    assert report["seals_checked"] is True
    assert sorted((s["table"], s["record"], s["seal"]) for s in report["broken_seals"]) == sorted(
        (table, record, "mismatch") for table, record in edited if table != "redactions"
    )
    [(_, rid)] = [key for key in edited if key[0] == "redactions"]
    assert [(r["record"], r["problem"]) for r in report["unwitnessed_redactions"]] == [
        (rid, "missing")
    ]


def test_repair_reseals_nothing(world: World) -> None:
    edited = _tamper(world)
    before = _report(_fsck(world, "--json"))
    repaired = _fsck(world, "--repair")
    assert repaired.returncode == INTEGRITY, repaired.stdout + repaired.stderr
    for _, record in edited:
        assert _lines_naming(repaired.stdout, record)
    after = _fsck(world, "--json")
    assert after.returncode == INTEGRITY
    assert _report(after)["broken_seals"] == before["broken_seals"]
    assert _report(after)["unwitnessed_redactions"] == before["unwitnessed_redactions"]
    # Nor did the repair remove the moved document (its row, its blob): it is evidence.
    assert _report(after)["documents"] == before["documents"]
    assert _report(after)["blobs"] == before["blobs"]


def test_an_edited_redaction_is_listed(world: World) -> None:
    _, rid = _approved_redaction(world)
    sql(world, "UPDATE redactions SET status = 'rejected' WHERE id = :r", r=stored(rid, world))
    done = _fsck(world, "--json")
    assert done.returncode == INTEGRITY, done.stdout + done.stderr
    broken = [(s["table"], s["record"]) for s in _report(done)["broken_seals"]]
    assert ("redactions", str(rid)) in broken
