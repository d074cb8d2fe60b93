"""available_units: each variant counts its available stock units, so availability is read in O(1)

The column starts as the count of the variant's units with status 'available' (on SQLite and PostgreSQL alike);
from then on repositories.stock.StockRepo moves it in the transaction of every change of a unit's status.

Revision ID: 0014
Revises: 0013
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("available_units", BIGINT, server_default="0", nullable=False))
    op.execute(
        "UPDATE product_variants SET available_units = (SELECT count(*) FROM stock_units u "
        "WHERE u.variant_id = product_variants.id AND u.status = 'available')"
    )
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f("ck_product_variants_available_not_negative"), "available_units >= 0")


def downgrade() -> None:
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_product_variants_available_not_negative"), type_="check")
        batch_op.drop_column("available_units")
