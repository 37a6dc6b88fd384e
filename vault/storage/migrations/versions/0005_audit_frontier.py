"""Access log: keep the tree's frontier in the head row so that appends read no stored node.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _frontier_nodes(size: int) -> list[tuple[int, int]]:
    # A frozen copy of vault.audit.merkle.frontier_nodes: migrations must not change meaning
    # when the code they were written against does.
    found, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            found.append((level, start >> level))
            start += 1 << level
    return found


def upgrade() -> None:
    op.add_column("audit_head", sa.Column("frontier", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    size = conn.execute(sa.text("SELECT size FROM audit_head WHERE id = 1")).scalar_one_or_none()
    if size is not None:
        parts = []
        for level, index in _frontier_nodes(size):
            value = conn.execute(
                sa.text("SELECT hash FROM audit_nodes WHERE level = :level AND idx = :idx"),
                {"level": level, "idx": index},
            ).scalar_one_or_none()
            if value is None:
                raise RuntimeError(f"access log node {level}/{index} is missing")
            parts.append(bytes(value))
        conn.execute(
            sa.text("UPDATE audit_head SET frontier = :frontier WHERE id = 1"),
            {"frontier": b"".join(parts)},
        )
    with op.batch_alter_table("audit_head") as batch:
        batch.alter_column("frontier", existing_type=sa.LargeBinary(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("frontier")
