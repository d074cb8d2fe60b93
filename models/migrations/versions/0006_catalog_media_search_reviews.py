"""catalog media, product search key, reviews, erased buyers

Revision ID: 0006
Revises: 0005
"""
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MEDIA_TYPE = sa.Enum("photo", "video", name="mediatype", native_enum=False, length=24)


def _media_columns() -> list[sa.Column[str]]:
    return [
        sa.Column("media_type", MEDIA_TYPE, nullable=True),
        sa.Column("media_file_id", sa.String(length=256), nullable=True),
        sa.Column("media_unique_id", sa.String(length=64), nullable=True),
    ]


def _fold(name: str) -> str:
    # models.shop.search_key as it is at this revision; migrations freeze their own rules.
    return unicodedata.normalize("NFKC", name.casefold())


def upgrade() -> None:
    with op.batch_alter_table("categories", schema=None) as batch_op:
        for column in _media_columns():
            batch_op.add_column(column)
    with op.batch_alter_table("products", schema=None) as batch_op:
        for column in _media_columns():
            batch_op.add_column(column)
        batch_op.add_column(sa.Column("name_folded", sa.Text(), nullable=True))
    products = sa.table("products", sa.column("id", BIGINT), sa.column("name", sa.String), sa.column("name_folded"))
    bind = op.get_bind()
    for product_id, name in bind.execute(sa.select(products.c.id, products.c.name)).all():
        bind.execute(products.update().where(products.c.id == product_id).values(name_folded=_fold(name)))
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.alter_column("name_folded", existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", models.types.UtcDateTime(timezone=True), nullable=True))
    op.create_table(
        "reviews",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("product_id", BIGINT, nullable=False),
        sa.Column("user_id", BIGINT, nullable=False),
        sa.Column("order_id", BIGINT, nullable=True),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("pending", "approved", "hidden", name="reviewstatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("created_at", models.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("moderated_at", models.types.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name=op.f("ck_reviews_stars")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_reviews_order_id_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_reviews_product_id_products"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_reviews_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("user_id", "product_id", name=op.f("uq_reviews_user_id_product_id")),
    )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.create_index("ix_reviews_product_id_status", ["product_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_reviews_product_id_status")
    op.drop_table("reviews")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("name_folded")
        for column in reversed(_media_columns()):
            batch_op.drop_column(column.name)
    with op.batch_alter_table("categories", schema=None) as batch_op:
        for column in reversed(_media_columns()):
            batch_op.drop_column(column.name)
