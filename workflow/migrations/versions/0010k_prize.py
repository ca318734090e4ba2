"""the prize cheque's amount per cycle

Revision ID: 0010k
Revises: 0010f
Create Date: 2026-12-03 13:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010k"
down_revision = "0010f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cycle") as batch_op:
        batch_op.add_column(
            sa.Column("prize_amount", sa.Integer(), nullable=False, server_default="50000")
        )


def downgrade() -> None:
    # Not a batch: on SQLite that copies `cycle` and drops the original, which every table
    # referring to a cycle forbids while foreign keys are on. SQLite ≥ 3.35 drops a column itself.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE cycle DROP COLUMN prize_amount")
    else:
        op.drop_column("cycle", "prize_amount")
