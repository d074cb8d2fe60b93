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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from models.enums import Chain
from models.types import utcnow
from processing.chains.base import ChainBackend, ProviderError, TokenBackend
from processing.outbox import OutboxSender
from services.orders.reminders import ExpiryReminders
from services.payments.reconcile import PaymentService
from services.payments.seen import SeenPayment
from services.payments.watch import ChainHealth
from services.payments.watchlist import WatchedInvoice, WatchList

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 600


@dataclass
class ProviderHealth:
    """What this process knows of one chain's provider; `Observer.chain_health` reports it."""

    last_ok: datetime | None = None
    failures: int = 0  # in a row
    retry_after: float = 0.0  # monotonic time before which the provider is left alone
    last_cycle_seconds: float = 0.0


@dataclass
class Observer:
    """Implements services.payments.watch.PaymentWatch for handlers and the web app."""

    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    backends: Mapping[Chain, ChainBackend]
    tokens: Mapping[Chain, TokenBackend] = field(default_factory=dict)  # ERC-20, SPL: asked with the chain's coin
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
        async with self.sessions() as s:
            watched = await WatchList(s).invoices(chain, closed_since)
        snapshot = await self._scan(chain, watched)
        if snapshot is None:
            return
        unknown = {invoice.id for invoice in watched if invoice.address not in snapshot}  # see ChainSnapshot
        async with self.sessions() as s:
            payments = PaymentService(s, self.settings)
            for invoice in watched:
                seen = snapshot.get(invoice.address)
                if seen is not None and (seen or invoice.has_payments):  # nothing then or now: nothing to do
                    await payments.apply_scan(chain, invoice.id, seen, observed_at)
            await payments.expire_overdue(chain, observed_at, unknown)
        health.last_cycle_seconds = time.monotonic() - started

    async def check_address(self, chain: Chain, address: str) -> bool | None:
        """Look at one invoice now (the buyer's button, the webhook): the same path as a cycle.

        True when the address belongs to an invoice and the chain answered; False for an unknown
        address; None when the provider could not tell ("unknown", nothing changes).
        """
        async with self.sessions() as s:
            invoice = await WatchList(s).invoice_at(chain, address)
        if invoice is None or chain not in self.backends:
            return False
        observed_at = utcnow()  # before the scan, as in a cycle: what it shows is at least this recent
        snapshot = await self._scan(chain, [invoice])
        seen = None if snapshot is None else snapshot.get(invoice.address)
        if seen is None:
            return None
        async with self.sessions() as s:
            await PaymentService(s, self.settings).apply_scan(chain, invoice.id, seen, observed_at)
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
        async with self.sessions() as s:
            await ExpiryReminders(s).warn_expiring(utcnow())

    def chain_health(self, now: datetime) -> list[ChainHealth]:
        """One entry per configured chain, from this process's in-memory health."""
        out = []
        for chain, backend in self.backends.items():
            health = self.health.get(chain, ProviderHealth())
            age = (now - health.last_ok).total_seconds() if health.last_ok else None
            out.append(ChainHealth(chain, backend.name, age, health.failures, health.last_cycle_seconds))
        return out

    async def _scan(self, chain: Chain, invoices: Sequence[WatchedInvoice]) -> dict[str, list[SeenPayment]] | None:
        """What the chain shows for these invoices, by address: coin invoices from the chain's backend, token
        invoices from its token backend (without one, they stay out: unknown). None when the provider failed."""
        backend, health = self.backends[chain], self.health.setdefault(chain, ProviderHealth())
        addresses = [invoice.address for invoice in invoices if invoice.token is None]
        tokens = [watch for invoice in invoices if (watch := invoice.token_watch) is not None]
        token_backend = self.tokens.get(chain)
        try:
            new = [a for a in addresses if a not in self._watched.setdefault(chain, set())]
            if new:  # normally done at checkout (watch_invoice); here after a restart or a failure
                await backend.watch(new, rescan_recent=True)
                self._watched[chain].update(new)
            payments = dict((await backend.scan(addresses)).payments) if addresses else {}
            if tokens and token_backend is not None:
                payments |= (await token_backend.scan(tokens)).payments
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
        return payments

    async def _lead(self) -> bool:
        now = utcnow()
        ttl = timedelta(seconds=max(60, 3 * self.settings.observer_interval_seconds))
        async with self.sessions() as s:
            return await WatchList(s).lead(self.holder, now, ttl)


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
