"""Erasing shipping addresses once the shop no longer needs them."""

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from repositories.audit import AuditRepo
from repositories.orders import OrderRepo
from services.orders.lifecycle import Actor

RETENTION = Actor("retention")
BATCH = 500  # orders per run: the scheduler comes back for the rest


class AddressRetention:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def erase_due(self, now: datetime) -> int:
        """Erase the address of every order shipped, or closed for good without being shipped, at least
        ADDRESS_RETENTION_DAYS before `now` (up to BATCH of them): the column is set to NULL, not hidden.
        One transaction; one audit row per order erased. Idempotent and safe in several processes at once
        (a conditional update per order). Returns how many were erased."""
        cutoff = now - timedelta(days=self._settings.address_retention_days)
        erased = 0
        async with self._session.begin():
            orders, audit = OrderRepo(self._session), AuditRepo(self._session)
            for order_id in await orders.addresses_due(cutoff, BATCH):
                if await orders.erase_address(order_id, now):
                    after = {"retention_days": self._settings.address_retention_days}
                    await audit.record(str(RETENTION), "order.address_erased", "order", order_id, after=after)
                    erased += 1
        return erased
