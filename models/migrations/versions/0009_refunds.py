"""refunds: money going back to a buyer, watched on chain until it arrives

Revision ID: 0009
Revises: 0008
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=24)


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("order_id", BIGINT, nullable=False),
        sa.Column(
            "problem",
            _enum("orderproblem", "underpaid", "overpaid", "paid_late", "reorged", "delivery_failed"),
            nullable=False,
        ),
        sa.Column("method", _enum("refundmethod", "onchain"), nullable=False),
        sa.Column("basis", _enum("refundbasis", "coin", "fiat"), nullable=False),
        sa.Column(
            "status",
            _enum("refundstatus", "awaiting_address", "awaiting_payment", "refunded", "cancelled"),
            nullable=False,
        ),
        sa.Column("chain", _enum("chain", "btc", "ltc", "eth", "sol"), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=True),
        sa.Column("decimals", BIGINT, nullable=False),
        sa.Column("amount", models.types.BaseUnits(length=80), nullable=False),
        sa.Column("fiat_minor", BIGINT, nullable=False),
        sa.Column("rate", models.types.DecimalText(length=64), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=True),
        sa.Column("watch_from", BIGINT, nullable=True),
        sa.Column("txid", sa.String(length=192), nullable=True),
        sa.Column("opened_by", BIGINT, nullable=False),
        sa.Column("created_at", models.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("address_at", models.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", models.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_refunds_order_id_orders"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("chain", "txid", name=op.f("uq_refunds_chain_txid")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index("ix_refunds_chain_status", ["chain", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_order_id"), ["order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_order_id"))
        batch_op.drop_index("ix_refunds_chain_status")
    op.drop_table("refunds")
