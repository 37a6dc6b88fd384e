"""A read-only copy of a vault can be checked as it is, and ``vault serve`` refuses it by name
(issue 13, item 11).

``vault fsck`` and ``vault audit verify`` open SQLite read-only: on a copy they write nothing at
all (not even the ``-wal``/``-shm`` files an ordinary reader creates), which the first test checks
by hashing and listing every file and directory before and after. CI runs as root, for whom
permission bits stop nothing, so the read-only cases use a read-only bind mount and skip where
mounting is not allowed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_init_cli import init, run, snapshot
from tests.support.cli import assert_error


@pytest.fixture(scope="module")
def vault_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One vault for the module: no test here may change it (each works on a copy or a
    read-only view)."""
    tmp_path = tmp_path_factory.mktemp("read-only")
    proc = init(tmp_path)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "D"


def _contents(root: Path) -> dict[str, str]:
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_checking_a_copy_writes_nothing_to_it(vault_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "snapshot"
    shutil.copytree(vault_dir, copy)
    before = (snapshot(copy), _contents(copy))
    fsck = run("fsck", "--data-dir", copy, cwd=tmp_path)
    assert fsck.returncode == 0, fsck.stderr
    verify = run("audit", "verify", "--data-dir", copy, cwd=tmp_path)
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith("ok: ")
    # Same files, same bytes, same times, and the directories' own times: nothing was created
    # and removed again either.
    assert (snapshot(copy), _contents(copy)) == before


@pytest.fixture
def read_only_copy(vault_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """The vault as seen through a read-only bind mount (root only)."""
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root (CI runs as root)")
    mount_point = tmp_path / "read-only"
    mount_point.mkdir()
    bind = subprocess.run(["mount", "--bind", str(vault_dir), str(mount_point)], check=False)
    if bind.returncode != 0:
        pytest.skip("mounting is not allowed here")
    try:
        remount = ["mount", "-o", "remount,bind,ro", str(mount_point)]
        if subprocess.run(remount, check=False).returncode != 0:
            pytest.skip("read-only remounting is not allowed here")
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_fsck_and_audit_verify_check_a_read_only_mount(read_only_copy: Path) -> None:
    fsck = run("fsck", "--data-dir", read_only_copy, cwd=read_only_copy.parent)
    assert fsck.returncode == 0, fsck.stderr
    assert "every document has its blob" in fsck.stdout
    verify = run("audit", "verify", "--data-dir", read_only_copy, cwd=read_only_copy.parent)
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith("ok: ")


def test_serve_refuses_a_read_only_data_directory_by_name(read_only_copy: Path) -> None:
    proc = run(
        "serve", "--data-dir", read_only_copy, "--port", "1", cwd=read_only_copy.parent,
        in_process=False,  # `vault serve` runs in a process of its own, always
    )  # fmt: skip
    assert proc.returncode != 0
    line = assert_error(proc, proc.returncode)
    assert "read-only" in line
    assert "cannot reach the database" not in line
    assert str(read_only_copy) not in line


def test_repair_on_a_read_only_mount_fails_clearly(read_only_copy: Path) -> None:
    proc = run("fsck", "--repair", "--data-dir", read_only_copy, cwd=read_only_copy.parent)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
