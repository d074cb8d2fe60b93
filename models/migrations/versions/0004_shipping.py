"""shipping: the admin's shipping options; the option, its price and the sealed address on each order

Revision ID: 0004
Revises: 0003
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "shipping_options",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("price_minor", BIGINT, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", models.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipping_options")),
        sa.UniqueConstraint("name", name=op.f("uq_shipping_options_name")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shipping_name", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("shipping_minor", BIGINT, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("address_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("address_erased_at", models.types.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("address_erased_at")
        batch_op.drop_column("address_enc")
        batch_op.drop_column("shipping_minor")
        batch_op.drop_column("shipping_name")
    op.drop_table("shipping_options")
