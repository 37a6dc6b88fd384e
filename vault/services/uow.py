"""One audited unit of work: the only way a service commits.

An action and its access-log entry commit together or not at all (``vault.audit.log``). A
service writes an action as::

    with self._uow.audited(actor, Action.CASE_CREATE) as work:
        case = _create_case(work.db, actor, name, clock=self._clock)
        work.add(case=case.id)

and the unit appends the entry at the end of the block and commits both: no path commits the
change and forgets the entry. Inside the block:

- ``work.add(...)`` gives the entry targets, extra fields or its actor known only by then;
- ``work.log()`` appends the entry now instead of at the end. The append takes the appenders'
  lock, which orders the unit against every other audited change (a deletion must see a hold
  set meanwhile), and gives the entry's index (an upload's receipt);
- ``work.lock()`` takes that lock without appending, before a check whose outcome another
  unit could change (a decision on a redaction still proposed);
- ``work.record(action, ...)`` appends a further entry of the same transaction, now;
- ``work.unchanged()`` says that nothing changed: the unit commits nothing and records nothing
  (setting a hold that is set already);
- ``work.fail(action, ...)`` says that the attempt failed and that the block is about to raise:
  what the unit did is rolled back and a *denied* entry is committed instead, with whatever the
  block writes after it (the throttle's failure counters), as the exception leaves the block.

Any other exception that leaves the block rolls everything back, entry included, and a unit
that appended no entry commits nothing. If the entry cannot be written the action does not
happen: ``Unavailable``.

Two other doors: ``read()``, a session that is never committed, and ``unaudited(why)``, for
the few writes that are no action of anyone's (a credential's last use, a stored checkpoint).
``tests/test_layout.py`` checks that nothing else in ``vault.services`` commits or opens a
session, and names each use of ``unaudited`` with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from typing import Literal
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlmodel import Session

from vault.audit import log as audit
from vault.audit.actions import Action
from vault.clock import Clock
from vault.services.users import Actor

__all__ = ["RECOVERY", "SAME", "SYSTEM", "UnitOfWork", "Who", "Work"]

SYSTEM = "system"
"""The actor of what the vault does on its own or at the server's command line."""
RECOVERY = "recovery"
"""The actor of what the holders of the recovery shares do."""

Who = Actor | UUID | str | None
"""Who acts: a user (an ``Actor`` or their id), ``SYSTEM``, ``RECOVERY``; ``None`` is
``SYSTEM`` (the local administrator, who has no account)."""


class _Same(Enum):
    SAME = "same"


SAME = _Same.SAME
"""``Work.record(actor=SAME)``: the unit's own actor."""


def _who(actor: Who) -> UUID | str:
    if actor is None:
        return SYSTEM
    return actor.user_id if isinstance(actor, Actor) else actor


class Work:
    """What the block of an audited unit works with: its session, and its entry until written."""

    def __init__(
        self,
        db: Session,
        clock: Clock,
        actor: Who,
        action: Action | None,
        outcome: str,
        extra: Mapping[str, str] | None,
        targets: Mapping[str, UUID | str],
    ) -> None:
        self.db = db
        self._clock = clock
        self._actor = actor
        self._action = action
        self._outcome = outcome
        self._extra = dict(extra or {})
        self._targets = dict(targets)
        self._index: int | None = None
        self._entries = 0
        self._unchanged = False
        self._failed = False

    def add(
        self,
        *,
        actor: Who | Literal[_Same.SAME] = SAME,
        extra: Mapping[str, str] | None = None,
        **targets: UUID | str,
    ) -> None:
        """Give the unit's entry its actor, extra fields or targets, known only now."""
        if self._index is not None:
            raise RuntimeError("the entry is written already")
        if actor is not SAME:
            self._actor = actor
        self._extra.update(extra or {})
        self._targets.update(targets)

    def log(self) -> int:
        """Append the unit's entry now (once) and return its index."""
        if self._action is None:
            raise RuntimeError("this unit has no entry of its own: use record()")
        if self._index is None:
            self._index = self.record(
                self._action,
                outcome=self._outcome,
                extra=self._extra,
                request_id=None,
                **self._targets,
            )
        return self._index

    def lock(self) -> None:
        """Take the appenders' lock now, without appending: no other audited change commits
        until this unit ends, and what the block reads next is current. For decisions that
        check a state before changing it (a redaction still proposed), which two replicas
        could otherwise both take on the same state."""
        audit.lock(self.db)

    def record(
        self,
        action: Action,
        *,
        actor: Who | Literal[_Same.SAME] = SAME,
        outcome: str = "ok",
        extra: Mapping[str, str] | None = None,
        request_id: str | None = None,
        **targets: UUID | str,
    ) -> int:
        """Append a further entry in this unit's transaction, now; return its index. The
        entry names the current request unless ``request_id`` names the one it was done for."""
        who = self._actor if actor is SAME else actor
        index = audit.record(
            self.db,
            action,
            _who(who),
            clock=self._clock,
            outcome=outcome,
            extra=extra,
            request_id=request_id,
            **targets,
        )
        self._entries += 1
        return index

    def unchanged(self) -> None:
        """Nothing changed: commit nothing, record nothing (an entry appended is dropped)."""
        self._unchanged = True

    def fail(
        self,
        action: Action,
        *,
        actor: Who | Literal[_Same.SAME] = SAME,
        extra: Mapping[str, str] | None = None,
        **targets: UUID | str,
    ) -> None:
        """The attempt failed and the block raises next: roll back what the unit did, and
        commit instead a denied ``action`` entry (appended now, so that what the block writes
        after it is ordered by its lock) with what the block writes after it."""
        self.db.rollback()
        self._index = -1  # the unit's own entry is not written
        self.record(action, actor=actor, outcome="denied", extra=extra, request_id=None, **targets)
        self._failed = True

    def _finish(self) -> bool:
        """At a normal end: append the unit's entry unless it is written or was dropped, and
        say whether there is anything to commit."""
        if self._failed:
            return True
        if self._unchanged:
            return False
        if self._action is not None:
            self.log()
        return self._entries > 0


class UnitOfWork:
    """Sessions on one vault's database, each ending as the module docstring says."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads, never committed."""
        with self._session() as db:
            yield db

    @contextmanager
    def audited(
        self,
        actor: Who,
        action: Action | None = None,
        *,
        outcome: str = "ok",
        extra: Mapping[str, str] | None = None,
        **targets: UUID | str,
    ) -> Iterator[Work]:
        """A transaction that commits with its entry for ``action`` (appended at the end of
        the block unless ``Work.log`` wrote it before), and with any entries
        ``Work.record`` appended. Without ``action`` the block records its own entries (an
        update that is one or more logged changes, or none)."""
        with self._session() as db:
            work = Work(db, self._clock, actor, action, outcome, extra, targets)
            try:
                yield work
            except BaseException:
                if work._failed:
                    audit.commit(db)  # the denied entry, while the failure goes on up
                raise
            # Without a commit the session closes with its transaction rolled back, and what
            # the block loaded stays readable (a rollback would expire it).
            if work._finish():
                audit.commit(db)

    def record(
        self,
        actor: Who,
        action: Action,
        *,
        outcome: str = "ok",
        extra: Mapping[str, str] | None = None,
        **targets: UUID | str,
    ) -> int:
        """An entry on its own, committed: an action that writes nothing else to the
        database (a backup written to a file, an export's release or refusal)."""
        with self.audited(actor, action, outcome=outcome, extra=extra, **targets) as work:
            return work.log()

    @contextmanager
    def unaudited(self, why: str) -> Iterator[Session]:
        """A transaction committed at the end of the block without an access-log entry. Only
        for writes that are nobody's action; ``why`` says which (each use is listed in
        ``tests/test_layout.py``)."""
        with self._session() as db:
            yield db
            db.commit()
