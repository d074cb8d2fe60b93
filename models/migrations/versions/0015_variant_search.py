"""product_variants.name_folded: search finds a product by its variants' names too

Each variant's folded name (models.shop.search_key, as products.name_folded has had since 0006) is written
for the variants already there.

Revision ID: 0015
Revises: 0014
"""
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fold(name: str) -> str:
    # models.shop.search_key as it is at this revision; migrations freeze their own rules.
    return unicodedata.normalize("NFKC", name.casefold())


def upgrade() -> None:
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_folded", sa.Text(), nullable=True))
    variants = sa.table(
        "product_variants", sa.column("id", BIGINT), sa.column("name", sa.String), sa.column("name_folded")
    )
    bind = op.get_bind()
    for variant_id, name in bind.execute(sa.select(variants.c.id, variants.c.name)).all():
        bind.execute(variants.update().where(variants.c.id == variant_id).values(name_folded=_fold(name)))
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.alter_column("name_folded", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.drop_column("name_folded")
