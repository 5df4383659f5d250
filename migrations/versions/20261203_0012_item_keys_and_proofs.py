"""Item keys and the proofs that ticked them.

Launches started before keys existed get the bundled template's keys by their items' exact text (the
seed's lines), as the kill-switch test found "Kill switch tested" by its text until now.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The bundled template's key table as it was when this revision was written (a migration never
# imports code that may change later).
SEED_KEYS = {
    "Kill switch tested": "killswitch.tested",
    "Kill switch armed": "killswitch.armed",
    "Escalation working": "escalation.tested",
    "Audit trail complete": "audit.verified",
}


def upgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("proof", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("proof_message_id", sa.Integer(), nullable=True))
    item = sa.table("item", sa.column("text", sa.String), sa.column("key", sa.String))
    for text, key in SEED_KEYS.items():
        op.execute(item.update().where(item.c.text == text).values(key=key))


def downgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        for column in ("proof_message_id", "proof", "key"):
            batch_op.drop_column(column)
