"""Warranty: a product may carry a warranty of some days, counted from when its order was paid. Within it, the
buyer's order offers "Report a problem", which opens the order's thread with the admins (services.orders.
messages) and alerts them through the outbox; after it, a report is refused."""

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.enums import OrderStatus
from models.orders import Order
from models.types import utcnow
from repositories.audit import AuditRepo
from repositories.orders import OrderRepo
from repositories.users import UserRepo
from services.orders.lifecycle import buyer
from services.outbox import notify_admins
from services.shop.catalog import NotFound


class WarrantyOver(Exception):
    """The order has no warranty, is not paid, or its warranty has ended."""


async def warranty_until(session: AsyncSession, order: Order) -> datetime | None:
    """When the warranty of a paid (or shipped) order ends: paid_at plus the longest warranty among its products;
    None for an order without one, or not paid. Read-only, in the caller's transaction."""
    if order.status not in OrderStatus.sold() or order.paid_at is None:
        return None
    days = await OrderRepo(session).warranty_days(order.id)
    return None if not days else order.paid_at + timedelta(days=days)


class WarrantyService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def report(self, order_id: int, user_id: int) -> None:
        """The buyer reports a problem with their order under warranty: one audit row (order.warranty_claim) and
        an alert to every admin with a button to the order. Raises NotFound (not theirs, or missing) or
        WarrantyOver (no warranty, not paid, or ended), changing nothing. Each press alerts again."""
        async with self._session.begin():
            order = await OrderRepo(self._session).owned(order_id, user_id)
            if order is None:
                raise NotFound
            until, now = await warranty_until(self._session, order), utcnow()
            if until is None or now >= until:
                raise WarrantyOver
            who = buyer(await UserRepo(self._session).telegram_id(user_id))
            after = {"warranty_until": until.isoformat()}
            await AuditRepo(self._session).record(str(who), "order.warranty_claim", "order", order_id, after=after)
            ends = until.strftime("%Y-%m-%d %H:%M")
            await notify_admins(self._session, self._settings.admin_ids, "admin.warranty_claim", order_id, until=ends)
