"""The scheduler's jobs: watch the chains, expire what is overdue, warn before expiry, send the outbox.

Each job opens its own sessions and keeps nothing important in memory: after downtime the first cycle
catches up from the database. Only the holder of the observer lease scans, so several processes on one
PostgreSQL do not multiply provider traffic; correctness never depends on the lease (conditional
updates and unique natural ids do that).
"""

import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from models.database import read_only
from models.enums import Chain, OrderStatus
from models.orders import Order
from models.types import utcnow
from processing.chains.base import ChainBackend, ProviderError
from processing.outbox import OutboxSender
from repositories.leases import LeaseRepo
from repositories.payments import PaymentRepo
from services.outbox import notify_buyer
from services.payments.reconcile import PaymentService
from services.payments.seen import SeenPayment

log = logging.getLogger(__name__)
LEASE = "observer"
WARN_BEFORE = timedelta(minutes=5)
MAX_BACKOFF_SECONDS = 600


@dataclass
class ProviderHealth:
    last_ok: datetime | None = None
    failures: int = 0  # in a row
    retry_after: float = 0.0  # monotonic time before which the provider is left alone
    last_cycle_seconds: float = 0.0


@dataclass
class Observer:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    backends: Mapping[Chain, ChainBackend]
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    health: dict[Chain, ProviderHealth] = field(default_factory=dict)
    _watched: dict[Chain, set[str]] = field(default_factory=dict)

    async def observe(self, chain: Chain) -> None:
        """One cycle for one chain: scan every watched invoice, apply, then expire what is overdue."""
        health = self.health.setdefault(chain, ProviderHealth())
        if time.monotonic() < health.retry_after or not await self._lead():
            return
        started, observed_at = time.monotonic(), utcnow()
        closed_since = observed_at - timedelta(hours=self.settings.monitor_hours)
        async with self.sessions() as s, read_only(s):
            watched = await PaymentRepo(s).watched(chain, closed_since)
            paid_before = await PaymentRepo(s).invoices_with_payments([i for i, _ in watched])
        snapshot = await self._scan(chain, [address for _, address in watched])
        if snapshot is None:
            return
        async with self.sessions() as s:
            payments = PaymentService(s, self.settings)
            for invoice_id, address in watched:
                seen = snapshot.get(address, [])
                if seen or invoice_id in paid_before:  # an invoice with nothing, then or now, has nothing to do
                    await payments.apply_scan(chain, invoice_id, seen, observed_at)
            await payments.expire_overdue(chain, observed_at)
        health.last_cycle_seconds = time.monotonic() - started

    async def check_address(self, chain: Chain, address: str) -> bool | None:
        """Look at one invoice now (the buyer's button, the webhook): the same path as a cycle.

        True when the address belongs to an invoice and the chain answered; False for an unknown
        address; None when the provider could not tell ("unknown", nothing changes).
        """
        async with self.sessions() as s, read_only(s):
            invoice = await PaymentRepo(s).invoice_by_address(chain, address)
        if invoice is None or chain not in self.backends:
            return False
        observed_at = utcnow()  # before the scan, as in a cycle: what it shows is at least this recent
        snapshot = await self._scan(chain, [address])
        if snapshot is None:
            return None
        async with self.sessions() as s:
            await PaymentService(s, self.settings).apply_scan(chain, invoice.id, snapshot.get(address, []), observed_at)
        return True

    async def watch_invoice(self, chain: Chain, address: str) -> None:
        """Start watching a new invoice address before the buyer sees it. Best effort: on failure
        the next cycle imports it and searches recent blocks."""
        backend = self.backends.get(chain)
        if backend is None:
            return
        try:
            await backend.watch([address])
        except ProviderError as e:
            log.warning("%s: could not watch a new invoice address yet: %s", chain, e)
            return
        self._watched.setdefault(chain, set()).add(address)

    async def warn_expiring(self) -> None:
        """Tell buyers about five minutes before their invoice runs out. Once per order."""
        now = utcnow()
        async with self.sessions() as s, s.begin():
            orders = list(
                (
                    await s.execute(
                        select(Order).where(
                            Order.status == OrderStatus.awaiting_payment,
                            Order.expiry_warned_at.is_(None),
                            Order.expires_at <= now + WARN_BEFORE,
                            Order.expires_at > now,
                        )
                    )
                ).scalars()
            )
            for order in orders:
                result = await s.execute(
                    update(Order)
                    .where(Order.id == order.id, Order.expiry_warned_at.is_(None))
                    .values(expiry_warned_at=now)
                )
                if getattr(result, "rowcount", 0) == 1:
                    minutes = max(1, int((order.expires_at - now).total_seconds() // 60))
                    await notify_buyer(s, order, "expiry_warning", minutes=minutes)

    async def _scan(self, chain: Chain, addresses: list[str]) -> dict[str, list[SeenPayment]] | None:
        backend, health = self.backends[chain], self.health.setdefault(chain, ProviderHealth())
        try:
            new = [a for a in addresses if a not in self._watched.setdefault(chain, set())]
            if new:  # normally done at checkout (watch_invoice); here after a restart or a failure
                await backend.watch(new, rescan_recent=True)
                self._watched[chain].update(new)
            snapshot = await backend.scan(addresses) if addresses else None
        except ProviderError as e:
            self._watched.pop(chain, None)  # maybe the node lost its watch wallet: ask watch() again next time
            health.failures += 1
            delay = min(MAX_BACKOFF_SECONDS, self.settings.observer_interval_seconds * 2 ** (health.failures - 1))
            health.retry_after = time.monotonic() + delay
            log.warning(
                "%s provider %s failed (%d in a row), next try in %ss: %s",
                chain,
                backend.name,
                health.failures,
                delay,
                e,
            )
            return None
        health.failures, health.retry_after, health.last_ok = 0, 0.0, utcnow()
        return snapshot.payments if snapshot else {}

    async def _lead(self) -> bool:
        now = utcnow()
        ttl = timedelta(seconds=max(60, 3 * self.settings.observer_interval_seconds))
        async with self.sessions() as s, s.begin():
            return await LeaseRepo(s).acquire(LEASE, self.holder, now, now + ttl)


def schedule(scheduler: AsyncIOScheduler, observer: Observer, outbox: OutboxSender, interval: int) -> None:
    """The jobs of a running shop. max_instances=1 and coalesce: a slow cycle is never run twice at once."""
    now = utcnow()
    options = {"max_instances": 1, "coalesce": True, "next_run_time": now, "misfire_grace_time": None}
    for chain in observer.backends:
        scheduler.add_job(
            observer.observe, "interval", seconds=interval, args=[chain], id=f"observe-{chain}", **options
        )
    scheduler.add_job(observer.warn_expiring, "interval", seconds=60, id="warn-expiring", **options)
    scheduler.add_job(outbox.send_due, "interval", seconds=2, id="outbox", **options)
