"""variants: a product's price and stock move to its variants ("1 month", "12 months"); carts, stock units and
order lines name the variant

Every existing product, of whatever kind (digital, physical, file, unlimited, channel), gets one unnamed variant
with its price and reseller price, and its stock units (a file product's sealed documents, a channel product's
seats; an unlimited product has none), cart lines and order lines (a channel renewal's too) point at that variant:
a plain product is a product with one unnamed variant. The columns 0009-0012 added (warranty, per-buyer limit,
the unlimited product's payload, the access chat, store credit) stay on the product or the order: they are not
per variant.

Revision ID: 0013
Revises: 0012
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "product_variants",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("product_id", BIGINT, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("price_minor", BIGINT, nullable=False),
        sa.Column("reseller_price_minor", BIGINT, nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", models.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_variants_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_variants")),
        sa.UniqueConstraint("product_id", "name", name=op.f("uq_product_variants_product_id_name")),
    )
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_variants_product_id"), ["product_id"], unique=False)
    op.execute(
        "INSERT INTO product_variants (product_id, name, price_minor, reseller_price_minor, is_active, created_at) "
        "SELECT id, '', price_minor, reseller_price_minor, true, CURRENT_TIMESTAMP FROM products"
    )
    default_variant = "(SELECT v.id FROM product_variants v WHERE v.product_id = {0}.product_id)"

    with op.batch_alter_table("stock_units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant_id", BIGINT, nullable=True))
    op.execute(f"UPDATE stock_units SET variant_id = {default_variant.format('stock_units')}")
    with op.batch_alter_table("stock_units", schema=None) as batch_op:
        batch_op.alter_column("variant_id", existing_type=BIGINT, nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_stock_units_variant_id_product_variants"),
            "product_variants",
            ["variant_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_stock_units_variant_id_status", ["variant_id", "status"], unique=False)

    with op.batch_alter_table("cart_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant_id", BIGINT, nullable=True))
    op.execute(f"UPDATE cart_items SET variant_id = {default_variant.format('cart_items')}")
    with op.batch_alter_table("cart_items", schema=None) as batch_op:
        batch_op.alter_column("variant_id", existing_type=BIGINT, nullable=False)
        batch_op.drop_constraint("uq_cart_items_user_id_product_id", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_cart_items_user_id_variant_id"), ["user_id", "variant_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_cart_items_variant_id_product_variants"),
            "product_variants",
            ["variant_id"],
            ["id"],
            ondelete="CASCADE",
        )

    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant_id", BIGINT, nullable=True))
        batch_op.alter_column("product_name", existing_type=sa.String(length=128), type_=sa.String(length=200))
        batch_op.create_foreign_key(
            batch_op.f("fk_order_items_variant_id_product_variants"),
            "product_variants",
            ["variant_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute(
        f"UPDATE order_items SET variant_id = {default_variant.format('order_items')} WHERE product_id IS NOT NULL"
    )

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("price_minor")
        batch_op.drop_column("reseller_price_minor")


def downgrade() -> None:
    bind = op.get_bind()
    named = bind.execute(sa.text("SELECT count(*) FROM product_variants WHERE name <> ''")).scalar()
    if named:
        raise RuntimeError("products with named variants exist: a schema without variants cannot hold them")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("price_minor", BIGINT, nullable=True))
        batch_op.add_column(sa.Column("reseller_price_minor", BIGINT, nullable=True))
    op.execute(
        "UPDATE products SET price_minor = (SELECT v.price_minor FROM product_variants v WHERE v.product_id = "
        "products.id), reseller_price_minor = (SELECT v.reseller_price_minor FROM product_variants v "
        "WHERE v.product_id = products.id)"
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.alter_column("price_minor", existing_type=BIGINT, nullable=False)
    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_order_items_variant_id_product_variants"), type_="foreignkey")
        batch_op.alter_column("product_name", existing_type=sa.String(length=200), type_=sa.String(length=128))
        batch_op.drop_column("variant_id")
    with op.batch_alter_table("cart_items", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_cart_items_variant_id_product_variants"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_cart_items_user_id_variant_id"), type_="unique")
        batch_op.create_unique_constraint("uq_cart_items_user_id_product_id", ["user_id", "product_id"])
        batch_op.drop_column("variant_id")
    with op.batch_alter_table("stock_units", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_units_variant_id_status")
        batch_op.drop_constraint(batch_op.f("fk_stock_units_variant_id_product_variants"), type_="foreignkey")
        batch_op.drop_column("variant_id")
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_variants_product_id"))
    op.drop_table("product_variants")
