"""cycle ceremony hours

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 12:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cycle") as batch_op:
        batch_op.add_column(sa.Column("ceremony_starts_at", sa.Time(), nullable=True))
        batch_op.add_column(sa.Column("ceremony_ends_at", sa.Time(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cycle") as batch_op:
        batch_op.drop_column("ceremony_ends_at")
        batch_op.drop_column("ceremony_starts_at")
