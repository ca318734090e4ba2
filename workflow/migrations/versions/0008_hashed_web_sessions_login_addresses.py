"""web session ids stored as sha256; failed logins by client address

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Ids stored in clear until now must not keep working (whoever read them could log in):
    # everyone logs in once more.
    op.execute("DELETE FROM web_session")
    with op.batch_alter_table("login_attempt") as batch_op:
        batch_op.add_column(
            sa.Column(
                "address", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""
            )
        )
        batch_op.add_column(
            sa.Column("throttled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(batch_op.f("ix_login_attempt_address"), ["address"])


def downgrade() -> None:
    op.execute("DELETE FROM web_session")
    with op.batch_alter_table("login_attempt") as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempt_address"))
        batch_op.drop_column("throttled")
        batch_op.drop_column("address")
