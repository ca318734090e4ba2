"""calendar events as published: SEQUENCE and LAST-MODIFIED that move only with the event

Revision ID: 0009c
Revises: 0009a
Create Date: 2026-12-03 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import workflow.models

revision = "0009c"
down_revision = "0009a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty at first: the feed records every event the first time it publishes it, a site
    # visit at the entry's version (the SEQUENCE it carried until now), so nothing goes back.
    op.create_table(
        "calendar_event",
        sa.Column("uid", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("last_modified", workflow.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uid"),
    )


def downgrade() -> None:
    op.drop_table("calendar_event")
