"""outbox deliveries with leases and retries; link codes stored hashed, with their identity;
failed link attempts

Revision ID: 0002_link
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_link"
down_revision = "0001"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("outbox_deliveries") as b:
        # Rows from before were recorded as delivered when taken.
        b.add_column(sa.Column("state", sa.String(length=8), nullable=False, server_default="sent"))
        b.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"))
        b.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        b.add_column(sa.Column("error", sa.Text(), nullable=True))
    op.create_index("ix_outbox_deliveries_retry", "outbox_deliveries",
                    ["platform", "state", "lease_until"])
    # Codes were stored in clear and are valid for 15 minutes: drop them, not convert them.
    op.drop_table("link_codes")
    op.create_table(
        "link_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", PK, nullable=False),
        sa.Column("identity_id", PK, nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"],
                                name=op.f("fk_link_codes_member_id_members")),
        sa.ForeignKeyConstraint(["identity_id"], ["identities.id"],
                                name=op.f("fk_link_codes_identity_id_identities")),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_link_codes")),
    )
    op.create_index(op.f("ix_link_codes_member_id"), "link_codes", ["member_id"])
    op.create_table(
        "link_attempts",
        sa.Column("id", PK, autoincrement=True, nullable=False),
        sa.Column("community", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["community"], ["communities.id"],
                                name=op.f("fk_link_attempts_community_communities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_attempts")),
    )
    op.create_index("ix_link_attempts_who", "link_attempts",
                    ["community", "platform", "user_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_link_attempts_who", table_name="link_attempts")
    op.drop_table("link_attempts")
    op.drop_index(op.f("ix_link_codes_member_id"), table_name="link_codes")
    op.drop_table("link_codes")
    op.create_table(
        "link_codes",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("member_id", PK, nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"],
                                name=op.f("fk_link_codes_member_id_members")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_link_codes")),
    )
    op.drop_index("ix_outbox_deliveries_retry", table_name="outbox_deliveries")
    with op.batch_alter_table("outbox_deliveries") as b:
        b.drop_column("error")
        b.drop_column("lease_until")
        b.drop_column("attempts")
        b.drop_column("state")
