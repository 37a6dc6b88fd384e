"""Key transparency: ``audit_entries.key_id``, the indexed copy of a key entry's ``key_id``, so
that the entry logging a user's current key is found without reading the log
(``vault.audit.transparency``).

Not filled for entries already written: a user whose key has no indexed entry gets a
``user.key.logged`` entry the first time a client asks for that key.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Additive, so ``schema_compat.oldest_release`` stays as it is: a release at 0013 neither reads
# nor writes the column. A key entry it writes during a rolling upgrade is not indexed, and is
# covered the same way as older entries.


def upgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=64), nullable=True))
        batch.create_index("ix_audit_entries_key_id", ["key_id"])


def downgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_index("ix_audit_entries_key_id")
        batch.drop_column("key_id")
