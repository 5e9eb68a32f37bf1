"""security: role audit, invite failures, delivery attempts, outbox fail reason

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.models.base

revision: str = '0003'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'role_audit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', bot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('openid', sa.String(length=64), nullable=True),
        sa.Column('previous_openid', sa.String(length=64), nullable=True),
        sa.Column('via', sa.String(length=32), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_role_audit_person_id_people')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_role_audit')),
    )
    op.create_index(op.f('ix_role_audit_at'), 'role_audit', ['at'], unique=False)
    op.create_index(op.f('ix_role_audit_person_id'), 'role_audit', ['person_id'], unique=False)
    op.create_table(
        'invite_failures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('openid', sa.String(length=64), nullable=False),
        sa.Column('at', bot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('code', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_invite_failures')),
    )
    op.create_index(op.f('ix_invite_failures_at'), 'invite_failures', ['at'], unique=False)
    op.create_index('ix_invite_failures_openid_at', 'invite_failures', ['openid', 'at'], unique=False)
    op.create_table(
        'delivery_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('outbox_id', sa.Integer(), nullable=False),
        sa.Column('at', bot.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('worker', sa.String(length=64), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_delivery_attempts_outbox_id_outbox')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempts')),
    )
    op.create_index(op.f('ix_delivery_attempts_outbox_id'), 'delivery_attempts', ['outbox_id'], unique=False)
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('fail_reason', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('requeued', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('requeued')
        batch.drop_column('fail_reason')
    op.drop_index(op.f('ix_delivery_attempts_outbox_id'), table_name='delivery_attempts')
    op.drop_table('delivery_attempts')
    op.drop_index('ix_invite_failures_openid_at', table_name='invite_failures')
    op.drop_index(op.f('ix_invite_failures_at'), table_name='invite_failures')
    op.drop_table('invite_failures')
    op.drop_index(op.f('ix_role_audit_person_id'), table_name='role_audit')
    op.drop_index(op.f('ix_role_audit_at'), table_name='role_audit')
    op.drop_table('role_audit')
