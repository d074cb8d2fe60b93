"""The payment lifecycle: reconcile what a chain shows with what we stored, then move the order.

Every state change is a conditional UPDATE inside one transaction with its outbox messages, so the
observer, the "check now" button and the webhook can race on one invoice without double credit.
"""

import logging
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from models.enums import Chain, OrderStatus, PaymentStatus
from models.orders import Invoice, Order, Payment
from repositories.orders import OrderRepo
from repositories.payments import PaymentRepo
from services.money import paid_threshold
from services.orders.lifecycle import OBSERVER, OrderLifecycle
from services.outbox import notify_buyer
from services.payments.seen import SeenPayment

log = logging.getLogger(__name__)
MISSES_FOR_REORG = 3  # scans in a row without a payment before it counts as reorged away


class PaymentService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def apply_scan(
        self, chain: Chain, invoice_id: int, seen: Sequence[SeenPayment], now: datetime, *, count_misses: bool
    ) -> None:
        """Store what the chain showed at `now` for one invoice and move its order accordingly. Idempotent;
        a scan older than one already applied changes nothing. A stored payment the scan does not show
        counts a miss only with `count_misses` (the observer's cycle): a one-off check runs whenever a buyer
        taps or a hint comes, so its misses would let anyone hurry a payment into "reorged"."""
        async with self._session.begin():
            invoice = await self._session.get(Invoice, invoice_id)
            order = await OrderRepo(self._session).locked(invoice.order_id) if invoice else None
            if invoice is None or order is None:
                return
            depth = self._settings.confirmations(chain)
            repo = PaymentRepo(self._session)
            stored = {p.natural_id: p for p in await repo.for_invoice(invoice_id)}
            if any(p.updated_at > now for p in stored.values()):
                return  # a scan made later (check-now during a long cycle) is already stored: this one is stale
            was_confirmed = _confirmed(stored.values(), depth)
            progressed = arrived = False
            for payment in seen:
                status = PaymentStatus.confirmed if payment.confirmations >= depth else PaymentStatus.seen
                old = stored.get(payment.natural_id)
                if old is None:
                    new = await repo.record(chain, invoice_id, payment.natural_id, now, **_as_seen(payment, status))
                    progressed |= new
                    arrived |= new
                elif (old.amount, old.confirmations, old.block_hash, old.status, old.missing_count) != (
                    payment.amount,
                    payment.confirmations,
                    payment.block_hash,
                    status,
                    0,
                ):
                    progressed |= payment.confirmations > old.confirmations or old.status is PaymentStatus.reorged
                    await repo.refresh(old.id, now, **_as_seen(payment, status))
            present = {p.natural_id for p in seen}
            for old in stored.values():
                if count_misses and old.natural_id not in present and old.status is not PaymentStatus.reorged:
                    misses = old.missing_count + 1
                    gone = misses >= MISSES_FOR_REORG
                    await repo.missed(old.id, misses, PaymentStatus.reorged if gone else old.status, now)
            payments = await repo.for_invoice(invoice_id)
            await self._settle(order, invoice, payments, progressed, arrived, now, was_confirmed)

    async def _settle(
        self,
        order: Order,
        invoice: Invoice,
        payments: list[Payment],
        progressed: bool,
        arrived: bool,
        now: datetime,
        was_confirmed: int,
    ) -> None:
        depth = self._settings.confirmations(invoice.chain)
        live = [p for p in payments if p.status is not PaymentStatus.reorged]
        confirmed = _confirmed(live, depth)
        received = sum(p.amount for p in live)
        lifecycle = OrderLifecycle(self._session, self._settings)
        if order.status in OrderStatus.open() and confirmed >= self.threshold(invoice.amount_due):
            await lifecycle.pay(order, OBSERVER, now, overpaid_by=max(confirmed - invoice.amount_due, 0))
        elif order.status is OrderStatus.awaiting_payment and received:
            await lifecycle.see_payment(order, _best(live), depth)
        elif order.status is OrderStatus.confirming and not received:
            await lifecycle.lose_payment(order)
        elif order.status is OrderStatus.confirming and progressed:  # more confirmations: no status change
            await notify_buyer(self._session, order, "payment_seen", confirmations=_best(live), required=depth)
        elif order.status in (OrderStatus.expired, OrderStatus.cancelled) and received:
            await lifecycle.pay_late(order, received)
        elif order.status in OrderStatus.closed() and arrived:  # more money for an order already settled
            await lifecycle.more_money(order, received)
        # Only when this scan lost confirmed money: an admin who accepted a short payment, or resolved
        # the reorg, is not asked again on every later scan.
        elif order.status in OrderStatus.sold() and confirmed < min(was_confirmed, self.threshold(invoice.amount_due)):
            await lifecycle.flag_reorged(order, confirmed)

    def threshold(self, amount_due: int) -> int:
        """The least that counts as paid: due × (1 − PAYMENT_TOLERANCE_PERCENT), rounded up."""
        return paid_threshold(amount_due, self._settings.payment_tolerance_percent)

    async def expire_overdue(self, chain: Chain, observed_at: datetime, unknown: Collection[int] = ()) -> int:
        """Close open orders of `chain` whose time is up, judged by a scan made at `observed_at`.

        Nothing seen (or only payments a reorg removed): expired, stock back, the buyer's timeout counted.
        Money seen but short, confirmed or not: one grace extension for the remainder, then underpaid
        (stock back, the timeout counted, admins alerted). Money that covers the amount holds the order
        open while it confirms, for at most MONITOR_HOURS after the deadline; then it closes underpaid
        too. An order whose invoice id is in `unknown` (the scan could not tell what it received) is left
        for a later scan, and admins are told once (OrderLifecycle.hold_unseen). Returns how many orders
        changed status.
        """
        async with read_only(self._session):
            order_ids = await OrderRepo(self._session).overdue(chain, observed_at)
        changed = 0
        for order_id in order_ids:
            async with self._session.begin():
                changed += await self._expire_one(order_id, chain, observed_at, unknown)
        return changed

    async def _expire_one(self, order_id: int, chain: Chain, now: datetime, unknown: Collection[int]) -> bool:
        orders = OrderRepo(self._session)
        order = await orders.locked(order_id)
        invoice = await orders.invoice(order_id)
        if order is None or order.status not in OrderStatus.open() or order.expires_at > now or invoice is None:
            return False
        lifecycle = OrderLifecycle(self._session, self._settings)
        if invoice.id in unknown:  # the scan could not see what it received: judging it would be a guess
            await lifecycle.hold_unseen(order)
            return False
        payments = await PaymentRepo(self._session).for_invoice(invoice.id)
        live = [p for p in payments if p.status is not PaymentStatus.reorged]
        if not live:  # nothing paid, or only money a reorg took away again: a plain timeout
            return await lifecycle.expire(order, OBSERVER, now, "not paid in time")
        received = sum(p.amount for p in live)
        if received >= self.threshold(invoice.amount_due):
            # Enough is on its way: wait for its confirmations, but not for ever (a transaction evicted
            # from the mempool stays at 0 confirmations on some backends, and would hold the stock).
            if now < order.expires_at + timedelta(hours=self._settings.monitor_hours):
                return False
            confirmed = _confirmed(live, self._settings.confirmations(chain))
            return await lifecycle.close_underpaid(order, now, confirmed, invoice.amount_due)
        # Short, confirmed or not (dust must not hold stock): one grace for the remainder, then closed.
        if not order.grace_used and self._settings.underpaid_grace_minutes:
            until = now + timedelta(minutes=self._settings.underpaid_grace_minutes)
            return await lifecycle.extend_grace(order, invoice, until, invoice.amount_due - received)
        return await lifecycle.close_underpaid(order, now, received, invoice.amount_due)


def _as_seen(payment: SeenPayment, status: PaymentStatus) -> dict[str, object]:
    """What the chain shows of a payment now: where it is, and how much. The amount too, because an EVM
    credit that nets a block's balance change (see evm_rpc) can change when a reorg moves part of it."""
    return {
        "amount": payment.amount,
        "confirmations": payment.confirmations,
        "block_height": payment.block_height,
        "block_hash": payment.block_hash,
        "status": status,
    }


def _confirmed(payments: Iterable[Payment], depth: int) -> int:
    return sum(p.amount for p in payments if p.status is not PaymentStatus.reorged and p.confirmations >= depth)


def _best(payments: list[Payment]) -> int:
    return max((p.confirmations for p in payments), default=0)
