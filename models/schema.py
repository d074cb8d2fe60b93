"""Every table, so alembic and the tests see one complete metadata."""

from models import ops, orders, shop
from models.base import Base

TABLE_MODULES = (ops, orders, shop)  # importing them registers their tables on Base.metadata
metadata = Base.metadata
