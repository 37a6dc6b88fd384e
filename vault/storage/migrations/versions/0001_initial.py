"""Initial schema: users, cases and members, recovery key, sources, documents, wrapped keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at(name: str = "created_at") -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(length=120), nullable=False, unique=True),
        _created_at(),
    )
    op.create_table(
        "recovery_keys",
        sa.Column("key_id", sa.String(length=64), primary_key=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _created_at(),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _created_at(),
        sa.Column("key_id", sa.String(length=64), nullable=True, unique=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=True),
        sa.Column("sealed_private_key", sa.LargeBinary(), nullable=True),
        sa.Column("kdf_salt", sa.LargeBinary(), nullable=True),
        sa.Column("kdf_memory_kib", sa.Integer(), nullable=True),
        sa.Column("kdf_time_cost", sa.Integer(), nullable=True),
        sa.Column("kdf_lanes", sa.Integer(), nullable=True),
        sa.Column("login_verifier", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_users_username", "users", ["username"], unique=True)
    op.create_table(
        "wrapped_keys",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_key_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        _created_at(),
        sa.UniqueConstraint("kind", "subject_id", "recipient_key_id"),
    )
    op.create_index("ix_wrapped_keys_recipient_key_id", "wrapped_keys", ["recipient_key_id"])
    op.create_index("ix_wrapped_keys_subject_id", "wrapped_keys", ["subject_id"])
    op.create_table(
        "case_members",
        sa.Column(
            "case_id", sa.Uuid(), sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id"), primary_key=True),
        _created_at("added_at"),
    )
    op.create_index("ix_case_members_user_id", "case_members", ["user_id"])
    op.create_table(
        "documents",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("uploader_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("blob_id", sa.String(length=64), nullable=False, unique=True),
        sa.Column("ciphertext_size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sealed_metadata", sa.LargeBinary(), nullable=False),
        _created_at(),
    )
    op.create_index("ix_documents_case_id", "documents", ["case_id"])
    op.create_table(
        "sources",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False, unique=True),
        sa.Column("handler_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("sealed_notes", sa.LargeBinary(), nullable=True),
        _created_at(),
    )
    op.create_index("ix_sources_case_id", "sources", ["case_id"])


def downgrade() -> None:
    for table in ("sources", "documents", "case_members", "wrapped_keys", "users"):
        op.drop_table(table)
    op.drop_table("recovery_keys")
    op.drop_table("cases")
