"""The scheduler's jobs: watch the chains (invoices, and refunds on their way to buyers), expire what is
overdue, warn before expiry, send the outbox, erase shipping addresses that are due, expire unused store credit.

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
from services.credit.account import CreditService
from services.orders.reminders import ExpiryReminders
from services.orders.retention import AddressRetention
from services.payments.reconcile import PaymentService
from services.payments.refunds import RefundPayments
from services.payments.seen import SeenPayment
from services.payments.watch import ChainHealth
from services.payments.watchlist import WatchedInvoice, WatchList
from services.ratelimit import MemoryRateLimits, RateLimits

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 600


@dataclass
class ProviderHealth:
    """What this process's cycles know of one chain's provider; `Observer.chain_health` reports it. Only
    cycles write it: a one-off check (check-now, a hint) that fails says nothing about the next cycle."""

    last_ok: datetime | None = None
    failures: int = 0  # cycles in a row
    retry_after: float = 0.0  # monotonic time before which the provider is left alone, by cycles and checks
    last_cycle_seconds: float = 0.0


@dataclass
class Observer:
    """Implements services.payments.watch.PaymentWatch for handlers and the web app."""

    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    backends: Mapping[Chain, ChainBackend]
    tokens: Mapping[Chain, TokenBackend] = field(default_factory=dict)  # ERC-20, SPL: asked with the chain's coin
    limits: RateLimits = field(default_factory=MemoryRateLimits)  # shared through Redis with REDIS_URL
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    health: dict[Chain, ProviderHealth] = field(default_factory=dict)
    _watched: dict[Chain, set[str]] = field(default_factory=dict)

    async def observe(self, chain: Chain) -> None:
        """One cycle for one chain: scan every watched invoice, apply, then expire what is overdue; then look
        at the addresses of refunds waiting for their payment."""
        health = self.health.setdefault(chain, ProviderHealth())
        if time.monotonic() < health.retry_after or not await self._lead():
            return
        started, observed_at = time.monotonic(), utcnow()
        closed_since = observed_at - timedelta(hours=self.settings.monitor_hours)
        async with self.sessions() as s:
            watched = await WatchList(s).invoices(chain, closed_since)
        try:
            snapshot = await self._scan(chain, watched)
        except ProviderError as e:
            self._back_off(chain, health, e)
            return
        health.failures, health.retry_after, health.last_ok = 0, 0.0, utcnow()
        unknown = {invoice.id for invoice in watched if invoice.address not in snapshot}  # see ChainSnapshot
        async with self.sessions() as s:
            payments = PaymentService(s, self.settings)
            for invoice in watched:
                seen = snapshot.get(invoice.address)
                if seen is not None and (seen or invoice.has_payments):  # nothing then or now: nothing to do
                    await payments.apply_scan(chain, invoice.id, seen, observed_at, count_misses=True)
            await payments.expire_overdue(chain, observed_at, unknown)
        await self._observe_refunds(chain, observed_at)
        health.last_cycle_seconds = time.monotonic() - started

    async def _observe_refunds(self, chain: Chain, observed_at: datetime) -> None:
        """Close the refunds whose payment the chain shows. Scanned apart from the invoices: a buyer's address
        (an exchange's, say) may be one a provider cannot list, and that must never hold up invoices. A
        failure here is logged and tried again next cycle; it is no provider failure of the cycle. Refunds
        are paid in the chain's own coin (services.admin.refunds opens no other), so the token backends are
        never asked."""
        async with self.sessions() as s:
            refunds = await RefundPayments(s, self.settings).watched(chain)
        if not refunds:
            return
        since: dict[str, int] = {}
        for refund in refunds:  # two refunds to one address: the older one's start covers both
            since[refund.address] = min(refund.watch_from, since.get(refund.address, refund.watch_from))
        try:
            snapshot = await self._scan_coins(chain, list(since), since)
        except ProviderError as e:
            log.warning("%s: could not look at %d refund addresses: %s", chain, len(since), e)
            return
        async with self.sessions() as s:
            payments = RefundPayments(s, self.settings)
            for refund in refunds:
                seen = snapshot.get(refund.address)
                if seen is not None:  # None: the provider could not tell for this address
                    await payments.apply_scan(refund, seen, observed_at)

    async def check_address(self, chain: Chain, address: str) -> bool | None:
        """Look at one invoice now (a webhook hint; the buyer's button through check_now) and apply what
        the chain shows as a cycle would, except that a payment it does not show counts no miss.

        True when the address belongs to an invoice and the chain answered; False for an unknown
        address; None when the provider could not tell ("unknown", nothing changes), or is being left
        alone after a failure or a 429 (nothing is asked then). Never changes the provider's health or
        backoff: that is the cycles' business, so a check cannot stall them.
        """
        async with self.sessions() as s:
            invoice = await WatchList(s).invoice_at(chain, address)
        if invoice is None or chain not in self.backends:
            return False
        if time.monotonic() < self.health.get(chain, ProviderHealth()).retry_after:
            return None
        observed_at = utcnow()  # before the scan, as in a cycle: what it shows is at least this recent
        try:
            snapshot = await self._scan(chain, [invoice])
        except ProviderError as e:
            log.info("%s: a one-off check could not ask the provider: %s", chain, e)
            return None
        seen = snapshot.get(invoice.address)
        if seen is None:  # the provider could not tell for this address (see ChainSnapshot)
            return None
        async with self.sessions() as s:
            await PaymentService(s, self.settings).apply_scan(chain, invoice.id, seen, observed_at, count_misses=False)
        return True

    async def check_now(self, chain: Chain, address: str) -> bool | None:
        """The buyer's "I've paid, check now": check_address, at most once per CHECK_NOW_SECONDS for one
        address (counted across instances when they share REDIS_URL). A tap inside that time asks the
        provider nothing and returns True: what is stored is the answer."""
        seconds = self.settings.check_now_seconds
        if seconds and not await self.limits.take(f"check-now:{chain}:{address}", 1, seconds):
            return True
        return await self.check_address(chain, address)

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

    async def watch_refund(self, chain: Chain, address: str) -> int | None:
        """Watch a refund's address (imported into core-rpc's wallet) and return the chain's height now; None
        when the provider could not be asked. The import comes first, so a payment made once the height is
        known is one the wallet sees."""
        backend = self.backends.get(chain)
        if backend is None:
            return None
        try:
            await backend.watch([address])
            self._watched.setdefault(chain, set()).add(address)
            return await backend.tip_height()
        except ProviderError as e:
            log.warning("%s: could not watch a refund address: %s", chain, e)
            return None

    async def scan_refund(self, chain: Chain, address: str, since: int) -> list[SeenPayment] | None:
        """What the chain shows at a refund's address now (an admin's check of a transaction id). Like
        check_address, it never touches the provider's health or backoff, and asks nothing while the
        provider is left alone."""
        if chain not in self.backends or time.monotonic() < self.health.get(chain, ProviderHealth()).retry_after:
            return None
        try:
            snapshot = await self._scan_coins(chain, [address], {address: since})
        except ProviderError as e:
            log.info("%s: a refund check could not ask the provider: %s", chain, e)
            return None
        return snapshot.get(address)

    async def warn_expiring(self) -> None:
        """Tell buyers about five minutes before their invoice runs out. Once per order."""
        async with self.sessions() as s:
            await ExpiryReminders(s).warn_expiring(utcnow())

    async def erase_addresses(self) -> None:
        """Erase the shipping addresses ADDRESS_RETENTION_DAYS past shipping or closing."""
        async with self.sessions() as s:
            await AddressRetention(s, self.settings).erase_due(utcnow())

    async def expire_credit(self) -> None:
        """Expire store credit unused for CREDIT_EXPIRY_DAYS (nothing when it is 0)."""
        async with self.sessions() as s:
            await CreditService(s, self.settings).expire_due(utcnow())

    def chain_health(self, now: datetime) -> list[ChainHealth]:
        """One entry per configured chain, from this process's in-memory health."""
        out = []
        for chain, backend in self.backends.items():
            health = self.health.get(chain, ProviderHealth())
            age = (now - health.last_ok).total_seconds() if health.last_ok else None
            out.append(ChainHealth(chain, backend.name, age, health.failures, health.last_cycle_seconds))
        return out

    async def _scan(self, chain: Chain, invoices: Sequence[WatchedInvoice]) -> dict[str, list[SeenPayment]]:
        """What the chain shows for these invoices, by address: coin invoices from the chain's backend, token
        invoices from its token backend (without one, they stay out: unknown). Raises ProviderError."""
        tokens = [watch for invoice in invoices if (watch := invoice.token_watch) is not None]
        token_backend = self.tokens.get(chain)
        payments = await self._scan_coins(chain, [invoice.address for invoice in invoices if invoice.token is None])
        if tokens and token_backend is not None:
            payments |= (await token_backend.scan(tokens)).payments
        return payments

    async def _scan_coins(
        self, chain: Chain, addresses: Sequence[str], since: Mapping[str, int] | None = None
    ) -> dict[str, list[SeenPayment]]:
        """What the chain's backend shows of its own coin at `addresses` (see ChainBackend.scan for `since`).
        Raises ProviderError."""
        backend = self.backends[chain]
        new = [a for a in addresses if a not in self._watched.setdefault(chain, set())]
        if new:  # normally done at checkout (watch_invoice, watch_refund); here after a restart or a failure
            await backend.watch(new, rescan_recent=True)
            self._watched[chain].update(new)
        return dict((await backend.scan(addresses, since=since)).payments) if addresses else {}

    def _back_off(self, chain: Chain, health: ProviderHealth, error: ProviderError) -> None:
        """After a failed cycle: leave the provider alone for as long as it asked (a 429's Retry-After),
        else for an interval that doubles with each failure in a row; MAX_BACKOFF_SECONDS at most either
        way. Waiting longer than asked would stall every buyer's confirmations for nothing."""
        self._watched.pop(chain, None)  # maybe the node lost its watch wallet: ask watch() again next time
        health.failures += 1
        doubling = self.settings.observer_interval_seconds * 2 ** (health.failures - 1)
        delay = min(MAX_BACKOFF_SECONDS, doubling if error.retry_after is None else error.retry_after)
        health.retry_after = time.monotonic() + delay
        log.warning(
            "%s provider %s failed (%d in a row), next try in %ss: %s",
            chain,
            self.backends[chain].name,
            health.failures,
            delay,
            error,
        )

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
    scheduler.add_job(observer.erase_addresses, "interval", hours=1, id="erase-addresses", **options)
    if observer.settings.credit_expiry_days:
        scheduler.add_job(observer.expire_credit, "interval", hours=1, id="expire-credit", **options)
    scheduler.add_job(outbox.send_due, "interval", seconds=2, id="outbox", **options)
