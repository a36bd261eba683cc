"""the generative loop: ventures, revenue, the pool, receipts and spends, payables

Revision ID: 0003_books
Revises: 0002_record
"""

import sqlalchemy as sa
from alembic import op

revision = '0003_books'
down_revision = '0002_record'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'ventures',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('community', sa.String(length=32), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('pledge_bp', sa.Integer(), nullable=True),
        sa.Column('pledge_minor', sa.BigInteger(), nullable=True),
        sa.Column('pledge_currency', sa.String(length=3), nullable=True),
        sa.Column('registered_by', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('left_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['community'], ['communities.id'], name=op.f('fk_ventures_community_communities')),
        sa.ForeignKeyConstraint(['registered_by'], ['members.id'], name=op.f('fk_ventures_registered_by_members')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ventures')),
        sa.UniqueConstraint('community', 'number', name=op.f('uq_ventures_community')),
    )
    op.create_table(
        'venture_members',
        sa.Column('venture_id', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column('joined_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_venture_members_member_id_members')),
        sa.ForeignKeyConstraint(['venture_id'], ['ventures.id'], name=op.f('fk_venture_members_venture_id_ventures')),
        sa.PrimaryKeyConstraint('venture_id', 'member_id', name=op.f('pk_venture_members')),
    )
    op.create_table(
        'revenue_declarations',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('community', sa.String(length=32), nullable=False),
        sa.Column('venture_id', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('due_minor', sa.BigInteger(), nullable=False),
        sa.Column('declared_by', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community'], ['communities.id'], name=op.f('fk_revenue_declarations_community_communities')),
        sa.ForeignKeyConstraint(['declared_by'], ['members.id'], name=op.f('fk_revenue_declarations_declared_by_members')),
        sa.ForeignKeyConstraint(['venture_id'], ['ventures.id'], name=op.f('fk_revenue_declarations_venture_id_ventures')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_revenue_declarations')),
    )
    op.create_index('ix_revenue_venture', 'revenue_declarations', ['venture_id', 'period'])
    op.create_index(op.f('ix_revenue_declarations_community'), 'revenue_declarations', ['community'])
    op.create_table(
        'pools',
        sa.Column('community', sa.String(length=32), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('operations_minor', sa.BigInteger(), nullable=False),
        sa.Column('commons_minor', sa.BigInteger(), nullable=False),
        sa.Column('reserved_minor', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['community'], ['communities.id'], name=op.f('fk_pools_community_communities')),
        sa.PrimaryKeyConstraint('community', name=op.f('pk_pools')),
    )
    op.create_table(
        'pool_entries',
        sa.Column('id', PK, autoincrement=True, nullable=False),
        sa.Column('community', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('operations_minor', sa.BigInteger(), nullable=False),
        sa.Column('commons_minor', sa.BigInteger(), nullable=False),
        sa.Column('venture_id', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column('from_member', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('recorded_by', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reversed_at', sa.DateTime(), nullable=True),
        sa.Column('reversed_by', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column('reverse_reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['community'], ['communities.id'], name=op.f('fk_pool_entries_community_communities')),
        sa.ForeignKeyConstraint(['from_member'], ['members.id'], name=op.f('fk_pool_entries_from_member_members')),
        sa.ForeignKeyConstraint(['recorded_by'], ['members.id'], name=op.f('fk_pool_entries_recorded_by_members')),
        sa.ForeignKeyConstraint(['reversed_by'], ['members.id'], name=op.f('fk_pool_entries_reversed_by_members')),
        sa.ForeignKeyConstraint(['venture_id'], ['ventures.id'], name=op.f('fk_pool_entries_venture_id_ventures')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pool_entries')),
        sa.UniqueConstraint('community', 'kind', 'number', name=op.f('uq_pool_entries_community')),
    )
    op.create_table(
        'call_reservations',
        sa.Column('call_id', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('allocated_minor', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(['call_id'], ['funding_calls.id'], name=op.f('fk_call_reservations_call_id_funding_calls')),
        sa.PrimaryKeyConstraint('call_id', name=op.f('pk_call_reservations')),
    )
    op.create_table(
        'need_payers',
        sa.Column('need_id', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column('payer', sa.String(length=16), nullable=False),
        sa.Column('venture_id', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(['need_id'], ['needs.id'], name=op.f('fk_need_payers_need_id_needs')),
        sa.ForeignKeyConstraint(['venture_id'], ['ventures.id'], name=op.f('fk_need_payers_venture_id_ventures')),
        sa.PrimaryKeyConstraint('need_id', name=op.f('pk_need_payers')),
    )
    op.create_table(
        'payments',
        sa.Column('contribution_id', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column('paid_by', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['contribution_id'], ['contributions.id'], name=op.f('fk_payments_contribution_id_contributions')),
        sa.ForeignKeyConstraint(['paid_by'], ['members.id'], name=op.f('fk_payments_paid_by_members')),
        sa.PrimaryKeyConstraint('contribution_id', name=op.f('pk_payments')),
    )


def downgrade() -> None:
    for table in ('payments', 'need_payers', 'call_reservations', 'pool_entries', 'pools'):
        op.drop_table(table)
    op.drop_index(op.f('ix_revenue_declarations_community'), table_name='revenue_declarations')
    op.drop_index('ix_revenue_venture', table_name='revenue_declarations')
    for table in ('revenue_declarations', 'venture_members', 'ventures'):
        op.drop_table(table)
