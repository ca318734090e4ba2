"""the year from the web: budget rule, escalation contact, case numbers, extensions,
audit trail, password links, user e-mail

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import workflow.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("cycle") as batch_op:
        batch_op.add_column(
            sa.Column("budget_rule", _TEXT(), nullable=False, server_default="to_win")
        )
    with op.batch_alter_table("organisation") as batch_op:
        batch_op.add_column(sa.Column("escalation_email", _TEXT(), nullable=True))
    with op.batch_alter_table("entry") as batch_op:
        batch_op.add_column(sa.Column("case_number", _TEXT(), nullable=True))
        batch_op.add_column(sa.Column("contribution_until", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("extract_until", sa.Date(), nullable=True))
    with op.batch_alter_table("app_user") as batch_op:
        batch_op.add_column(sa.Column("email", _TEXT(), nullable=True))
    op.create_table(
        "board_report_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("case_number", _TEXT(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.ForeignKeyConstraint(["cycle_id"], ["cycle.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organisation_id", "cycle_id"),
    )
    with op.batch_alter_table("board_report_case") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_board_report_case_organisation_id"), ["organisation_id"]
        )
        batch_op.create_index(batch_op.f("ix_board_report_case_cycle_id"), ["cycle_id"])
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", _TEXT(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("action", _TEXT(), nullable=False),
        sa.Column("actor", _TEXT(), nullable=False),
        sa.Column("at", workflow.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", _TEXT(), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_event_subject", "audit_event", ["subject", "subject_id"])
    op.create_table(
        "password_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", _TEXT(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", workflow.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", workflow.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", workflow.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("password_link") as batch_op:
        batch_op.create_index(batch_op.f("ix_password_link_user_id"), ["user_id"])
    _make_audit_append_only()


def _make_audit_append_only() -> None:
    """Like history_event: the database itself refuses UPDATE and DELETE of the audit trail."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_event_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_event is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{action.lower()} BEFORE {action} "
                "ON audit_event BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    op.drop_table("password_link")
    op.drop_index("ix_audit_event_subject", table_name="audit_event")
    op.drop_table("audit_event")
    op.drop_table("board_report_case")
    with op.batch_alter_table("app_user") as batch_op:
        batch_op.drop_column("email")
    with op.batch_alter_table("entry") as batch_op:
        batch_op.drop_column("extract_until")
        batch_op.drop_column("contribution_until")
        batch_op.drop_column("case_number")
    with op.batch_alter_table("organisation") as batch_op:
        batch_op.drop_column("escalation_email")
    with op.batch_alter_table("cycle") as batch_op:
        batch_op.drop_column("budget_rule")
