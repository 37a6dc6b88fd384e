"""Where the row seals (``vault.services.row_seals``) are applied and checked, by construction:
ORM events on every session, for the engines a seal key is registered for.

- ``before_flush``: every new or changed record of a bound table is sealed. A flush on an engine
  with no key raises instead of writing a record the vault would refuse, or nobody would check.
- ``load`` and ``refresh``: every bound record loaded through the ORM is checked, and
  an ``IntegrityError`` (reason ``row-seal``) names the table and the record.
- ``do_orm_execute``: a select that *reads columns* of a bound table without loading its records
  (``select(User.public_key).join(CaseMember)...``), which the load event does not see, has the
  rows of each bound table it reads checked first: the same statement, with that table's
  columns only. An ORM bulk ``insert``/``update`` that writes bound columns is refused: it would
  bypass the flush (loop over the records instead).

The key is registered per engine (``register``, ``load_key``) where the vault opens one:
``Vault.open``, ``vault init``, a restore. An engine with no key (a read-only check of a backup
archive, which may not hold the seal key file) loads records unchecked and cannot write them.
``vault fsck`` lists every failing record with Core statements, which the events do not see;
statements marked ``execution_options(row_seals=UNCHECKED)`` are let through (fsck only).
"""

from __future__ import annotations

import hashlib
import hmac
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import ORMExecuteState, UOWTransaction
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import SQLModel

from vault.audit.seal_key import read_seal_key
from vault.errors import StorageError
from vault.services.row_seals import BOUND, Binding, check_values, row_key, seal_record

__all__ = ["UNCHECKED", "load_key", "pepper_of", "register", "row_key_of"]

UNCHECKED = "unchecked"
"""``execution_options(row_seals=UNCHECKED)``: a raw-column select whose bound rows are not
checked first (``vault fsck``, which reports them instead)."""

_BY_TABLE: dict[str, Binding] = {b.table: b for b in BOUND.values()}


# -- keys per engine ---------------------------------------------------------------------------

_KEYS: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


_PEPPERS: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()
_PEPPER_LABEL = b"source-vault/v2 token-pepper"


def register(engine: Engine, seal_key: bytes) -> None:
    """Seal and check the records of ``engine``'s database with the key derived from
    ``seal_key`` (the seal key file's 32 bytes), and salt the keys that bearer tokens and
    enrolment codes seal with the pepper derived from it (docs/format.md §6.2)."""
    _KEYS[engine] = row_key(seal_key)
    _PEPPERS[engine] = hmac.new(seal_key, _PEPPER_LABEL, hashlib.sha256).digest()


def load_key(engine: Engine, seal_key_path: Path, *, required: bool) -> bool:
    """Register the seal key file's key for ``engine``; whether it was there. Without the file,
    ``StorageError`` if ``required``, else the engine is left without a key: it loads records
    unchecked and cannot write them (a read-only check of a copy that lacks the file)."""
    if not required and not seal_key_path.exists():
        return False
    register(engine, read_seal_key(seal_key_path, create=False))
    return True


def row_key_of(engine: Engine) -> bytes | None:
    """The row key registered for ``engine``, if any."""
    return _KEYS.get(engine)


def pepper_of(session: OrmSession) -> bytes:
    """The token pepper of ``session``'s vault: ``StorageError`` without a seal key (a vault
    opened without it cannot seal a credential's key, nor open one)."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection | Engine) else None
    pepper = _PEPPERS.get(engine) if engine is not None else None
    if pepper is None:
        raise StorageError("the seal key file is not loaded: credentials cannot be opened")
    return pepper


def _key_of(session: OrmSession) -> bytes | None:
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection | Engine) else None
    return _KEYS.get(engine) if engine is not None else None


# -- the events --------------------------------------------------------------------------------


@event.listens_for(OrmSession, "before_flush")
def _seal_on_flush(session: OrmSession, _flush: UOWTransaction, _instances: object) -> None:
    changed = [row for row in (*session.new, *session.dirty) if type(row) in BOUND]
    if not changed:
        return
    key = _key_of(session)
    if key is None:
        # Never write a record the vault would then refuse (or, worse, one nobody checks).
        raise StorageError("no seal key is loaded for this database: nothing was written")
    for row in changed:
        if row not in session.deleted:
            seal_record(key, row)


def _on_load(row: SQLModel, context: Any) -> None:
    key = _key_of(context.session)
    if key is not None:
        check_values(key, BOUND[type(row)], _held(row))


def _held(row: SQLModel) -> dict[str, Any]:
    return {name: getattr(row, name) for name, _ in BOUND[type(row)].columns} | {
        "seal": getattr(row, "seal")  # noqa: B009 - every bound model has one
    }


def _on_refresh(row: SQLModel, context: Any, _attrs: object) -> None:
    # A refresh of some attributes of a record already checked merges fresh values with held
    # ones; it is checked whenever every bound column is at hand and nothing is pending.
    state = inspect(row)
    binding = BOUND[type(row)]
    if state.modified or any(name not in state.dict for name, _ in binding.columns):
        return
    if "seal" in state.dict:
        _on_load(row, context)


for _model in BOUND:
    event.listen(_model, "load", _on_load)
    event.listen(_model, "refresh", _on_refresh)


def _tables(froms: Sequence[sa.FromClause]) -> Iterator[sa.Table]:
    for item in froms:
        if isinstance(item, sa.Join):
            yield from _tables([item.left, item.right])
        elif isinstance(item, sa.Table):
            yield item


# The tables of a statement's final FROM list, by the statement's cache key. Working them out
# compiles the statement's ORM state (milliseconds per call: most of an upload's time before
# this cache); the statements the services run are a few hundred shapes, each computed once.
_FROMS: dict[object, tuple[sa.Table, ...]] = {}
_FROMS_LIMIT = 4096


def _final_tables(statement: sa.Select[Any]) -> tuple[sa.Table, ...]:
    # The key SQLAlchemy itself caches compiled statements by: the shape, not the values.
    cache_key = statement._generate_cache_key()
    if cache_key is None:  # a statement SQLAlchemy cannot cache either
        return tuple(_tables(statement.get_final_froms()))
    found = _FROMS.get(cache_key.key)
    if found is None:
        found = tuple(_tables(statement.get_final_froms()))
        if len(_FROMS) >= _FROMS_LIMIT:
            _FROMS.clear()
        _FROMS[cache_key.key] = found
    return found


def _loaded(statement: sa.Select[Any]) -> set[object]:
    """The models whose whole records the statement loads (the load event checks those)."""
    return {
        d["entity"]
        for d in statement.column_descriptions
        if d["entity"] is not None and d["expr"] is d["entity"]
    }


@event.listens_for(OrmSession, "do_orm_execute")
def _check_raw(state: ORMExecuteState) -> None:
    if state.is_column_load or state.is_relationship_load:
        return
    statement = state.statement
    if state.is_insert or state.is_update:
        _refuse_bulk_write(statement)
        return
    if not state.is_select or state.execution_options.get("row_seals") == UNCHECKED:
        return
    if not isinstance(statement, sa.Select):
        return
    key = _key_of(state.session)
    if key is None:
        return
    loaded = _loaded(statement)
    for table in _final_tables(statement):
        binding = _BY_TABLE.get(table.name)
        if binding is None or binding.model in loaded:
            continue
        # The statement's own joins and conditions, reading every column of this table: the
        # rows its answer is made of are checked before the caller decides anything on it.
        rows = statement.with_only_columns(*table.c).group_by(None)
        if statement._distinct:  # ORDER BY of other columns is refused with DISTINCT
            rows = rows.order_by(None)
        result = state.invoke_statement(statement=rows.execution_options(row_seals=UNCHECKED))
        for row in result:
            check_values(key, binding, row._mapping)


def _refuse_bulk_write(statement: object) -> None:
    table = getattr(statement, "table", None)
    binding = _BY_TABLE.get(getattr(table, "name", ""))
    if binding is None:
        return
    values = getattr(statement, "_values", None)
    names = {getattr(k, "key", k) for k in values} if values else None
    bound = {name for name, _ in binding.columns}
    if names is None or names & bound:
        raise TypeError(
            f"a bulk write of sealed columns of {binding.table} would not be sealed: "
            "change the records through the session instead"
        )
