"""Every table, so alembic and the tests see one complete metadata."""

from models import access, credit, ops, orders, promotions, shop
from models.base import Base

TABLE_MODULES = (
    access,
    credit,
    ops,
    orders,
    promotions,
    shop,
)  # importing them registers their tables on Base.metadata
metadata = Base.metadata
