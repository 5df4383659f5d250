"""incident messages on the outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("slack_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_slack_message_parent_id_slack_message"),
            "slack_message",
            ["parent_id"],
            ["id"],
            ondelete="SET NULL",
        )
    # Escalation messages already in Slack become outbox rows, so later changes still update them.
    op.execute(
        "INSERT INTO slack_message (launch_id, kind, section_id, part, channel_id, ts, version,"
        " rendered_version, permalink, subject_id)"
        " SELECT launch_id, 'escalation', NULL, 0, channel_id, message_ts, version, version,"
        " permalink, id FROM escalation WHERE message_ts IS NOT NULL"
    )
    # The escalation message is versioned by its SlackMessage row now.
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.drop_column("version")


def downgrade() -> None:
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("version", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("slack_message", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_slack_message_parent_id_slack_message"), type_="foreignkey"
        )
        batch_op.drop_column("parent_id")
        batch_op.drop_column("subject_id")
