"""Hardening: membership decisions, source handovers, known devices, sessions with TOTP.

- ``case_members``: who added a member, and who approved the grant of the case's keys (and
  when). Memberships that exist already were granted automatically before: they count as
  approved at the time they were added.
- ``sources``: the handler may be empty (the source was left to the recovery key when its
  handler was removed), and a handover may wait for the recovery key holders.
- ``credentials.with_otp``: whether the session was opened with a one-time code, so that a
  session opened before a TOTP requirement applied to its user can be ended.
- ``devices``: hashes of device tokens (a correct login from a known device is not held back by
  the per-address throttle).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_members") as batch:
        batch.add_column(sa.Column("added_by", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE case_members SET approved_at = added_at")
    with op.batch_alter_table("sources") as batch:
        batch.alter_column("handler_id", existing_type=sa.Uuid(), nullable=True)
        batch.add_column(
            sa.Column("handover_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(
            sa.Column("with_otp", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "devices",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_devices_user_id", table_name="devices")
    op.drop_table("devices")
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("with_otp")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("handover_pending")
        batch.alter_column("handler_id", existing_type=sa.Uuid(), nullable=False)
    with op.batch_alter_table("case_members") as batch:
        batch.drop_column("approved_at")
        batch.drop_column("approved_by")
        batch.drop_column("added_by")
