"""Close outcome and note, waived items.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.core.db import UTCDateTime

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("launch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("close_outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("close_note", sa.Text(), nullable=True))
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waived", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("waived_by_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("waived_by_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("waived_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("waive_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        for column in ("waive_reason", "waived_at", "waived_by_name", "waived_by_id", "waived"):
            batch_op.drop_column(column)
    with op.batch_alter_table("launch", schema=None) as batch_op:
        batch_op.drop_column("close_note")
        batch_op.drop_column("close_outcome")
