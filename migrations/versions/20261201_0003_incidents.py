"""incidents: escalations (with their level pings) and kill-switch requests and state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 08:41:08.025642
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


import bot.core.db

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('escalation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('reporter_id', sa.String(length=32), nullable=False),
    sa.Column('reporter_name', sa.String(length=200), nullable=False),
    sa.Column('created_at', bot.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('request_key', sa.String(length=300), nullable=False),
    sa.Column('dedup_key', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('path', sa.JSON(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('next_level_at', bot.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('message_ts', sa.String(length=32), nullable=True),
    sa.Column('permalink', sa.String(length=500), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('page_status', sa.String(length=16), nullable=False),
    sa.Column('page_tries', sa.Integer(), nullable=False),
    sa.Column('page_error', sa.Text(), nullable=True),
    sa.Column('paged_at', bot.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.String(length=32), nullable=True),
    sa.Column('acknowledged_by_name', sa.String(length=200), nullable=True),
    sa.Column('acknowledged_at', bot.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.String(length=32), nullable=True),
    sa.Column('resolved_by_name', sa.String(length=200), nullable=True),
    sa.Column('resolved_at', bot.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolve_status', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['launch_id'], ['launch.id'], name=op.f('fk_escalation_launch_id_launch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_escalation_dedup_key')),
    sa.UniqueConstraint('request_key', name=op.f('uq_escalation_request_key'))
    )
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_launch_id'), ['launch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalation_next_level_at'), ['next_level_at'], unique=False)

    op.create_table('kill_switch_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('request_key', sa.String(length=300), nullable=False),
    sa.Column('requested_by_id', sa.String(length=32), nullable=False),
    sa.Column('requested_by_name', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('created_at', bot.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('completed_at', bot.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('message_ts', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['launch_id'], ['launch.id'], name=op.f('fk_kill_switch_request_launch_id_launch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kill_switch_request')),
    sa.UniqueConstraint('request_id', name=op.f('uq_kill_switch_request_request_id')),
    sa.UniqueConstraint('request_key', name=op.f('uq_kill_switch_request_request_key'))
    )
    with op.batch_alter_table('kill_switch_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kill_switch_request_launch_id'), ['launch_id'], unique=False)

    op.create_table('kill_switch_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('armed', sa.Boolean(), nullable=False),
    sa.Column('changed_by_id', sa.String(length=32), nullable=False),
    sa.Column('changed_by_name', sa.String(length=200), nullable=False),
    sa.Column('changed_at', bot.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['launch_id'], ['launch.id'], name=op.f('fk_kill_switch_state_launch_id_launch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kill_switch_state')),
    sa.UniqueConstraint('launch_id', name=op.f('uq_kill_switch_state_launch_id'))
    )
    op.create_table('escalation_level_ping',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('escalation_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('due_at', bot.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', bot.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('posted_at', bot.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ts', sa.String(length=32), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalation.id'], name=op.f('fk_escalation_level_ping_escalation_id_escalation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_level_ping')),
    sa.UniqueConstraint('escalation_id', 'level', name=op.f('uq_escalation_level_ping_escalation_id'))
    )


def downgrade() -> None:
    op.drop_table('escalation_level_ping')
    op.drop_table('kill_switch_state')
    with op.batch_alter_table('kill_switch_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kill_switch_request_launch_id'))

    op.drop_table('kill_switch_request')
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_next_level_at'))
        batch_op.drop_index(batch_op.f('ix_escalation_launch_id'))

    op.drop_table('escalation')
