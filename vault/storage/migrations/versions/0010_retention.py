"""Retention and legal hold.

- ``cases``: a retention period in days and what it counts from (the upload of each document,
  or the closing of the case), when the case was closed, and when it was put under legal hold.
- ``documents``: when the document alone was put under legal hold.

Every column is empty for existing rows: no retention, open, not held. Nothing becomes due by
upgrading.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("retain_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retain_from", sa.String(8), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("held_at")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("held_at")
        batch.drop_column("closed_at")
        batch.drop_column("retain_from")
        batch.drop_column("retain_days")
