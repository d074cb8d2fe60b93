"""Invoices being watched and the payments seen for them."""

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.enums import Chain, OrderStatus, PaymentStatus
from models.orders import Invoice, Order, Payment
from repositories.base import insert_ignoring_conflict

# Rows per read of `watched`: between reads the event loop serves others, and the caller makes a page's objects
# before the next read (10,000 rows read in one go, then made at once, held the loop about 35 ms).
WATCHED_PAGE = 500
WatchedRow = tuple[int, str, bool, str | None, datetime]  # see _watched_rows


class PaymentRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def watched(self, chain: Chain, closed_since: datetime) -> AsyncIterator[list[WatchedRow]]:
        """The WatchedRow of every invoice the observer must look at on this chain: the open ones, and those that
        closed (paid, expired, ...) since `closed_since`, however old the invoice is. Yields WATCHED_PAGE rows
        at a time, in ascending id after the last one read, so no invoice is skipped or read twice, and the
        caller's work on a page runs between two reads, not on every invoice at once."""
        page = (
            _watched_rows()
            .join(Order, Order.id == Invoice.order_id)
            .where(Invoice.chain == chain, _watched(closed_since), Invoice.id > bindparam("after"))
            .order_by(Invoice.id)
            .limit(WATCHED_PAGE)
        )
        after = 0
        while True:
            result = await self._s.execute(page, {"after": after})
            rows = [_watched_row(*row) for row in result.tuples()]
            if rows:
                yield rows
            if len(rows) < WATCHED_PAGE:
                return
            after = rows[-1][0]

    async def watched_at(self, chain: Chain, address: str) -> WatchedRow | None:
        """The WatchedRow of the invoice with this address on `chain`, watched now or not; None when no invoice
        has it."""
        result = await self._s.execute(_watched_rows().where(Invoice.chain == chain, Invoice.address == address))
        row = result.tuples().first()
        return None if row is None else _watched_row(*row)

    async def watched_chains(self, closed_since: datetime) -> set[Chain]:
        """The chains `watched` would return invoices for."""
        result = await self._s.execute(select(Invoice.chain).distinct().join(Order).where(_watched(closed_since)))
        return {Chain(c) for c in result.scalars()}

    async def invoice_by_address(self, chain: Chain, address: str) -> Invoice | None:
        result = await self._s.execute(select(Invoice).where(Invoice.chain == chain, Invoice.address == address))
        return result.scalar_one_or_none()

    async def for_invoice(self, invoice_id: int) -> list[Payment]:
        """Fresh from the database, also when the session already holds older copies."""
        result = await self._s.execute(
            select(Payment)
            .where(Payment.invoice_id == invoice_id)
            .order_by(Payment.id)
            .execution_options(populate_existing=True)
        )
        return list(result.scalars())

    async def received(self, order_ids: Sequence[int]) -> dict[int, int]:
        """Sum of the payments still on chain (not reorged) per order. Summed in Python: on SQLite the
        amounts are text, and SUM would go through floating point."""
        result = await self._s.execute(
            select(Invoice.order_id, Payment.amount)
            .join(Payment, Payment.invoice_id == Invoice.id)
            .where(Invoice.order_id.in_(order_ids), Payment.status != PaymentStatus.reorged)
        )
        totals = dict.fromkeys(order_ids, 0)
        for order_id, amount in result.tuples():
            totals[order_id] += amount
        return totals

    async def record(self, chain: Chain, invoice_id: int, natural_id: str, now: datetime, **facts: Any) -> bool:
        """Store a payment once under its natural id; True when it is new. `facts`: amount, confirmations,
        block_height, block_hash, status."""
        return await insert_ignoring_conflict(
            self._s,
            Payment.__table__,  # type: ignore[arg-type]
            {
                "chain": chain,
                "natural_id": natural_id,
                "invoice_id": invoice_id,
                "first_seen_at": now,
                "updated_at": now,
                "missing_count": 0,
                **facts,
            },
            ["chain", "natural_id"],
        )

    async def refresh(self, payment_id: int, now: datetime, **facts: Any) -> None:
        """The chain shows the payment again: new `facts` (as for record), and no longer missing."""
        await self._s.execute(
            update(Payment).where(Payment.id == payment_id).values(missing_count=0, updated_at=now, **facts)
        )

    async def missed(self, payment_id: int, missing_count: int, status: PaymentStatus, now: datetime) -> None:
        await self._s.execute(
            update(Payment)
            .where(Payment.id == payment_id)
            .values(missing_count=missing_count, status=status, updated_at=now)
        )


def _watched_rows() -> Select[Any]:
    """A WatchedRow's columns: (invoice id, address, any payment stored, token, created at). The token is None
    for an invoice in the chain's own coin."""
    with_payments = select(Payment.id).where(Payment.invoice_id == Invoice.id).exists()
    return select(Invoice.id, Invoice.address, with_payments, Invoice.token, Invoice.created_at)


def _watched_row(invoice_id: int, address: str, paid: bool, token: str | None, created_at: datetime) -> WatchedRow:
    return int(invoice_id), str(address), bool(paid), token, created_at


def _watched(closed_since: datetime) -> ColumnElement[bool]:
    """Open, or closed (paid, expired, ...) since `closed_since`, however old the invoice is."""
    closed_at = func.coalesce(Order.closed_at, Order.paid_at, Invoice.created_at)
    return or_(
        Order.status.in_(OrderStatus.open()),
        and_(Order.status.in_(OrderStatus.closed()), closed_at >= closed_since),
    )
