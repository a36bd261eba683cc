"""governance depth: decision types, deciders, outcome statements and reviews; needs and
funding calls held until a proposal passes; approvals of N-of-M reviews; hidden votes and
secret ballots; claims managed by activity and pinned claims

Plain `ALTER TABLE … ADD/DROP COLUMN`, no batch mode: SQLite's batch mode rebuilds a table,
which a populated database with foreign keys on refuses (claims reference needs). On SQLite
the new `if_proposal_id` columns carry no foreign-key constraint for the same reason.

Revision ID: 0003_gov
Revises: 0003_books
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_gov"
down_revision = "0003_books"
branch_labels = None
depends_on = None

def _proposal_columns() -> tuple[sa.Column, ...]:  # type: ignore[type-arg]
    return (
    sa.Column("decision", sa.String(length=16), nullable=False, server_default="consent"),
    sa.Column("deciders", sa.String(length=300), nullable=False, server_default=""),
    sa.Column("statement", sa.Text(), nullable=True),
    sa.Column("review_at", sa.DateTime(), nullable=True),
    sa.Column("reviewed", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("anonymous", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
_HOLDERS = ("needs", "funding_calls")


def _claim_columns() -> tuple[sa.Column, ...]:  # type: ignore[type-arg]
    return (
        sa.Column("last_activity_at", sa.DateTime(), nullable=True),
        sa.Column("idle_reminded", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("pinned", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def _id_type() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for column in _proposal_columns():
        op.add_column("proposals", column)
    op.create_index("ix_proposals_review", "proposals", ["reviewed", "review_at"])
    for column in _claim_columns():
        op.add_column("claims", column)
    for table in _HOLDERS:
        op.add_column(table, sa.Column("if_proposal_id", _id_type(), nullable=True))
        if not sqlite:
            op.create_foreign_key(f"fk_{table}_if_proposal_id_proposals", table, "proposals",
                                  ["if_proposal_id"], ["id"])
        op.create_index(f"ix_{table}_if_proposal_id", table, ["if_proposal_id"])
    op.create_table(
        "approvals",
        sa.Column("claim_id", _id_type(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("member_id", _id_type(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name="fk_approvals_claim_id_claims"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name="fk_approvals_member_id_members"),
        sa.PrimaryKeyConstraint("claim_id", "submitted_at", "member_id", name="pk_approvals"),
    )


def _drop_column(table: str, column: str) -> None:
    # SQLite 3.35+ drops a column without rebuilding the table.
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_table("approvals")
    for table in _HOLDERS:
        op.drop_index(f"ix_{table}_if_proposal_id", table)
        if not sqlite:
            op.drop_constraint(f"fk_{table}_if_proposal_id_proposals", table, type_="foreignkey")
        _drop_column(table, "if_proposal_id")
    for column in reversed(_claim_columns()):
        _drop_column("claims", column.name)
    op.drop_index("ix_proposals_review", "proposals")
    for column in reversed(_proposal_columns()):
        _drop_column("proposals", column.name)
