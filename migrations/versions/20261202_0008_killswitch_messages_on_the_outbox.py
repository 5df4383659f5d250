"""kill-switch messages, escalation pings and notices on the outbox

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A "firing…" message already in Slack becomes its request's outbox row (tag "firing"), so a
    # request a restart leaves half done still gets it updated to the outcome.
    op.execute(
        "INSERT INTO slack_message (launch_id, kind, section_id, part, channel_id, ts, version,"
        " rendered_version, subject_id, body)"
        " SELECT launch_id, 'killswitch', NULL, id, channel_id, message_ts, 1, 1, id,"
        " '{\"tag\": \"firing\"}' FROM kill_switch_request WHERE message_ts IS NOT NULL"
    )
    with op.batch_alter_table("kill_switch_request", schema=None) as batch_op:
        batch_op.drop_column("message_ts")


def downgrade() -> None:
    with op.batch_alter_table("kill_switch_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_ts", sa.String(length=32), nullable=True))
    # The request's first message (the "firing…" one) is where it was announced.
    op.execute(
        "UPDATE kill_switch_request SET message_ts = (SELECT m.ts FROM slack_message m"
        " WHERE m.kind = 'killswitch' AND m.subject_id = kill_switch_request.id"
        " AND m.ts IS NOT NULL ORDER BY m.id LIMIT 1)"
    )
    # Kinds the older code has no renderer for (it posted these messages itself).
    op.execute(
        "DELETE FROM slack_message WHERE kind IN ('killswitch', 'killswitch_test',"
        " 'escalation_ping', 'escalation_note', 'escalation_alert')"
    )
