"""The ORM: import every model here so alembic and the app see one complete metadata."""

from models.base import Base
from models.ops import AuditLog, Lease, OutboxMessage, WebhookEvent
from models.orders import DerivationCounter, Invoice, Order, OrderItem, Payment, Reservation
from models.shop import CartItem, Category, Product, StockUnit, Subcategory, User

__all__ = [
    "AuditLog",
    "Base",
    "CartItem",
    "Category",
    "DerivationCounter",
    "Invoice",
    "Lease",
    "Order",
    "OrderItem",
    "OutboxMessage",
    "Payment",
    "Product",
    "Reservation",
    "StockUnit",
    "Subcategory",
    "User",
    "WebhookEvent",
]
