"""One ``vault serve`` shared by the review-command tests, and a way to run the ``vault``
command as each of its users, each with their own configuration directory.

The server is session-scoped (making a vault and its accounts costs several Argon2id
derivations), so tests must not depend on what other tests did to it: each creates the
documents and sources it needs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import PASSPHRASE, LiveVault, start_live_vault, stop_live_vault
from tests.support.cli import assert_error, run_vault, vault_env

# Members of the case ``harbour-contracts``, besides the administrator ``admin`` (who is not):
# ``joan`` is removed from it again, to stand for someone outside the case. ``rosa`` is the
# second editor that four-eyes review (redactions) needs.
REVIEW_USERS = {"erin": "editor", "jules": "journalist", "joan": "journalist", "rosa": "editor"}


@dataclass
class ReviewServer:
    live: LiveVault
    root: Path

    @property
    def url(self) -> str:
        return self.live.base_url

    @property
    def case_id(self) -> str:
        return self.live.case_id

    @property
    def passphrase_file(self) -> Path:
        return self.root / "server" / "passphrase"

    def config_dir(self, user: str) -> Path:
        return self.root / "config" / user

    def env(self, user: str | None, **extra: str) -> dict[str, str]:
        """No ``VAULT_*`` from the outside, a wide terminal, and ``user``'s own configuration
        directory (their saved login)."""
        environ = vault_env()
        if user is not None:
            environ["VAULT_CONFIG_DIR"] = str(self.config_dir(user))
        environ.update(extra)
        return environ

    def vault(
        self,
        user: str | None,
        *args: str | Path,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
        in_process: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``vault ARGS`` as ``user`` (stdin not a terminal); never a traceback. In this
        process unless ``in_process`` is false (``tests.support.cli.run_vault``)."""
        return run_vault(
            *args,
            cwd=cwd or self.root,
            env=env if env is not None else self.env(user),
            stdin=stdin,
            timeout=timeout,
            in_process=in_process,
        )

    def ok(self, user: str | None, *args: str | Path, **kwargs: object) -> str:
        """``vault`` that must succeed; its stdout."""
        done = self.vault(user, *args, **kwargs)  # type: ignore[arg-type]
        assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
        return done.stdout

    def login(self, user: str) -> None:
        self.ok(
            user,
            "login",
            "--server",
            self.url,
            "--username",
            user,
            "--passphrase-file",
            self.passphrase_file,
        )


Call = tuple[str | None, list[str]] | tuple[str | None, list[str], dict[str, str] | None]


def in_parallel(server: ReviewServer, *calls: Call) -> list[subprocess.CompletedProcess[str]]:
    """Independent ``vault`` runs, each ``(user, args)`` or ``(user, args, env)``, at the same
    time: each costs start-up time."""

    def run(call: Call) -> subprocess.CompletedProcess[str]:
        env = call[2] if len(call) == 3 else None
        return server.vault(call[0], *call[1], env=env, in_process=False)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture(scope="session")
def review_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewServer]:
    root = tmp_path_factory.mktemp("review")
    live = start_live_vault(root / "server", None, users=REVIEW_USERS)
    try:
        with live.client(headers=live.auth("admin")) as admin:
            removed = admin.delete(f"/v1/cases/{live.case_id}/members/joan")
            assert removed.status_code == 200, removed.text
        server = ReviewServer(live, root)
        for user in ("admin", *REVIEW_USERS):
            server.login(user)
        yield server
    finally:
        leftovers = stop_live_vault(live)
    assert not leftovers, f"processes outlived vault serve: {leftovers}"


__all__ = ["PASSPHRASE", "REVIEW_USERS", "ReviewServer", "assert_error", "in_parallel"]
