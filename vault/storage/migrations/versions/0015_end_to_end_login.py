"""End-to-end logins: ``credentials.end_to_end``, set on sessions and tokens opened by a client
that derived its keys itself, and ``login_challenges``, the logins in progress
(``vault.services.e2e_login``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Additive, so ``schema_compat.oldest_release`` stays as it is: a release at 0014 never sets
# the flag (its sessions all hold a key) and never reads the new table.


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(
            sa.Column("end_to_end", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "login_challenges",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("answer_hash", sa.LargeBinary(), nullable=False),
        sa.Column("with_otp", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_login_challenges_user_id", "login_challenges", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_login_challenges_user_id", table_name="login_challenges")
    op.drop_table("login_challenges")
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("end_to_end")
