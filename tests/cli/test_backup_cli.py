"""``vault backup``, ``vault backup verify`` and ``vault restore`` as an operator runs them: a
round trip whose restored vault passes ``vault fsck`` and ``vault audit verify``, and refusals
that are one line on stderr with the documented exit code and leave nothing behind."""

from __future__ import annotations

import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE
from tests.support.cli import FAILED, INTEGRITY, USAGE, assert_error, run_vault, vault_env
from vault.audit import signer
from vault.initialise import init_vault
from vault.instance import Vault
from vault.services.documents import NewDocument
from vault.settings import Settings
from vault.storage.models import Role

CONTENT = [b"testimony " * 900, b"", b"programme of the closed session " * 40]


def run(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``vault ARGS`` (in this process) with no ``VAULT_*`` setting but those given, and
    two-factor login off."""
    environ = vault_env(VAULT_TOTP_REQUIRED_ROLES="", **(env or {}))
    return run_vault(*args, cwd=cwd, env=environ, timeout=180, in_process=True)


@dataclass(frozen=True)
class Made:
    root: Path
    settings: Settings
    vkey: str
    documents: dict[str, bytes]
    archive: Path


def _make(root: Path, database_url: str | None) -> Made:
    settings = Settings(data_dir=root / "data", database_url=database_url, totp_required_roles="")
    init_vault(settings, admin="admin", passphrase=PASSPHRASE)
    vault = Vault.open(settings)
    try:
        admin = vault.auth.login("admin", PASSPHRASE, None, address="127.0.0.1").actor
        vault.users.create_account(admin, username="erin", role=Role.EDITOR, passphrase=PASSPHRASE)
        case = vault.cases.create(admin, "harbour-contracts")
        vault.cases.add_member(admin, case.id, "erin")
        erin = vault.auth.login("erin", PASSPHRASE, None, address="127.0.0.1").actor
        documents = {}
        for n, content in enumerate(CONTENT):
            info = vault.documents.add(
                erin, case_id=case.id, content=[content], document=NewDocument(title=f"t{n}")
            )
            documents[str(info.id)] = content
        with vault.session() as db:
            found = signer.load_signer(db, settings)
        assert found is not None
        vkey = found.vkey
    finally:
        vault.close()
    return Made(root, settings, vkey, documents, root / "vault.backup")


def _env(made: Made) -> dict[str, str]:
    url = made.settings.database_url
    return {"VAULT_DATABASE_URL": url} if url else {}


def _read_back(data_dir: Path, documents: dict[str, bytes]) -> None:
    vault = Vault.open(Settings(data_dir=data_dir, totp_required_roles=""))
    try:
        erin = vault.auth.login("erin", PASSPHRASE, None, address="127.0.0.1").actor
        for doc_id, content in documents.items():
            _, stream = vault.documents.open(erin, uuid.UUID(doc_id))
            assert b"".join(stream) == content
    finally:
        vault.close()


def test_backup_verify_restore_fsck_and_audit_verify(
    tmp_path: Path, database_url: str | None
) -> None:
    made = _make(tmp_path, database_url)
    created = run(
        "backup",
        "--data-dir",
        made.settings.data_dir,
        "-o",
        made.archive,
        cwd=tmp_path,
        env=_env(made),
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout == ""  # messages and progress on stderr only
    assert "log seal key is not in the archive" in created.stderr
    assert oct(made.archive.stat().st_mode & 0o777) == "0o600"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left

    verified = run("backup", "verify", made.archive, "--log-public-key", made.vkey, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: 3 documents")
    assert "(pinned)" in verified.stdout
    assert verified.stderr == ""

    # Restored into SQLite whatever the vault ran on: a backup's database is portable.
    restored = tmp_path / "restored"
    done = run(
        "restore",
        made.archive,
        "--data-dir",
        restored,
        "--log-key-file",
        made.settings.seal_key_path,
        "--log-public-key",
        made.vkey,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    fsck = run("fsck", "--data-dir", restored, cwd=tmp_path)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    audit = run("audit", "verify", "--data-dir", restored, cwd=tmp_path)
    assert audit.returncode == 0, audit.stderr
    _read_back(restored, made.documents)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    """One SQLite vault and one backup of it made with the CLI, for the refusals."""
    root = tmp_path_factory.mktemp("backup-cli")
    made = _make(root, None)
    created = run(
        "backup",
        "--data-dir",
        made.settings.data_dir,
        "-o",
        made.archive,
        "--include-log-key",
        cwd=root,
    )
    assert created.returncode == 0, created.stderr
    assert "warning: --include-log-key puts log-seal.key in the archive" in created.stderr
    return made


def test_a_damaged_backup_is_refused_in_one_line_with_exit_5(made: Made, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.backup"
    data = bytearray(made.archive.read_bytes())
    with tarfile.open(made.archive) as tar:
        blob = next(m for m in tar.getmembers() if m.name.startswith("blobs/"))
    data[blob.offset_data + 10] ^= 0xFF
    damaged.write_bytes(bytes(data))
    target = tmp_path / "restored"
    line = assert_error(run("restore", damaged, "--data-dir", target, cwd=tmp_path), INTEGRITY)
    assert "damaged" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.backup"]
    line = assert_error(run("backup", "verify", damaged, cwd=tmp_path), INTEGRITY)
    assert "damaged" in line


def test_verify_without_a_pinned_key_says_what_it_did_not_prove(made: Made, tmp_path: Path) -> None:
    done = run("backup", "verify", made.archive, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"pinned_key": false' in done.stdout
    assert "no --log-public-key given" in done.stderr
    wrong = "other.example/log+00000000+" + "A" * 44
    line = assert_error(
        run("backup", "verify", made.archive, "--log-public-key", wrong, cwd=tmp_path), USAGE
    )
    assert "verifier key" in line


def test_restoring_onto_a_non_empty_directory_is_refused(made: Made, tmp_path: Path) -> None:
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "keep").write_text("x")
    line = assert_error(run("restore", made.archive, "--data-dir", target, cwd=tmp_path), FAILED)
    assert "not empty" in line
    assert [p.name for p in target.iterdir()] == ["keep"]
    # And a backup without -o is a usage error; one that would overwrite a file is refused.
    assert_error(run("backup", "--data-dir", made.settings.data_dir, cwd=tmp_path), USAGE)
    kept = target / "keep"
    line = assert_error(
        run("backup", "--data-dir", made.settings.data_dir, "-o", kept, cwd=tmp_path), FAILED
    )
    assert "already exists" in line
