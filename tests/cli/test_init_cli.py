"""``vault init`` and ``vault fsck`` as an operator runs them, with a clean environment: the
console script's entry point in this process (``tests.support.cli``), and the installed script
itself once.

Every failure must end with the exit status of ``vault.cli.errors`` and exactly one line on
stderr (``vault: error: ...``, or Click's usage block for a malformed command line), never a
traceback, and no run may print the passphrase.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import FAILED, NOT_FOUND, USAGE, assert_error, run_vault, vault_env
from vault._version import __version__
from vault.services.fsck import DEFAULT_GRACE_SECONDS
from vault.services.recovery import combine_shares
from vault.storage.blobstore import LocalBlobStore

PASSPHRASE = "violet kettle marches quietly at 47 past nine"
SHARE_HEADER = (
    "Source Vault recovery share {number} of {total} (any {threshold} rebuild the recovery key).\n"
    "Give this share to one person. Keep it offline.\n"
)
UNREACHABLE_DB = "postgresql+psycopg://postgres@127.0.0.1:1/x"


def run(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, in_process: bool = True
) -> subprocess.CompletedProcess[str]:
    """``vault ARGS`` with no ``VAULT_*`` variables but those given, stdin empty (not a
    terminal), and ``COLUMNS=80`` as in a plain terminal; it never prints the passphrase."""
    return run_vault(
        *args,
        cwd=cwd,
        env=vault_env(columns=80, **(env or {})),
        secrets=[PASSPHRASE],
        in_process=in_process,
    )


def passphrase_file(directory: Path, text: str = PASSPHRASE + "\n") -> Path:
    path = directory / "passphrase.txt"
    path.write_text(text, encoding="utf-8")
    return path


def init(
    cwd: Path,
    *extra: str,
    data_dir: str | Path = "D",
    admin: str = "alice",
    secret: str | Path | None = None,
    recovery_out: str | None = "R",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``vault init`` in ``cwd`` as most tests here run it: ``--data-dir D --admin alice``, the
    passphrase from a file (``passphrase_file(cwd)`` unless ``secret`` names one), the shares
    to ``R`` (``None``: no ``--recovery-out``), then ``extra``."""
    args: list[str | Path] = ["init", "--data-dir", data_dir, "--admin", admin]
    args += ["--passphrase-file", passphrase_file(cwd) if secret is None else secret]
    if recovery_out is not None:
        args += ["--recovery-out", recovery_out]
    return run(*args, *extra, cwd=cwd, env=env)


def snapshot(*roots: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``roots`` with its mode, size and modification time."""
    found = {}
    for root in roots:
        for path in [root, *sorted(root.rglob("*"))]:
            st = path.lstat()
            found[str(path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


def stored_recovery_key(data_dir: Path) -> tuple[str, int, int]:
    """(key_id, threshold, shares) of the one recovery key row, read with sqlite3 directly."""
    uri = f"file:{data_dir / 'vault.db'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        rows = conn.execute("SELECT key_id, threshold, shares FROM recovery_keys").fetchall()
    assert len(rows) == 1
    key_id, threshold, shares = rows[0]
    return str(key_id), int(threshold), int(shares)


def mnemonic_from_file(path: Path, *, number: int, total: int, threshold: int) -> str:
    text = path.read_text(encoding="utf-8")
    header = SHARE_HEADER.format(number=number, total=total, threshold=threshold)
    assert text.startswith(header + "\n"), text[: len(header) + 1]
    body = text[len(header) :].strip()
    assert "\n" not in body  # the rest is the mnemonic alone
    return body


def is_totp_uri(line: str) -> bool:
    return line.startswith("otpauth://totp/")


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@dataclass(frozen=True)
class Initialised:
    """A vault made by ``vault init --recovery-out``, shared by the tests that only read it."""

    root: Path
    data_dir: Path
    recovery_out: Path
    init: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Initialised:
    root = tmp_path_factory.mktemp("cli")
    proc = init(root)
    assert proc.returncode == 0, proc.stderr
    return Initialised(root, root / "D", root / "R", proc)


# -- help and version --------------------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    # The installed console script, in a process of its own: the entry point it names works.
    proc = run("--version", cwd=tmp_path, in_process=False)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"vault {__version__}"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--help"], ["init", "fsck"]),
        (["init", "--help"], ["--admin", "--passphrase-file", "--recovery-out"]),
        (["fsck", "--help"], ["--data-dir", "--repair", "--json"]),
    ],
)
def test_help(tmp_path: Path, args: list[str], expected: list[str]) -> None:
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: vault" in proc.stdout
    for option in expected:
        assert option in proc.stdout


# -- a successful init -------------------------------------------------------------------------


def test_init_creates_a_private_data_dir_that_fsck_accepts(initialised: Initialised) -> None:
    assert "Created a vault in D with administrator alice." in initialised.init.stderr
    # The shares went to files, not to the terminal (stdout holds at most the admin's TOTP URI).
    assert [line for line in initialised.init.stdout.splitlines() if not is_totp_uri(line)] == []
    assert mode(initialised.data_dir) == 0o700
    assert (initialised.data_dir / "vault.db").is_file()
    proc = run("fsck", "--data-dir", initialised.data_dir, cwd=initialised.root)
    assert proc.returncode == 0, proc.stderr
    assert "0 documents, 0 blobs" in proc.stdout


def test_init_writes_owner_only_share_files(initialised: Initialised) -> None:
    files = sorted(initialised.recovery_out.iterdir())
    assert [f.name for f in files] == [f"recovery-share-{i}-of-3.txt" for i in (1, 2, 3)]
    for path in files:
        assert mode(path) == 0o600, path
    assert mode(initialised.recovery_out) == 0o700
    for path in files:
        assert str(path.relative_to(initialised.root)) in initialised.init.stderr


def test_share_files_rebuild_the_stored_recovery_key(initialised: Initialised) -> None:
    key_id, threshold, count = stored_recovery_key(initialised.data_dir)
    assert (threshold, count) == (2, 3)
    out = initialised.recovery_out
    mnemonics = [
        mnemonic_from_file(out / f"recovery-share-{i}-of-3.txt", number=i, total=3, threshold=2)
        for i in (1, 2, 3)
    ]
    assert len(set(mnemonics)) == 3
    for mnemonic in mnemonics:
        assert mnemonic not in initialised.init.stdout
        assert mnemonic not in initialised.init.stderr
    for pair in itertools.combinations(mnemonics, 2):
        assert combine_shares(list(pair)).public_key().key_id == key_id


def test_no_file_holds_the_passphrase(initialised: Initialised) -> None:
    for path in [*initialised.data_dir.rglob("*"), *initialised.recovery_out.rglob("*")]:
        if path.is_file():
            assert PASSPHRASE.encode() not in path.read_bytes(), path


def test_init_with_five_shares_and_threshold_three(tmp_path: Path) -> None:
    proc = init(tmp_path, "--recovery-shares", "5", "--recovery-threshold", "3")
    assert proc.returncode == 0, proc.stderr
    key_id, threshold, count = stored_recovery_key(tmp_path / "D")
    assert (threshold, count) == (3, 5)
    files = sorted((tmp_path / "R").iterdir())
    assert [f.name for f in files] == [f"recovery-share-{i}-of-5.txt" for i in range(1, 6)]
    mnemonics = [
        mnemonic_from_file(path, number=i, total=5, threshold=3)
        for i, path in enumerate(files, start=1)
    ]
    assert combine_shares([mnemonics[0], mnemonics[2], mnemonics[4]]).public_key().key_id == key_id
    assert combine_shares(mnemonics[1:4]).public_key().key_id == key_id


def test_init_without_recovery_out_prints_the_shares_to_stdout(tmp_path: Path) -> None:
    secret = passphrase_file(tmp_path)
    before = set(tmp_path.iterdir())
    proc = init(tmp_path, secret=secret, recovery_out=None)
    assert proc.returncode == 0, proc.stderr
    # stdout holds the shares (and the admin's TOTP URI, when administrators need one) and
    # nothing else, so `vault init ... > file` captures exactly what must be handed out.
    lines = [line for line in proc.stdout.splitlines() if not is_totp_uri(line)]
    assert len(lines) == 3
    assert len(proc.stdout.splitlines()) <= 4
    mnemonics = []
    for number, line in enumerate(lines, start=1):
        prefix = f"share {number}/3: "
        assert line.startswith(prefix)
        mnemonics.append(line[len(prefix) :])
    assert all(len(m.split()) == 33 for m in mnemonics)
    assert "any 2 of these 3" in proc.stderr
    key_id, _, _ = stored_recovery_key(tmp_path / "D")
    assert combine_shares(mnemonics[1:]).public_key().key_id == key_id
    # Nothing but the data directory was written.
    assert set(tmp_path.iterdir()) - before == {tmp_path / "D"}
    assert not list(tmp_path.rglob("recovery-share-*"))


# -- init refusing -----------------------------------------------------------------------------


def test_second_init_leaves_the_existing_vault_untouched(initialised: Initialised) -> None:
    before = snapshot(initialised.data_dir, initialised.recovery_out)
    proc = init(initialised.root, admin="mallory", recovery_out="R2")
    line = assert_error(proc, FAILED)
    assert "not empty" in line
    assert snapshot(initialised.data_dir, initialised.recovery_out) == before
    assert not (initialised.root / "R2").exists()
    assert run("fsck", "--data-dir", "D", cwd=initialised.root).returncode == 0


def test_init_where_the_data_dir_cannot_be_created(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores permission bits, so block the directory with a regular file instead.
        blocker = tmp_path / "afile"
        blocker.write_text("not a directory\n")
        data_dir = blocker / "sub"
    else:
        blocker = tmp_path / "readonly"
        blocker.mkdir(mode=0o500)
        data_dir = blocker / "sub"
    try:
        proc = init(tmp_path, data_dir=data_dir)
        line = assert_error(proc, FAILED)
        assert str(data_dir) in line
        assert not data_dir.exists()
        assert not (tmp_path / "R").exists()
    finally:
        blocker.chmod(0o700)


def test_init_under_an_executable_regular_file_fails_cleanly(tmp_path: Path) -> None:
    # A file with an x bit passes a permission pre-check; creating the directory then fails
    # with ENOTDIR, which must still become one error line (it was a traceback).
    blocker = tmp_path / "script"
    blocker.write_text("#!/bin/sh\n")
    blocker.chmod(0o755)
    proc = init(tmp_path, data_dir=blocker / "sub")
    line = assert_error(proc, FAILED)
    assert str(blocker / "sub") in line
    assert not (tmp_path / "R").exists()


def test_init_with_an_unreachable_database(tmp_path: Path) -> None:
    proc = init(tmp_path, env={"VAULT_DATABASE_URL": UNREACHABLE_DB})
    line = assert_error(proc, FAILED)
    assert "cannot reach the database" in line
    assert "127.0.0.1:1" in line
    assert not (tmp_path / "D").exists()
    assert not (tmp_path / "R").exists()


def test_database_credentials_never_appear_in_the_error(tmp_path: Path) -> None:
    url = "postgresql+psycopg://vaultuser:s3cret-db-password@127.0.0.1:1/x"
    proc = init(tmp_path, recovery_out=None, env={"VAULT_DATABASE_URL": url})
    line = assert_error(proc, FAILED)
    assert "s3cret-db-password" not in line
    assert "vaultuser" not in line


@pytest.mark.parametrize(
    ("passphrase_text", "expected"),
    [
        pytest.param("eleven char\n", "at least 12", id="too-short"),
        pytest.param("", "empty", id="empty-file"),
        pytest.param("\n" + PASSPHRASE + "\n", "empty", id="empty-first-line"),
    ],
)
def test_init_refuses_a_bad_passphrase_file(
    tmp_path: Path, passphrase_text: str, expected: str
) -> None:
    proc = init(tmp_path, secret=passphrase_file(tmp_path, passphrase_text))
    assert expected in assert_error(proc, USAGE)
    assert not (tmp_path / "D").exists()
    assert not (tmp_path / "R").exists()


def test_init_with_a_missing_passphrase_file(tmp_path: Path) -> None:
    proc = init(tmp_path, secret="missing.txt", recovery_out=None)
    assert "passphrase file" in assert_error(proc, USAGE)
    assert not (tmp_path / "D").exists()


def test_init_without_a_terminal_or_a_passphrase_file(tmp_path: Path) -> None:
    proc = run("init", "--data-dir", "D", "--admin", "alice", cwd=tmp_path)
    assert "--passphrase-file" in assert_error(proc, USAGE)
    assert not (tmp_path / "D").exists()


@pytest.mark.parametrize(("shares", "threshold"), [("3", "4"), ("17", "2")])
def test_init_refuses_an_impossible_recovery_split(
    tmp_path: Path, shares: str, threshold: str
) -> None:
    proc = init(tmp_path, "--recovery-shares", shares, "--recovery-threshold", threshold)
    assert "recovery shares" in assert_error(proc, USAGE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passphrase.txt"]


def test_usage_error_is_clicks_usage_block(tmp_path: Path) -> None:
    proc = run("init", "--data-dir", "D", cwd=tmp_path)  # no --admin
    assert proc.returncode == USAGE
    assert proc.stderr.startswith("Usage: vault init [OPTIONS]")
    assert "Missing option '--admin'" in proc.stderr
    assert proc.stdout == ""
    assert not (tmp_path / "D").exists()


# -- fsck --------------------------------------------------------------------------------------


def test_fsck_without_a_vault(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for data_dir in ("empty", "absent"):
        line = assert_error(run("fsck", "--data-dir", data_dir, cwd=tmp_path), NOT_FOUND)
        assert "no vault" in line
    assert not (tmp_path / "absent").exists()
    assert list((tmp_path / "empty").iterdir()) == []


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    proc = init(tmp_path)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "D"


def fsck_json(data_dir: Path, *extra: str) -> tuple[int, dict[str, object]]:
    proc = run("fsck", "--data-dir", data_dir, "--json", *extra, cwd=data_dir.parent)
    assert proc.stderr == ""
    return proc.returncode, json.loads(proc.stdout)


def test_fsck_finds_and_repairs_an_old_orphan_blob(vault_dir: Path) -> None:
    blobs = LocalBlobStore(vault_dir / "blobs")
    blob_id = blobs.put([b"x"]).blob_id
    blob_file = vault_dir / "blobs" / blob_id[:2] / blob_id
    assert blob_file.is_file()

    # Fresh: it may be an upload in progress, so it is reported but kept, and fsck passes.
    status, report = fsck_json(vault_dir)
    assert status == 0
    assert report["recent_orphan_blobs"] == [blob_id]
    assert report["orphan_blobs"] == []
    text = run("fsck", "--data-dir", vault_dir, cwd=vault_dir.parent)
    assert text.returncode == 0
    assert "recent orphan blob" in text.stdout
    assert blob_id in text.stdout

    # Older than the grace period: an orphan.
    old = time.time() - DEFAULT_GRACE_SECONDS - 60
    os.utime(blob_file, (old, old))
    text = run("fsck", "--data-dir", vault_dir, cwd=vault_dir.parent)
    assert text.returncode == FAILED
    assert "orphan blob" in text.stdout
    assert blob_id in text.stdout
    assert "--repair" in text.stdout
    status, report = fsck_json(vault_dir)
    assert status == FAILED
    assert report["clean"] is False
    assert report["orphan_blobs"] == [blob_id]
    assert report["blobs"] == 1
    assert report["documents"] == 0
    assert blob_file.is_file()  # reporting never removes anything

    status, report = fsck_json(vault_dir, "--repair")
    assert status == 0
    assert report["repaired"] is True
    assert report["orphan_blobs"] == [blob_id]
    assert not blob_file.exists()

    status, report = fsck_json(vault_dir)
    assert status == 0
    assert report["clean"] is True
    assert report["blobs"] == 0
    assert report["orphan_blobs"] == report["recent_orphan_blobs"] == []


def test_fsck_json_has_the_documented_keys(vault_dir: Path) -> None:
    status, report = fsck_json(vault_dir)
    assert status == 0
    assert set(report) == {
        "clean",
        "repaired",
        "documents",
        "blobs",
        "orphan_blobs",
        "recent_orphan_blobs",
        "partial_files",
        "missing_blobs",
        "seals_checked",
        "broken_seals",
        "unwitnessed_redactions",
    }
    assert report["clean"] is True
    assert report["repaired"] is False


def test_migrate_upgrades_an_older_vault_and_serving_needs_it(vault_dir: Path) -> None:
    """A vault made by the previous release (schema 0005, before redactions and the grant
    flags) is refused until `vault migrate` upgrades it; then it opens and checks clean."""
    from alembic import command

    from vault.storage.database import _alembic_config, connect, head_revision

    engine = connect(f"sqlite:///{vault_dir / 'vault.db'}")
    try:
        command.downgrade(_alembic_config(engine), "0005")
    finally:
        engine.dispose()
    refused = assert_error(run("fsck", "--data-dir", vault_dir, cwd=vault_dir.parent), FAILED)
    assert "revision 0005" in refused

    check = run("migrate", "--data-dir", vault_dir, "--check", cwd=vault_dir.parent)
    assert check.returncode == FAILED
    assert f"would upgrade it to {head_revision()}" in check.stderr
    done = run("migrate", "--data-dir", vault_dir, cwd=vault_dir.parent)
    assert done.returncode == 0, done.stderr
    assert f"from revision 0005 to {head_revision()}" in done.stderr
    again = run("migrate", "--data-dir", vault_dir, "--check", cwd=vault_dir.parent)
    assert again.returncode == 0
    assert "nothing to do" in again.stderr
    status, report = fsck_json(vault_dir)
    assert status == 0, report


def test_migrate_without_a_vault_says_so(tmp_path: Path) -> None:
    line = assert_error(run("migrate", "--data-dir", tmp_path / "none", cwd=tmp_path), NOT_FOUND)
    assert "vault init" in line
