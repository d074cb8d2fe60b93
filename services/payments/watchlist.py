"""What the payment observer reads before it asks a chain: the invoices to watch, and its lease."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import Chain
from repositories.leases import LeaseRepo
from repositories.payments import PaymentRepo
from services.payments.seen import TokenWatch
from services.wallet.hdwallet import canonical_address

LEASE = "observer"  # the lease whose holder scans the chains (see /healthz "leader")


@dataclass(frozen=True, slots=True)
class WatchedInvoice:
    id: int
    address: str
    has_payments: bool  # any payment stored: a scan that shows none may mean a reorg
    token: str | None  # the ERC-20 contract or SPL mint it is paid in; None: the chain's own coin
    created_at: datetime

    @property
    def token_watch(self) -> TokenWatch | None:
        """What a token backend is asked about this invoice; None for one in the chain's own coin."""
        return None if self.token is None else TokenWatch(self.address, self.token, self.created_at)


class WatchList:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def invoices(self, chain: Chain, closed_since: datetime) -> list[WatchedInvoice]:
        """Every invoice the observer must look at on `chain`: those of open orders, and of orders that
        closed since `closed_since` (late payments, reorgs). Read-only; on PostgreSQL each read sees the latest
        commits, and none is missed: an invoice that closes meanwhile stays in the closed-since window, and the
        pages go by id."""
        watched: list[WatchedInvoice] = []
        async with read_only(self._session):
            async for page in PaymentRepo(self._session).watched(chain, closed_since):
                watched += [WatchedInvoice(*row) for row in page]
        return watched

    async def chains_in_use(self, closed_since: datetime) -> set[Chain]:
        """The chains that have an invoice to watch, configured or not (a coin the merchant has since
        removed from the settings still has open orders or recent payments). Read-only."""
        async with read_only(self._session):
            return await PaymentRepo(self._session).watched_chains(closed_since)

    async def invoice_at(self, chain: Chain, address: str) -> WatchedInvoice | None:
        """The invoice with this address on `chain`, written in any case the chain allows (an ETH address in
        lowercase, as providers send it); None when no invoice has it. Read-only."""
        async with read_only(self._session):
            row = await PaymentRepo(self._session).watched_at(chain, canonical_address(chain, address))
        return None if row is None else WatchedInvoice(*row)

    async def lead(self, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the observer lease for `holder` until `now + ttl`; True while `holder` has it.
        Only the holder scans, to spare the providers; correctness never depends on the lease."""
        async with self._session.begin():
            return await LeaseRepo(self._session).acquire(LEASE, holder, now, now + ttl)
