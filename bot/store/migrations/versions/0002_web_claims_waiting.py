"""claims waiting for review, by state then need (the board's "waiting for review" group)

Revision ID: 0002_web
Revises: 0002_link
Create Date: 2026-11-30 04:40:00
"""

from alembic import op


revision = '0002_web'
down_revision = '0002_link'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_claims_waiting', 'claims', ['state', 'need_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_claims_waiting', table_name='claims')
