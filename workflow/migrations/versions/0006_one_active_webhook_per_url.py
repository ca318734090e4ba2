"""one active webhook per url

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 01:00:00.000000

Two registrations of the same address racing could both pass the service's check and deliver
every event twice. Where that already happened, the oldest registration stays active and the
later ones are deactivated (their delivery logs kept), then a partial unique index makes it
impossible.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE webhook SET active = :inactive WHERE active AND id > "
            "(SELECT MIN(first.id) FROM webhook AS first WHERE first.url = webhook.url "
            "AND first.active)"
        ).bindparams(inactive=False)
    )
    op.create_index(
        "ux_webhook_active_url",
        "webhook",
        ["url"],
        unique=True,
        postgresql_where=sa.text("active"),
        sqlite_where=sa.text("active"),
    )


def downgrade() -> None:
    op.drop_index("ux_webhook_active_url", table_name="webhook")
