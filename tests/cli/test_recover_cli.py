"""``vault recover user|case|handovers`` as the share holders run them on the server, with
share files as ``vault init --recovery-out`` wrote them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from tests.cli.test_users_cli import CODE_RE, PASSPHRASE, Admin
from tests.support.cli import FAILED, NOT_FOUND, USAGE
from vault.instance import Vault
from vault.services.documents import NewDocument
from vault.storage.models import Role

NEW_PASSPHRASE = "amber ledger crosses the quay at dawn"


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Admin:
    return Admin.initialised(tmp_path_factory.mktemp("recover-cli"))


@pytest.fixture
def vault(admin: Admin) -> Iterator[Vault]:
    opened = admin.vault()
    try:
        yield opened
    finally:
        opened.close()


def shares(admin: Admin, *numbers: int) -> list[str | Path]:
    found = sorted((admin.root / "shares").glob("recovery-share-*.txt"))
    args: list[str | Path] = []
    for n in numbers:
        args += ["--share-file", found[n - 1]]
    return args


def _case_with_document(vault: Vault, name: str, member: str) -> tuple[str, str]:
    admin = vault.auth.login("admin", PASSPHRASE, None, address="test").actor
    case = vault.cases.create(admin, name)
    vault.cases.add_member(admin, case.id, member)
    actor = vault.auth.login(member, PASSPHRASE, None, address="test").actor
    doc = vault.documents.add(
        actor, case_id=case.id, content=[b"the permits"], document=NewDocument(title="permits")
    )
    return str(case.id), str(doc.id)


def test_recover_user_prints_a_code_that_opens_everything(admin: Admin, vault: Vault) -> None:
    vault.users.create_account(None, username="jules", role=Role.JOURNALIST, passphrase=PASSPHRASE)
    _, doc_id = _case_with_document(vault, "harbour", "jules")
    too_few = admin.run("recover", "user", "jules", "--data-dir", admin.data_dir,
                        *shares(admin, 1), "--yes")  # fmt: skip
    assert too_few.returncode == USAGE
    assert too_few.stderr.startswith("vault: error: not enough recovery shares")
    assert admin.can_log_in("jules")  # nothing changed
    unconfirmed = admin.run("recover", "user", "jules", "--data-dir", admin.data_dir,
                            *shares(admin, 1, 3))  # fmt: skip
    assert unconfirmed.returncode == USAGE
    assert "--yes" in unconfirmed.stderr
    done = admin.run("recover", "user", "jules", "--data-dir", admin.data_dir,
                     *shares(admin, 1, 3), "--yes")  # fmt: skip
    assert done.returncode == 0, done.stderr
    code = done.stdout.strip()
    assert CODE_RE.match(code), done.stdout
    assert re.search(r"1 document key\(s\)", done.stderr)
    for share in (admin.root / "shares").glob("*.txt"):  # no word of any share is echoed
        assert share.read_text().splitlines()[-1].split()[3] not in done.stdout + done.stderr
    vault.auth.enroll("jules", code, NEW_PASSPHRASE, address="test")
    jules = vault.auth.login("jules", NEW_PASSPHRASE, None, address="test").actor
    _, stream = vault.documents.open(jules, UUID(doc_id))
    assert b"".join(stream) == b"the permits"
    entries = [e["action"] for e in admin.log_about("jules")]
    assert "recovery.used" in entries


def test_recover_case_and_an_unknown_case(admin: Admin, vault: Vault) -> None:
    vault.users.create_account(None, username="erin", role=Role.EDITOR, passphrase=PASSPHRASE)
    vault.users.create_account(None, username="eddie", role=Role.EDITOR, passphrase=PASSPHRASE)
    case_id, doc_id = _case_with_document(vault, "dredging", "erin")
    admin_actor = vault.auth.login("admin", PASSPHRASE, None, address="test").actor
    vault.cases.remove_member(admin_actor, UUID(case_id), "erin")
    vault.cases.add_member(admin_actor, UUID(case_id), "eddie")
    missing = admin.run("recover", "case", "no-such-case", "--data-dir", admin.data_dir,
                        *shares(admin, 2, 3), "--yes")  # fmt: skip
    assert missing.returncode == NOT_FOUND
    done = admin.run("recover", "case", "dredging", "--data-dir", admin.data_dir,
                     *shares(admin, 2, 3), "--yes")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Gave eddie 1 document key(s)" in done.stderr
    eddie = vault.auth.login("eddie", PASSPHRASE, None, address="test").actor
    _, stream = vault.documents.open(eddie, UUID(doc_id))
    assert b"".join(stream) == b"the permits"


def test_recover_handovers_with_nothing_waiting(admin: Admin) -> None:
    done = admin.run("recover", "handovers", "--data-dir", admin.data_dir, *shares(admin, 1, 2))
    assert done.returncode == 0, done.stderr
    assert "No handover could be completed." in done.stderr


def test_reshare_with_a_new_key_retires_the_old_shares(admin: Admin) -> None:
    out = admin.root / "new-shares"
    done = admin.run("recovery", "reshare", "--data-dir", admin.data_dir, *shares(admin, 1, 2),
                     "--threshold", "2", "--shares", "4", "--rotate-key", "--recovery-out", out,
                     "--yes")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "New recovery key" in done.stderr
    assert done.stdout == ""  # the shares went to files only
    written = sorted(out.glob("recovery-share-*-of-4.txt"))
    assert len(written) == 4
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in written)
    old = admin.run("recover", "handovers", "--data-dir", admin.data_dir, *shares(admin, 1, 3))
    assert old.returncode == USAGE
    assert "not this vault's recovery key" in old.stderr
    new = admin.run("recover", "handovers", "--data-dir", admin.data_dir,
                    "--share-file", written[0], "--share-file", written[3])  # fmt: skip
    assert new.returncode == 0, new.stderr
    again = admin.run("recover", "reshare", "--data-dir", admin.data_dir,
                      "--share-file", written[1], "--share-file", written[2],
                      "--recovery-out", out, "--yes")  # fmt: skip
    assert again.returncode == FAILED  # refuses to overwrite the share files there
    assert "refusing to overwrite" in again.stderr
