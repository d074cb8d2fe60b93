"""invoices (chain, id): the observer's watch list reads each page as a range of an index

PaymentRepo.watched reads a chain's invoices WATCHED_PAGE at a time in ascending id. Without this index SQLite
found every invoice of the chain by (chain, derivation_index) and sorted them all for each page.

Revision ID: 0016
Revises: 0015
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_invoices_chain_id", "invoices", ["chain", "id"])


def downgrade() -> None:
    op.drop_index("ix_invoices_chain_id", table_name="invoices")
