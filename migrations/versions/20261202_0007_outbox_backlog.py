"""Outbox backlog: slack_message.behind_since (when it fell behind) and refused_version.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


import bot.core.db

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('slack_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('behind_since', bot.core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('refused_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('slack_message', schema=None) as batch_op:
        batch_op.drop_column('refused_version')
        batch_op.drop_column('behind_since')
