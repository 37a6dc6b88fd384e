"""Case members: a flag for members who may lack copies of the case's document keys, so that an
authenticated request no longer scans every document for grants to complete.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every existing membership starts flagged: the first request of a member of each case
    # checks it once and clears what is complete.
    with op.batch_alter_table("case_members") as batch:
        batch.add_column(
            sa.Column("keys_pending", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_index("ix_case_members_keys_pending", "case_members", ["keys_pending"])


def downgrade() -> None:
    op.drop_index("ix_case_members_keys_pending", table_name="case_members")
    with op.batch_alter_table("case_members") as batch:
        batch.drop_column("keys_pending")
