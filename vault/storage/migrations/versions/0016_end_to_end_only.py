"""Accounts that may log in end to end only: ``users.end_to_end_only``, set by an
administrator (``vault users end-to-end``); the vault may also require it of whole roles (the
setting ``end_to_end_only_roles``).

Not only additive: a release at 0015 would open passphrase logins for such an account, so
``schema_compat.oldest_release`` rises to this revision and older replicas stop serving.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLDEST_RELEASE = "0016"
PREVIOUS_OLDEST_RELEASE = "0012"  # what 0013 to 0015 left it at


def _set_oldest_release(release: str) -> None:
    op.execute(
        sa.text("UPDATE schema_compat SET oldest_release = :release").bindparams(release=release)
    )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("end_to_end_only", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    _set_oldest_release(OLDEST_RELEASE)


def downgrade() -> None:
    _set_oldest_release(PREVIOUS_OLDEST_RELEASE)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("end_to_end_only")
