"""store credit: the append-only ledger, each buyer's balance, and the credit an order used

Revision ID: 0012
Revises: 0011
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "credit_balances",
        sa.Column("user_id", BIGINT, nullable=False),
        sa.Column("balance_minor", BIGINT, nullable=False),
        sa.Column("updated_at", models.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance_minor >= 0", name=op.f("ck_credit_balances_not_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credit_balances_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_credit_balances")),
    )
    op.create_table(
        "credit_entries",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("user_id", BIGINT, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "refund_credit",
                "spend",
                "give_back",
                "admin_adjustment",
                "expiry",
                name="creditkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("amount_minor", BIGINT, nullable=False),
        sa.Column("balance_before_minor", BIGINT, nullable=False),
        sa.Column("balance_after_minor", BIGINT, nullable=False),
        sa.Column("order_id", BIGINT, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_credit_entries_order_id_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credit_entries_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_entries")),
        sa.UniqueConstraint("key", name=op.f("uq_credit_entries_key")),
    )
    with op.batch_alter_table("credit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_entries_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_credit_entries_user_id_id", ["user_id", "id"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credit_minor", BIGINT, server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("credit_minor")
    with op.batch_alter_table("credit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_entries_user_id_id")
        batch_op.drop_index(batch_op.f("ix_credit_entries_order_id"))
    op.drop_table("credit_entries")
    op.drop_table("credit_balances")
