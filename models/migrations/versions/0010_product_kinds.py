"""product kinds: unlimited and file products, the unlimited product's one sealed payload, warranty and the
per-buyer limit

Revision ID: 0010
Revises: 0009
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('product_payloads',
    sa.Column('product_id', BIGINT, nullable=False),
    sa.Column('is_file', sa.Boolean(), nullable=False),
    sa.Column('payload_enc', sa.LargeBinary(), nullable=False),
    sa.Column('updated_at', models.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_payloads_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', name=op.f('pk_product_payloads'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warranty_days', BIGINT, nullable=True))
        batch_op.add_column(sa.Column('limit_units', BIGINT, nullable=True))
        batch_op.add_column(sa.Column('limit_days', BIGINT, nullable=True))
        batch_op.create_check_constraint(op.f('ck_products_limit_pair'), '(limit_units IS NULL) = (limit_days IS NULL)')


def downgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_products_limit_pair'), type_='check')
        batch_op.drop_column('limit_days')
        batch_op.drop_column('limit_units')
        batch_op.drop_column('warranty_days')
    op.drop_table('product_payloads')
