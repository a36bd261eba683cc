"""links confirmed by the issuing account, first accounts, and the lineage of unlinked members

A link code sent from another account now waits for the issuing account to confirm it
(`link_codes.joiner_id`); an identity records when it joined its member by a link
(`identities.linked_at`, None for the member's first account); a member made by `!unlink`
records the member it was detached from (`members.split_from`), so that a vote or a
points allowance counts once across them.

Accounts linked before this revision are marked from the `member.linked` events of their
member. Plain `ALTER TABLE … ADD/DROP COLUMN`, no batch mode, and no foreign key on
SQLite's new column (see 0003_gov).

Revision ID: 0004_link
Revises: 0003_gov
"""

from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004_link"
down_revision = "0003_gov"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _link_codes(with_joiner: bool) -> None:
    # Codes are valid for 15 minutes: dropped, not converted.
    op.drop_table("link_codes")
    columns = [
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
    ]
    if with_joiner:
        columns += [
            sa.Column("joiner_id", PK, nullable=True),
            sa.ForeignKeyConstraint(["joiner_id"], ["identities.id"],
                                    name=op.f("fk_link_codes_joiner_id_identities")),
        ]
    op.create_table("link_codes", *columns)
    op.create_index(op.f("ix_link_codes_member_id"), "link_codes", ["member_id"])
    if with_joiner:
        op.create_index(op.f("ix_link_codes_identity_id"), "link_codes", ["identity_id"])


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _link_codes(with_joiner=True)
    op.add_column("members", sa.Column("split_from", PK, nullable=True))
    if not sqlite:
        op.create_foreign_key("fk_members_split_from_members", "members", "members",
                              ["split_from"], ["id"])
    op.create_index(op.f("ix_members_split_from"), "members", ["split_from"])
    op.add_column("identities", sa.Column("linked_at", sa.DateTime(), nullable=True))
    _mark_linked_identities()


def _mark_linked_identities() -> None:
    """An identity of a member with several is linked if the member's `member.linked` events
    name its platform (the latest one dates it); one identity of each member stays first."""
    bind = op.get_bind()
    ids = sa.table("identities", sa.column("id", PK), sa.column("platform", sa.String),
                   sa.column("member_id", PK), sa.column("linked_at", sa.DateTime))
    events = sa.table("events", sa.column("id", PK), sa.column("at", sa.DateTime),
                      sa.column("kind", sa.String), sa.column("object", sa.String),
                      sa.column("details", sa.JSON))
    several = (sa.select(ids.c.member_id).group_by(ids.c.member_id)
               .having(sa.func.count() > 1))
    rows = bind.execute(sa.select(ids.c.id, ids.c.platform, ids.c.member_id)
                        .where(ids.c.member_id.in_(several)).order_by(ids.c.id)).all()
    if not rows:
        return
    joined: dict[tuple[int, str], datetime] = {}
    for obj, at, details in bind.execute(
            sa.select(events.c.object, events.c.at, events.c.details)
            .where(events.c.kind == "member.linked").order_by(events.c.id)):
        platform = (details or {}).get("platform")
        if obj.startswith("@") and obj[1:].isdigit() and platform:
            joined[(int(obj[1:]), platform)] = at
    members: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        members[r.member_id].append(r)
    for member, idents in members.items():
        marks = {i.id: joined.get((member, i.platform)) for i in idents}
        if all(at is not None for at in marks.values()):
            marks[idents[0].id] = None  # the oldest identity, when the log names them all
        for iid, at in marks.items():
            if at is not None:
                bind.execute(ids.update().where(ids.c.id == iid).values(linked_at=at))


def _drop_column(table: str, column: str) -> None:
    # SQLite 3.35+ drops a column without rebuilding the table.
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _drop_column("identities", "linked_at")
    op.drop_index(op.f("ix_members_split_from"), "members")
    if not sqlite:
        op.drop_constraint("fk_members_split_from_members", "members", type_="foreignkey")
    _drop_column("members", "split_from")
    _link_codes(with_joiner=False)
