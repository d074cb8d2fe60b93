"""channel access: the chat a channel-access product opens, and each buyer's access to it

Revision ID: 0011
Revises: 0010
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('access_chats',
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('days', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('set_at', models.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_access_chats_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', name=op.f('pk_access_chats'))
    )
    op.create_table('chat_access',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('chat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chat_title', sa.String(length=255), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('state', sa.Enum('inviting', 'active', 'removing', 'ended', name='accessstate', native_enum=False, length=24), nullable=False),
    sa.Column('until', models.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('renewals', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('invite_claimed_until', models.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('invited_at', models.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('renewal_sent_at', models.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('renewal_order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('remove_claimed_until', models.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', models.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', models.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_chat_access_order_id_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_chat_access_product_id_products'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['renewal_order_id'], ['orders.id'], name=op.f('fk_chat_access_renewal_order_id_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_chat_access_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_access')),
    sa.UniqueConstraint('order_id', name=op.f('uq_chat_access_order_id'))
    )
    with op.batch_alter_table('chat_access', schema=None) as batch_op:
        batch_op.create_index('ix_chat_access_state_until', ['state', 'until'], unique=False)
        batch_op.create_index(batch_op.f('ix_chat_access_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('chat_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_access_user_id'))
        batch_op.drop_index('ix_chat_access_state_until')

    op.drop_table('chat_access')
    op.drop_table('access_chats')
