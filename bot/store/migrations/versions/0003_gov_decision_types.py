"""governance depth: decision types, deciders, outcome statements and reviews; needs and
funding calls held until a proposal passes; approvals of N-of-M reviews;
hidden votes and secret ballots

Revision ID: 0003_gov
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_gov"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("decision", sa.String(length=16), nullable=False,
                                   server_default="consent"))
        batch.add_column(sa.Column("deciders", sa.String(length=300), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("statement", sa.Text(), nullable=True))
        batch.add_column(sa.Column("review_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("reviewed", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("hidden", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("anonymous", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.create_index("ix_proposals_review", ["reviewed", "review_at"])
    for table in ("needs", "funding_calls"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("if_proposal_id",
                                       sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                       nullable=True))
            batch.create_foreign_key(f"fk_{table}_if_proposal_id_proposals", "proposals",
                                     ["if_proposal_id"], ["id"])
            batch.create_index(f"ix_{table}_if_proposal_id", ["if_proposal_id"])


    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "approvals",
        sa.Column("claim_id", id_type, nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("member_id", id_type, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name="fk_approvals_claim_id_claims"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name="fk_approvals_member_id_members"),
        sa.PrimaryKeyConstraint("claim_id", "submitted_at", "member_id", name="pk_approvals"),
    )


def downgrade() -> None:
    op.drop_table("approvals")
    for table in ("needs", "funding_calls"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_if_proposal_id")
            batch.drop_constraint(f"fk_{table}_if_proposal_id_proposals", type_="foreignkey")
            batch.drop_column("if_proposal_id")
    with op.batch_alter_table("proposals") as batch:
        batch.drop_index("ix_proposals_review")
        for column in ("anonymous", "hidden", "reviewed", "review_at", "statement", "deciders", "decision"):
            batch.drop_column(column)
