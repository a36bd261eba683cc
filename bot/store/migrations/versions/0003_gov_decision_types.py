"""governance depth: decision types, deciders, outcome statements and reviews

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
        batch.create_index("ix_proposals_review", ["reviewed", "review_at"])


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.drop_index("ix_proposals_review")
        for column in ("reviewed", "review_at", "statement", "deciders", "decision"):
            batch.drop_column(column)
