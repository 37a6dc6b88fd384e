"""Integrity against whoever can write the database (docs/security-model.md, "An operator with
database access"): a document's and a source's key commitment, the server's seal over the clear
columns of every record whose edit would change who reads, who acts or what is released
(``vault.services.row_seals``), and one storage form for every id.

``audit_entries.document_id`` was the only id kept as dashed text; it becomes a UUID column like
every other id (32 hex digits on SQLite, ``uuid`` on PostgreSQL). The seals start empty: the
server seals existing rows when it next opens the vault with its seal key, which a migration
does not hold.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY_COMMITTED = ("documents", "sources")
_SEALED = (
    "users",
    "credentials",
    "recovery_keys",
    "cases",
    "case_members",
    "sources",
    "documents",
    "redactions",
)


def upgrade() -> None:
    for table in _KEY_COMMITTED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("key_commitment", sa.LargeBinary(), nullable=True))
    for table in _SEALED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("seal", sa.LargeBinary(), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE audit_entries ALTER COLUMN document_id TYPE uuid USING document_id::uuid"
        )
    else:
        op.execute(
            "UPDATE audit_entries SET document_id = replace(document_id, '-', '') "
            "WHERE document_id IS NOT NULL"
        )
        with op.batch_alter_table("audit_entries") as batch:
            batch.alter_column("document_id", type_=sa.Uuid(), existing_type=sa.String(length=36))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE audit_entries ALTER COLUMN document_id TYPE varchar(36) "
            "USING document_id::text"
        )
    else:
        with op.batch_alter_table("audit_entries") as batch:
            batch.alter_column("document_id", type_=sa.String(length=36), existing_type=sa.Uuid())
        op.execute(
            "UPDATE audit_entries SET document_id = substr(document_id, 1, 8) || '-' || "
            "substr(document_id, 9, 4) || '-' || substr(document_id, 13, 4) || '-' || "
            "substr(document_id, 17, 4) || '-' || substr(document_id, 21) "
            "WHERE document_id IS NOT NULL"
        )
    for table in _SEALED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("seal")
    for table in _KEY_COMMITTED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("key_commitment")
