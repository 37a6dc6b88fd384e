"""An open vault: the settings, database engine, blob store and clock wired together once, and
the services built on them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from vault.audit import signer
from vault.audit.actions import Action
from vault.clock import Clock, system_clock
from vault.errors import NotFound, StorageError
from vault.services import row_seal_guard, row_seals
from vault.services.account import AccountService
from vault.services.audit import AuditService
from vault.services.auth import AuthService
from vault.services.cases import CaseService
from vault.services.client_grants import ClientGrants
from vault.services.documents import DocumentService
from vault.services.e2e_enrolment import EndToEndEnrolment
from vault.services.e2e_login import EndToEndLogin
from vault.services.holds import HoldService
from vault.services.key_directory import KeyDirectory
from vault.services.recovery import RecoveryService
from vault.services.redactions import RedactionService
from vault.services.retention import RetentionService
from vault.services.sealed_redactions import SealedRedactions
from vault.services.sealed_sources import SealedSources
from vault.services.sealed_uploads import SealedUploadService
from vault.services.sources import SourceService
from vault.services.throttle import KdfLimiter
from vault.services.uow import SYSTEM, UnitOfWork
from vault.services.user_admin import UserAdminService
from vault.settings import Settings
from vault.storage import database, schema_compat
from vault.storage.blobstore import BlobStore
from vault.storage.database import PoolSize, connect, current_revision, head_revision
from vault.storage.database import migrate as migrate_schema
from vault.storage.stores import blob_store

__all__ = ["Vault"]

DATABASE_FILE = "vault.db"
_ROW_SEALS = "0012"  # the schema revision that gave records their seals
_MiB = 1 << 20


class Vault:
    """Everything one process needs to serve a vault. Holds no per-request state."""

    def __init__(
        self, *, settings: Settings, engine: Engine, blobs: BlobStore, clock: Clock
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.blobs = blobs
        self.clock = clock
        self.documents = DocumentService(
            engine=engine, blobs=blobs, clock=clock, segment_size=settings.segment_size
        )
        # End-to-end uploads join the same group commits as the server-side ones.
        self.sealed_uploads = SealedUploadService(
            engine=engine, blobs=blobs, clock=clock, recorder=self.documents.recorder
        )
        self.audit = AuditService(engine=engine, settings=settings, clock=clock)
        self.redactions = RedactionService(
            engine=engine,
            documents=self.documents,
            clock=clock,
            self_approval=settings.redaction_self_approval,
            max_export_bytes=settings.max_export_bytes,
            dpi=settings.export_dpi,
            pin_path=settings.checkpoint_pin_path,
            witness=self.audit.witness,
        )
        self.sealed_redactions = SealedRedactions(
            engine=engine,
            documents=self.documents,
            clock=clock,
            self_approval=settings.redaction_self_approval,
            witness=self.audit.witness,
            pin_path=settings.checkpoint_pin_path,
        )
        self.cases = CaseService(engine=engine, clock=clock)
        self.sources = SourceService(engine=engine, clock=clock)
        self.sealed_sources = SealedSources(engine=engine, clock=clock)
        self.kdf = KdfLimiter(settings.kdf_concurrency)
        self.auth = AuthService(engine=engine, settings=settings, clock=clock, kdf=self.kdf)
        self.users = UserAdminService(engine=engine, settings=settings, clock=clock, kdf=self.kdf)
        self.recovery = RecoveryService(engine=engine, clock=clock, users=self.users)
        self.holds = HoldService(engine=engine, clock=clock)
        self.retention = RetentionService(engine=engine, blobs=blobs, clock=clock)
        self.account = AccountService(engine=engine, settings=settings, clock=clock, kdf=self.kdf)
        self.keys = KeyDirectory(engine=engine, clock=clock, witness=self.audit.witness)
        self.e2e = EndToEndLogin(engine=engine, settings=settings, clock=clock)
        self.e2e_enrolment = EndToEndEnrolment(engine=engine, settings=settings, clock=clock)
        self.client_grants = ClientGrants(engine=engine, clock=clock)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        read_only: bool = False,
        check_rollback: bool = True,
    ) -> Vault:
        """Open an initialised vault; ``NotFound`` if there is none, ``StorageError`` if its
        database cannot be reached or has a schema this version does not know. ``read_only``
        opens it for checking (fsck, audit verify) without writing anything, so a read-only
        snapshot can be checked as it is. Opened for writing, the vault's access log must
        extend the checkpoint pinned outside the database (``IntegrityError``, reason
        ``log-rollback``, otherwise); only ``vault audit accept-rollback`` opens it without
        ``check_rollback``."""
        engine, revision = _existing_database(settings, read_only=read_only)
        try:
            schema_compat.check(engine, revision, head_revision())
        except BaseException:
            engine.dispose()
            raise
        blobs = blob_store(settings)
        vault = cls(settings=settings, engine=engine, blobs=blobs, clock=clock)
        if not read_only:
            vault._ensure_log_key()
            if check_rollback:
                try:
                    signer.check_pinned(engine, settings, clock)
                except BaseException:
                    engine.dispose()
                    raise
        # Records are sealed and checked with the seal key from here on (a read-only check of
        # a copy without the key file loads them unchecked, and cannot write).
        row_seal_guard.load_key(engine, settings.seal_key_path, required=not read_only)
        return vault

    @staticmethod
    def migrate(settings: Settings, *, check: bool = False) -> tuple[str, str]:
        """Upgrade the schema of the vault ``settings`` name to this version's, unless it is
        there already or ``check`` asks only whether it is due; returns the revision it was at
        and this version's. ``NotFound`` if there is no vault. Every server of the vault should
        be stopped first: the vault is not opened, since its schema may be one this version
        cannot read."""
        engine, current = _existing_database(settings, read_only=False)
        try:
            head = head_revision()
            if current > head:
                raise StorageError(
                    f"the vault's schema is at revision {current}, newer than this version's "
                    f"({head}): nothing to do here; upgrade this version instead"
                )
            if current != head and not check:
                # Trust on first use: crossing the revision that gave records their seals,
                # they are sealed as the upgrade found them (the key is read first).
                sealing = int(current) < int(_ROW_SEALS) <= int(head)
                seal_key = (
                    row_seals.upgrade_key(engine, settings.seal_key_path) if sealing else None
                )
                migrate_schema(engine)
                if seal_key is not None:
                    row_seals.seal_existing(engine, seal_key, system_clock)
            return current, head
        finally:
            engine.dispose()

    def _ensure_log_key(self) -> None:
        # Vaults made before the access log was signed get their key on first open.
        with UnitOfWork(self.engine, self.clock).audited(SYSTEM, Action.LOG_KEY_CREATE) as work:
            if signer.load_signer(work.db, self.settings) is None:
                signer.create_log_key(work.db, self.settings, self.clock)
            else:
                work.unchanged()

    def ready(self) -> None:
        """Check that this vault can take work: its database answers, its blob store is
        reachable and takes a write, and their disks have at least ``min_free_bytes`` free (an
        object store, or a database server, has no free space to check).
        ``StorageError`` says what is wrong and never where (no path, no database URL): the
        readiness answer is read by anyone who can reach the server."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            raise StorageError("the database is not reachable") from None
        self.blobs.check()
        # Below the threshold uploads are about to fail (and, with SQLite, every request, since
        # each is recorded in the access log): a load balancer should stop sending work here.
        minimum = self.settings.min_free_bytes
        measured = (self.blobs.free_bytes(), database.free_bytes(self.engine))
        lowest = min((f for f in measured if f is not None), default=None)
        if lowest is not None and lowest < minimum:
            raise StorageError(
                f"low disk space: {lowest // _MiB} MiB free, below the {minimum // _MiB} MiB "
                "the server needs to take uploads"
            )

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as db:
            yield db

    def close(self) -> None:
        self.engine.dispose()


def _existing_database(settings: Settings, *, read_only: bool) -> tuple[Engine, str]:
    """An engine on the database of the vault ``settings`` name, and its schema revision;
    ``NotFound`` if there is no vault there."""
    data_dir = settings.data_dir
    if settings.database_url is None and not (data_dir / DATABASE_FILE).is_file():
        raise NotFound(f"no vault in {data_dir} (create one with `vault init`)")
    pool = PoolSize(
        settings.database_pool_size,
        settings.database_max_overflow,
        settings.database_pool_timeout_seconds,
    )
    engine = connect(settings.resolved_database_url, read_only=read_only, pool=pool)
    try:
        revision = current_revision(engine)
    except BaseException:
        engine.dispose()
        raise
    if revision is None:
        engine.dispose()
        raise NotFound(f"no vault in {data_dir} (create one with `vault init`)")
    return engine, revision
