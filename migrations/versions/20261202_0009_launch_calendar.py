"""Launch calendar: launch day, sections of their own day, late and announced scheduled posts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("launch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("launch_date", sa.Date(), nullable=True))
    with op.batch_alter_table("section", schema=None) as batch_op:
        batch_op.add_column(sa.Column("day", sa.Integer(), nullable=True))
    with op.batch_alter_table("scheduled_post", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("message_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_scheduled_post_message_id_slack_message"),
            "slack_message",
            ["message_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("scheduled_post", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_scheduled_post_message_id_slack_message"), type_="foreignkey"
        )
        batch_op.drop_column("message_id")
        batch_op.drop_column("late")
    with op.batch_alter_table("section", schema=None) as batch_op:
        batch_op.drop_column("day")
    with op.batch_alter_table("launch", schema=None) as batch_op:
        batch_op.drop_column("launch_date")
