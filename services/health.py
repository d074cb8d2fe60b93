"""A snapshot of the shop's state for /healthz and /metrics."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import Chain, OrderStatus
from repositories.stats import StatsRepo


@dataclass(frozen=True, slots=True)
class ShopStats:
    orders: dict[OrderStatus, int]  # every status, zero included
    credited_payments: dict[Chain, int]  # every chain, zero included
    open_invoices: int
    outbox_pending: int
    observer_lease_holder: str | None  # None when nobody holds a live lease


class StatsService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def snapshot(self, lease: str, now: datetime) -> ShopStats:
        """Read-only; one transaction so the counts agree with each other. Raises on database errors."""
        async with read_only(self._session):
            repo = StatsRepo(self._session)
            orders = await repo.orders_by_status()
            credited = await repo.credited_payments_by_chain()
            return ShopStats(
                orders={status: orders.get(status, 0) for status in OrderStatus},
                credited_payments={chain: credited.get(chain, 0) for chain in Chain},
                open_invoices=await repo.open_invoices(),
                outbox_pending=await repo.outbox_pending(),
                observer_lease_holder=await repo.lease_holder(lease, now),
            )
