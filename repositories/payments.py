"""Invoices being watched and the payments seen for them."""

from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import Invoice, Order, Payment
from models.enums import Chain, OrderStatus, PaymentStatus
from processing.chains.base import SeenPayment
from repositories.base import insert_ignoring_conflict
from repositories.orders import OPEN_STATUSES

# Closed orders are still watched for a while: late payments, and reorgs after "paid".
WATCHED_AFTER_CLOSE = (
    OrderStatus.expired,
    OrderStatus.cancelled,
    OrderStatus.paid,
    OrderStatus.shipped,
    OrderStatus.underpaid,
    OrderStatus.paid_late,
)


class PaymentRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def watched(self, chain: Chain, closed_since: datetime) -> list[tuple[int, str]]:
        """(invoice id, address) of every invoice the observer must look at on this chain."""
        result = await self._s.execute(
            select(Invoice.id, Invoice.address)
            .join(Order, Order.id == Invoice.order_id)
            .where(
                Invoice.chain == chain,
                or_(
                    Order.status.in_(OPEN_STATUSES),
                    and_(Order.status.in_(WATCHED_AFTER_CLOSE), Invoice.created_at >= closed_since),
                ),
            )
            .order_by(Invoice.id)
        )
        return [(int(i), str(a)) for i, a in result.tuples()]

    async def invoices_with_payments(self, invoice_ids: list[int]) -> set[int]:
        """Those of the invoices that have any payment stored."""
        found: set[int] = set()
        for start in range(0, len(invoice_ids), 1000):  # keep the IN list within every DB's limits
            chunk = invoice_ids[start : start + 1000]
            result = await self._s.execute(select(Payment.invoice_id).distinct().where(Payment.invoice_id.in_(chunk)))
            found.update(int(i) for i in result.scalars())
        return found

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

    async def record(
        self, chain: Chain, invoice_id: int, seen: SeenPayment, status: PaymentStatus, now: datetime
    ) -> bool:
        """Store a payment once under its natural id; True when it is new."""
        return await insert_ignoring_conflict(
            self._s,
            Payment.__table__,  # type: ignore[arg-type]
            {
                "chain": chain,
                "natural_id": seen.natural_id,
                "invoice_id": invoice_id,
                "amount": seen.amount,
                "confirmations": seen.confirmations,
                "block_height": seen.block_height,
                "block_hash": seen.block_hash,
                "status": status,
                "first_seen_at": now,
                "updated_at": now,
                "missing_count": 0,
            },
            ["chain", "natural_id"],
        )

    async def refresh(self, payment_id: int, seen: SeenPayment, status: PaymentStatus, now: datetime) -> None:
        await self._s.execute(
            update(Payment)
            .where(Payment.id == payment_id)
            .values(
                confirmations=seen.confirmations,
                block_height=seen.block_height,
                block_hash=seen.block_hash,
                status=status,
                missing_count=0,
                updated_at=now,
            )
        )

    async def missed(self, payment_id: int, missing_count: int, status: PaymentStatus, now: datetime) -> None:
        await self._s.execute(
            update(Payment)
            .where(Payment.id == payment_id)
            .values(missing_count=missing_count, status=status, updated_at=now)
        )
