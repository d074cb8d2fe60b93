"""Reminding buyers of an invoice about to run out."""

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from repositories.orders import OrderRepo
from services.outbox import notify_buyer

WARN_BEFORE = timedelta(minutes=5)


class ExpiryReminders:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def warn_expiring(self, now: datetime) -> int:
        """Queue an "expiry_warning" for every order awaiting payment whose invoice runs out within
        WARN_BEFORE of `now`, with the whole minutes left (at least 1). One transaction; each order is
        warned once, however often this runs and in however many processes (a conditional update).
        Returns how many were warned."""
        warned = 0
        async with self._session.begin():
            repo = OrderRepo(self._session)
            for order in await repo.expiring(now, WARN_BEFORE):
                if await repo.mark_warned(order.id, now):
                    minutes = max(1, int((order.expires_at - now).total_seconds() // 60))
                    await notify_buyer(self._session, order, "expiry_warning", minutes=minutes)
                    warned += 1
        return warned
