"""The ``content`` suite: a document's bytes into and out of the vault, beside ``cp``, ``gpg``
and ``age`` on the same input in the same run.

For each size of ``Context.sizes()`` one file of random bytes (incompressible, so no tool gains
by compressing) is written once in ``ctx.workdir``, a chunk at a time, and fsynced; every case
then reads it from the page cache. Each case is the median of ``ctx.repeat`` runs, after one
untimed run: the first write into disk space the machine has not written before can be several
times slower (a virtual disk allocates it on the host), and a first run loads code and warms
caches. Before every store run (untimed) the previous output is removed (the vault's previous
document deleted through the service) and ``os.sync()`` flushes the filesystem, so that no run
pays for the writeback or the journal commit of the one before.

``store-<size>``: encrypt and store durably. The floor is "the bytes on disk": the vault fsyncs
its blob before it answers, so every peer's output is fsynced too; a peer that left its output
in the page cache would be measured doing less.

- vault: ``vault.documents.add`` on a real initialised vault (SQLite, data directory in
  ``ctx.workdir``), in this process as in a server, its content the file read in 1 MiB chunks,
  as the API's upload route feeds it. This is everything an upload costs: plaintext SHA-256,
  AES-256-GCM per segment, ciphertext SHA-256 for the access log, the blob written to a
  temporary name, fsynced, renamed and its directory fsynced, then the metadata, the wrapped
  keys and the access-log entry committed (SQLite, ``synchronous=FULL``).
- cp: ``cp --reflink=never SRC DST`` then ``sync DST``, which is ``fsync`` of that one file,
  what the vault does to its blob; not ``sync -f`` (``syncfs`` of the whole filesystem, more
  than the vault does) and not ``dd conv=fsync`` (not the tool people use).
  ``--reflink=never`` so that a copy-on-write filesystem cannot turn the copy into a metadata
  operation.
- gpg: ``gpg -e`` to a Curve25519 key (ed25519 primary, cv25519 encryption subkey) with
  compression off, then ``sync OUT``.
- age: ``pyrage.encrypt_io`` to an X25519 recipient, streaming from the source file to the
  output file (in this process, like the vault), then ``fsync`` of the output.

``cp``, ``gpg`` and ``sync`` are processes of their own: starting them costs a few
milliseconds, which shows at 1 MiB only.

``read-<size>``: decrypt and read, discarding the plaintext.

- vault: ``vault.documents.open`` (which first commits the read to the access log) and the
  whole plaintext stream consumed (and counted: a short read fails the suite).
- cp: ``cat SRC`` to ``/dev/null`` (the plaintext, the same size).
- gpg: ``gpg -d OUT`` to ``/dev/null``, OUT the output of the store case.
- age: ``pyrage.decrypt_io`` from the output of the store case into ``/dev/null``.

Every file read was written moments before and is still in the page cache (nothing is dropped:
that needs root and would disturb whatever else runs on the machine), so reads measure each
tool's processing, not the disk, for every tool alike.

``rss_growth_mib`` is the growth of this process's resident memory (``RssSampler``) over the
vault's runs of each size: it must not grow with the size of the content. ``details`` gives the
throughput of every tool in MiB/s and, for ``store-1GiB``, whether the targets are met: within
1.3x of ``cp``, faster than ``gpg`` and than ``age``.

A peer whose tool is missing (no ``gpg`` on the path, no ``pyrage`` installed: the ``bench``
extra) is left out of the table, with a line on stderr.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from benchmarks.common import (
    Context,
    GiB,
    MiB,
    Result,
    RssSampler,
    human_size,
    median_seconds,
    say,
)
from vault.initialise import init_vault
from vault.instance import Vault
from vault.services.documents import NewDocument
from vault.services.users import Actor
from vault.settings import Settings
from vault.storage.models import Role

__all__ = ["run"]

CHUNK = MiB
PASSPHRASE = "correct horse battery staple"  # noqa: S105 - a throwaway benchmark vault
TARGET_CP_RATIO = 1.3


class _Age(Protocol):
    """What the suite uses of ``pyrage`` (which ships no type information)."""

    def encrypt_io(self, reader: BinaryIO, writer: BinaryIO, recipients: list[Any]) -> None: ...

    def decrypt_io(self, reader: BinaryIO, writer: BinaryIO, identities: list[Any]) -> None: ...


@dataclass
class _VaultUnderTest:
    """An initialised vault with one case and an editor who is its member."""

    vault: Vault
    actor: Actor
    case_id: uuid.UUID
    stored: list[uuid.UUID] = field(default_factory=list)

    @classmethod
    def create(cls, data_dir: Path) -> _VaultUnderTest:
        # The Argon2 defaults are the floor (RFC 9106's second option); no TOTP, so that the
        # setup is a few logins and nothing the measurement depends on.
        settings = Settings(data_dir=data_dir, totp_required_roles="")
        init_vault(settings, admin="admin", passphrase=PASSPHRASE)
        vault = Vault.open(settings)
        admin = vault.auth.login("admin", PASSPHRASE, None, address="127.0.0.1").actor
        case_id = vault.cases.create(admin, "benchmark").id
        vault.users.create_account(None, username="editor", role=Role.EDITOR, passphrase=PASSPHRASE)
        actor = vault.auth.login("editor", PASSPHRASE, None, address="127.0.0.1").actor
        vault.cases.add_member(admin, case_id, "editor")
        return cls(vault, actor, case_id)

    def store(self, source: Path) -> None:
        info = self.vault.documents.add(
            self.actor,
            case_id=self.case_id,
            content=_chunks(source),
            document=NewDocument(title=source.name, filename=source.name),
        )
        self.stored.append(info.id)

    def delete_stored(self) -> None:
        while self.stored:
            self.vault.documents.delete(self.actor, self.stored.pop())

    def read_last(self, size: int) -> None:
        _, plaintext = self.vault.documents.open(self.actor, self.stored[-1])
        received = 0
        for piece in plaintext:
            received += len(piece)
        if received != size:
            raise RuntimeError(f"the vault returned {received} bytes of {size}")


class _Gpg:
    """A throwaway GnuPG home with one Curve25519 key, and the commands that use it."""

    def __init__(self) -> None:
        # Not in the workdir: the agent's socket path must stay short (sun_path is 108 bytes).
        self.home = Path(tempfile.mkdtemp(prefix="vault-bench-gpg-"))
        quiet = ["--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""]
        self._base = ["gpg", "--homedir", str(self.home), *quiet]
        _call([*self._base, "--quick-gen-key", "bench <bench@example.invalid>", "ed25519",
               "sign", "never"])  # fmt: skip
        self.fingerprint = self._fingerprint()
        _call([*self._base, "--quick-add-key", self.fingerprint, "cv25519", "encr", "never"])

    def _fingerprint(self) -> str:
        listing = subprocess.run(  # noqa: S603 - fixed arguments
            [*self._base, "--with-colons", "--list-secret-keys"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in listing.splitlines():
            if line.startswith("fpr:"):
                return line.split(":")[9]
        raise RuntimeError("gpg made no key")

    def encrypt(self, source: Path, out: Path) -> None:
        _call([*self._base, "--yes", "--trust-model", "always", "--compress-algo", "none",
               "-r", self.fingerprint, "-o", str(out), "-e", str(source)])  # fmt: skip
        _call(["sync", str(out)])

    def decrypt(self, encrypted: Path) -> None:
        _call([*self._base, "-d", str(encrypted)])

    def close(self) -> None:
        # Only the agent this suite started, named by its home directory.
        subprocess.run(  # noqa: S603 - fixed arguments
            ["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"],  # noqa: S607
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.home, ignore_errors=True)


class _AgeTool:
    """age through the ``pyrage`` bindings, with one X25519 identity."""

    def __init__(self, age: _Age, identity: Any, recipient: Any) -> None:
        self._age = age
        self._identity = identity
        self._recipient = recipient

    @classmethod
    def load(cls) -> _AgeTool | None:
        try:
            import pyrage  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            return None
        identity = pyrage.x25519.Identity.generate()
        return cls(pyrage, identity, identity.to_public())

    def encrypt(self, source: Path, out: Path) -> None:
        with source.open("rb") as reader, out.open("wb") as writer:
            self._age.encrypt_io(reader, writer, [self._recipient])
            writer.flush()
            os.fsync(writer.fileno())

    def decrypt(self, encrypted: Path) -> None:
        with encrypted.open("rb") as reader, open(os.devnull, "wb") as writer:
            self._age.decrypt_io(reader, writer, [self._identity])


def _call(command: list[str]) -> None:
    subprocess.run(  # noqa: S603 - the suite's own fixed commands
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True
    )


def _copy(source: Path, out: Path) -> None:
    """``cp``, then ``fsync`` of the copy (coreutils ``sync FILE``), as the vault does its blob."""
    _call(["cp", "--reflink=never", str(source), str(out)])
    _call(["sync", str(out)])


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _make_input(path: Path, size: int) -> None:
    """``size`` random bytes, written a chunk at a time and fsynced, so that no run pays for
    their writeback."""
    with path.open("wb") as fh:
        for offset in range(0, size, CHUNK):
            fh.write(os.urandom(min(CHUNK, size - offset)))
        fh.flush()
        os.fsync(fh.fileno())


def _removing(*paths: Path) -> Callable[[], None]:
    def setup() -> None:
        for path in paths:
            path.unlink(missing_ok=True)
        os.sync()

    return setup


def _label(size: int) -> str:
    return human_size(size).replace(" ", "")


def _throughput(size: int, vault_s: float, peers: dict[str, float]) -> dict[str, float]:
    times = {"vault": vault_s, **peers}
    return {name: round(size / MiB / seconds, 1) for name, seconds in times.items()}


def _targets(vault_s: float, peers: dict[str, float]) -> dict[str, bool]:
    targets: dict[str, bool] = {}
    if "cp" in peers:
        targets["within_1.3x_cp"] = vault_s <= TARGET_CP_RATIO * peers["cp"]
    for peer in ("gpg", "age"):
        if peer in peers:
            targets[f"faster_than_{peer}"] = vault_s < peers[peer]
    return targets


@dataclass
class _Suite:
    """The cases of one run: the vault under test and whichever peers are installed."""

    ctx: Context
    subject: _VaultUnderTest
    gpg: _Gpg | None
    age: _AgeTool | None

    def _vault_median(
        self, run: Callable[[], object], setup: Callable[[], object] | None
    ) -> tuple[float, float]:
        sampler = RssSampler(os.getpid())
        with sampler.watching():
            seconds = median_seconds(run, repeat=self.ctx.repeat, setup=setup, warmup=True)
        return seconds, sampler.growth_mib

    def _peer(self, run: Callable[[], object], setup: Callable[[], object] | None) -> float:
        return median_seconds(run, repeat=self.ctx.repeat, setup=setup, warmup=True)

    def store(self, source: Path, size: int) -> Result:
        work = self.ctx.workdir
        copied, gpg_out, age_out = work / "cp.out", work / "gpg.out", work / "age.out"

        def vault_setup() -> None:
            self.subject.delete_stored()
            os.sync()

        say(f"   store {_label(size)}: vault")
        vault_s, growth = self._vault_median(lambda: self.subject.store(source), vault_setup)
        peers: dict[str, float] = {}
        say(f"   store {_label(size)}: cp")
        peers["cp"] = self._peer(lambda: _copy(source, copied), _removing(copied))
        if self.gpg is not None:
            gpg = self.gpg
            say(f"   store {_label(size)}: gpg")
            peers["gpg"] = self._peer(lambda: gpg.encrypt(source, gpg_out), _removing(gpg_out))
        if self.age is not None:
            age = self.age
            say(f"   store {_label(size)}: age")
            peers["age"] = self._peer(lambda: age.encrypt(source, age_out), _removing(age_out))
        copied.unlink(missing_ok=True)
        details: dict[str, Any] = {"throughput_mib_s": _throughput(size, vault_s, peers)}
        if size == GiB:
            details["targets"] = _targets(vault_s, peers)
        return Result(
            name=f"store-{_label(size)}",
            vault_s=vault_s,
            size_bytes=size,
            peers=peers,
            rss_growth_mib=growth,
            details=details,
        )

    def read(self, source: Path, size: int) -> Result:
        work = self.ctx.workdir
        say(f"   read {_label(size)}: vault")
        vault_s, growth = self._vault_median(lambda: self.subject.read_last(size), None)
        peers: dict[str, float] = {}
        say(f"   read {_label(size)}: cp")
        peers["cp"] = self._peer(lambda: _call(["cat", str(source)]), None)
        if self.gpg is not None:
            gpg = self.gpg
            say(f"   read {_label(size)}: gpg")
            peers["gpg"] = self._peer(lambda: gpg.decrypt(work / "gpg.out"), None)
        if self.age is not None:
            age = self.age
            say(f"   read {_label(size)}: age")
            peers["age"] = self._peer(lambda: age.decrypt(work / "age.out"), None)
        return Result(
            name=f"read-{_label(size)}",
            vault_s=vault_s,
            size_bytes=size,
            peers=peers,
            rss_growth_mib=growth,
            details={"throughput_mib_s": _throughput(size, vault_s, peers)},
        )


def run(ctx: Context) -> list[Result]:
    """Store and read each size through the vault and its peers; see the module docstring."""
    say("   setting up a vault, a gpg key and an age identity")
    subject = _VaultUnderTest.create(ctx.workdir / "vault")
    gpg: _Gpg | None = None
    if shutil.which("gpg") is None:
        say("   no gpg on the path: the gpg peer is left out")
    else:
        gpg = _Gpg()
    age = _AgeTool.load()
    if age is None:
        say("   pyrage is not installed (pip install '.[bench]'): the age peer is left out")
    suite = _Suite(ctx, subject, gpg, age)
    results: list[Result] = []
    try:
        for size in ctx.sizes():
            source = ctx.workdir / f"input-{_label(size)}.bin"
            say(f"   writing {human_size(size)} of random bytes")
            _make_input(source, size)
            results.append(suite.store(source, size))
            results.append(suite.read(source, size))
            subject.delete_stored()
            for leftover in (source, ctx.workdir / "gpg.out", ctx.workdir / "age.out"):
                leftover.unlink(missing_ok=True)
    finally:
        subject.vault.close()
        if gpg is not None:
            gpg.close()
    return results
