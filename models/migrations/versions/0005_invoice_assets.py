"""invoice assets: an invoice is paid in an asset (a network's coin, or a token on it), not only in a chain

Every existing invoice was made in its network's own coin, so it gets that coin's symbol and decimals and
no token: its amounts keep their meaning.

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The network coins as models/chains.py knew them when this revision was written (a migration freezes its
# facts: a later edit of the table must not change what this one did).
NATIVE = {"btc": ("BTC", 8), "ltc": ("LTC", 8), "eth": ("ETH", 18), "sol": ("SOL", 9)}


def upgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("asset", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("token", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("decimals", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
    invoices = sa.table("invoices", sa.column("chain", sa.String), sa.column("asset", sa.String),
                        sa.column("decimals", sa.Integer))
    for chain, (symbol, decimals) in NATIVE.items():
        op.execute(invoices.update().where(invoices.c.chain == chain).values(asset=symbol, decimals=decimals))
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.alter_column("asset", existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column(
            "decimals", existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        )


def downgrade() -> None:
    invoices = sa.table("invoices", sa.column("token", sa.String))
    if op.get_bind().execute(sa.select(sa.func.count()).select_from(invoices).where(
            invoices.c.token.is_not(None))).scalar():
        raise RuntimeError("token invoices exist: a schema without assets would read their amounts as coins")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("decimals")
        batch_op.drop_column("token")
        batch_op.drop_column("asset")
