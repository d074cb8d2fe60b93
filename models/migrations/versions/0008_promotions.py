"""promotions: vouchers and their uses, the cart's code, spend tiers, shop settings; reseller prices and
buyers, referrals; each order's price steps

Revision ID: 0008
Revises: 0007
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('shop_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', models.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_shop_settings'))
    )
    op.create_table('tiers',
    sa.Column('id', BIGINT, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('threshold_minor', BIGINT, nullable=False),
    sa.Column('percent_bp', BIGINT, nullable=False),
    sa.Column('category_id', BIGINT, nullable=True),
    sa.Column('created_at', models.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_tiers_category_id_categories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tiers')),
    sa.UniqueConstraint('name', name=op.f('uq_tiers_name')),
    sa.UniqueConstraint('threshold_minor', name=op.f('uq_tiers_threshold_minor'))
    )
    op.create_table('vouchers',
    sa.Column('id', BIGINT, nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.Enum('percent', 'fixed', name='voucherkind', native_enum=False, length=24), nullable=False),
    sa.Column('value', BIGINT, nullable=False),
    sa.Column('min_order_minor', BIGINT, nullable=False),
    sa.Column('product_id', BIGINT, nullable=True),
    sa.Column('category_id', BIGINT, nullable=True),
    sa.Column('valid_from', models.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('valid_until', models.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('max_uses', BIGINT, nullable=True),
    sa.Column('per_buyer', BIGINT, nullable=True),
    sa.Column('uses', BIGINT, nullable=False),
    sa.Column('owner_id', BIGINT, nullable=True),
    sa.Column('batch', sa.String(length=16), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', models.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_vouchers_category_id_categories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_vouchers_owner_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_vouchers_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vouchers')),
    sa.UniqueConstraint('code', name=op.f('uq_vouchers_code'))
    )
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vouchers_batch'), ['batch'], unique=False)

    op.create_table('cart_vouchers',
    sa.Column('user_id', BIGINT, nullable=False),
    sa.Column('voucher_id', BIGINT, nullable=False),
    sa.Column('applied_at', models.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_cart_vouchers_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['voucher_id'], ['vouchers.id'], name=op.f('fk_cart_vouchers_voucher_id_vouchers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_cart_vouchers'))
    )
    with op.batch_alter_table('cart_vouchers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cart_vouchers_voucher_id'), ['voucher_id'], unique=False)

    op.create_table('voucher_uses',
    sa.Column('id', BIGINT, nullable=False),
    sa.Column('voucher_id', BIGINT, nullable=False),
    sa.Column('user_id', BIGINT, nullable=False),
    sa.Column('order_id', BIGINT, nullable=False),
    sa.Column('created_at', models.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_voucher_uses_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_voucher_uses_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['voucher_id'], ['vouchers.id'], name=op.f('fk_voucher_uses_voucher_id_vouchers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_uses')),
    sa.UniqueConstraint('order_id', name=op.f('uq_voucher_uses_order_id'))
    )
    with op.batch_alter_table('voucher_uses', schema=None) as batch_op:
        batch_op.create_index('ix_voucher_uses_voucher_id_user_id', ['voucher_id', 'user_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subtotal_minor', BIGINT, server_default='0', nullable=False))
        batch_op.add_column(sa.Column('reseller_discount_minor', BIGINT, server_default='0', nullable=False))
        batch_op.add_column(sa.Column('tier_name', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('tier_discount_minor', BIGINT, server_default='0', nullable=False))
        batch_op.add_column(sa.Column('voucher_code', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('voucher_discount_minor', BIGINT, server_default='0', nullable=False))
        batch_op.add_column(sa.Column('coin_fee_minor', BIGINT, server_default='0', nullable=False))
    # Orders placed before had no discounts or fees: their items cost what the total says, less shipping.
    op.execute("UPDATE orders SET subtotal_minor = total_minor - shipping_minor")

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reseller_price_minor', BIGINT, nullable=True))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_reseller', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('referred_by_id', BIGINT, nullable=True))
        batch_op.add_column(sa.Column('referred_at', models.types.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('referral_rewarded_at', models.types.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('tier_notified_minor', BIGINT, server_default='0', nullable=False))
        batch_op.create_index(batch_op.f('ix_users_referred_by_id'), ['referred_by_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_users_referred_by_id_users'), 'users', ['referred_by_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_referred_by_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_users_referred_by_id'))
        batch_op.drop_column('tier_notified_minor')
        batch_op.drop_column('referral_rewarded_at')
        batch_op.drop_column('referred_at')
        batch_op.drop_column('referred_by_id')
        batch_op.drop_column('is_reseller')

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_column('reseller_price_minor')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('coin_fee_minor')
        batch_op.drop_column('voucher_discount_minor')
        batch_op.drop_column('voucher_code')
        batch_op.drop_column('tier_discount_minor')
        batch_op.drop_column('tier_name')
        batch_op.drop_column('reseller_discount_minor')
        batch_op.drop_column('subtotal_minor')

    with op.batch_alter_table('voucher_uses', schema=None) as batch_op:
        batch_op.drop_index('ix_voucher_uses_voucher_id_user_id')

    op.drop_table('voucher_uses')
    with op.batch_alter_table('cart_vouchers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cart_vouchers_voucher_id'))

    op.drop_table('cart_vouchers')
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vouchers_batch'))

    op.drop_table('vouchers')
    op.drop_table('tiers')
    op.drop_table('shop_settings')
