"""The oldest release that may still serve a database at this schema: replicas are upgraded
one by one, and those not yet upgraded keep serving a schema that only grew.

Every migration from this one on keeps ``schema_compat.oldest_release`` as it found it when it
only adds (tables, nullable columns, columns with defaults that the older release neither
reads nor writes), and raises it to its own revision when it changes what an older release
relies on. ``vault/storage/schema_compat.py`` reads it; docs/deployment.md says how to
upgrade with it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Additive: a release at 0012 could serve this schema (it does not look, though: it refuses
# any revision but its own, so the upgrade to 0013 itself stops every replica).
OLDEST_RELEASE = "0012"


def upgrade() -> None:
    table = op.create_table(
        "schema_compat",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("oldest_release", sa.String(length=32), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "oldest_release": OLDEST_RELEASE}])


def downgrade() -> None:
    op.drop_table("schema_compat")
