"""hot path: a ticket keeps its text's words for the merge check; version counters of cached rows

Revision ID: 0007
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cache_epochs',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cache_epochs'))
    )
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('merge_tokens', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('merge_tokens')
    op.drop_table('cache_epochs')
