"""invoice messages: the invoice messages a buyer holds, edited when their order stops awaiting payment

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invoice_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chat_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sent_at", models.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_invoice_messages_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_messages")),
    )
    with op.batch_alter_table("invoice_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoice_messages_order_id"), ["order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("invoice_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_messages_order_id"))
    op.drop_table("invoice_messages")
