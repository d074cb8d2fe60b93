"""The payment lifecycle: reconcile what a chain shows with what we stored, then move the order.

Every state change is a conditional UPDATE inside one transaction with its outbox messages, so the
observer, the "check now" button and the webhook can race on one invoice without double credit.
"""

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.enums import Chain, OrderProblem, OrderStatus, PaymentStatus
from models.orders import Invoice, Order, Payment
from models.shop import User
from repositories.audit import AuditRepo
from repositories.orders import OrderRepo
from repositories.payments import PaymentRepo
from repositories.stock import StockRepo
from services.money import paid_threshold
from services.outbox import notify_admins, notify_buyer
from services.payments.seen import SeenPayment

log = logging.getLogger(__name__)
MISSES_FOR_REORG = 3  # scans in a row without a payment before it counts as reorged away


class PaymentService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def apply_scan(self, chain: Chain, invoice_id: int, seen: Sequence[SeenPayment], now: datetime) -> None:
        """Store what the chain showed at `now` for one invoice and move its order accordingly. Idempotent;
        a scan older than one already applied changes nothing."""
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
            progressed = False
            for payment in seen:
                status = PaymentStatus.confirmed if payment.confirmations >= depth else PaymentStatus.seen
                old = stored.get(payment.natural_id)
                if old is None:
                    progressed |= await repo.record(
                        chain, invoice_id, payment.natural_id, now, amount=payment.amount, **_position(payment, status)
                    )
                elif (old.confirmations, old.block_hash, old.status, old.missing_count) != (
                    payment.confirmations,
                    payment.block_hash,
                    status,
                    0,
                ):
                    progressed |= payment.confirmations > old.confirmations or old.status is PaymentStatus.reorged
                    await repo.refresh(old.id, now, **_position(payment, status))
            present = {p.natural_id for p in seen}
            for old in stored.values():
                if old.natural_id not in present and old.status is not PaymentStatus.reorged:
                    misses = old.missing_count + 1
                    gone = misses >= MISSES_FOR_REORG
                    await repo.missed(old.id, misses, PaymentStatus.reorged if gone else old.status, now)
            await self._settle(order, invoice, await repo.for_invoice(invoice_id), progressed, now, was_confirmed)

    async def _settle(
        self,
        order: Order,
        invoice: Invoice,
        payments: list[Payment],
        progressed: bool,
        now: datetime,
        was_confirmed: int,
    ) -> None:
        depth = self._settings.confirmations(invoice.chain)
        live = [p for p in payments if p.status is not PaymentStatus.reorged]
        confirmed = _confirmed(live, depth)
        received = sum(p.amount for p in live)
        s, orders = self._session, OrderRepo(self._session)
        if order.status in OrderStatus.open() and confirmed >= self.threshold(invoice.amount_due):
            await self.mark_paid(order, "observer", now, overpaid=confirmed > invoice.amount_due)
        elif order.status is OrderStatus.awaiting_payment and received:
            if await orders.move(order.id, [OrderStatus.awaiting_payment], status=OrderStatus.confirming):
                await notify_buyer(s, order, "payment_seen", confirmations=_best(live), required=depth)
        elif order.status is OrderStatus.confirming and not received:
            if await orders.move(order.id, [OrderStatus.confirming], status=OrderStatus.awaiting_payment):
                await notify_buyer(s, order, "payment_reorged")
                await notify_admins(s, self._settings.admin_ids, "admin.reorged", order.id)
        elif order.status is OrderStatus.confirming and progressed:
            await notify_buyer(s, order, "payment_seen", confirmations=_best(live), required=depth)
        elif order.status in (OrderStatus.expired, OrderStatus.cancelled) and received:
            if await orders.move(
                order.id,
                [OrderStatus.expired, OrderStatus.cancelled],
                status=OrderStatus.paid_late,
                problem=OrderProblem.paid_late,
            ):
                await notify_admins(
                    s,
                    self._settings.admin_ids,
                    "admin.problem",
                    order.id,
                    problem=OrderProblem.paid_late.value,
                    received=received,
                )
        # Only when this scan lost confirmed money: an admin who accepted a short payment, or resolved
        # the reorg, is not asked again on every later scan.
        elif (
            order.status in OrderStatus.sold()
            and confirmed < min(was_confirmed, self.threshold(invoice.amount_due))
            and await orders.flag(order.id, OrderProblem.reorged)
        ):
            await notify_admins(
                s,
                self._settings.admin_ids,
                "admin.problem",
                order.id,
                problem=OrderProblem.reorged.value,
                received=confirmed,
            )

    def threshold(self, amount_due: int) -> int:
        """The least that counts as paid: due × (1 − PAYMENT_TOLERANCE_PERCENT), rounded up."""
        return paid_threshold(amount_due, self._settings.payment_tolerance_percent)

    async def mark_paid(
        self, order: Order, actor: str, now: datetime, *, overpaid: bool = False, reason: str | None = None
    ) -> bool:
        """Open order -> paid: units sold, reservations gone, goods queued for delivery, admins told.

        Runs inside the caller's transaction. False (and nothing changed) if the order has moved on.
        The observer and an admin's manual confirmation both come through here.
        """
        s, before = self._session, order.status  # read first: the UPDATE below refreshes `order` in place
        if not await OrderRepo(s).move(
            order.id,
            OrderStatus.open(),
            status=OrderStatus.paid,
            paid_at=now,
            problem=OrderProblem.overpaid if overpaid else None,
        ):
            return False
        sold = await StockRepo(s).sell(order.id, now)
        await AuditRepo(s).record(
            actor,
            "order.paid",
            "order",
            order.id,
            before={"status": before.value},
            after={"status": OrderStatus.paid.value, "sold_units": sold},
            reason=reason,
        )
        await notify_buyer(s, order, "paid", overpaid=overpaid)
        await notify_admins(s, self._settings.admin_ids, "admin.paid", order.id, overpaid=overpaid)
        return True

    async def expire_overdue(self, chain: Chain, observed_at: datetime) -> int:
        """Close open orders of `chain` whose time is up, judged by a scan made at `observed_at`.

        Nothing seen (or only payments a reorg removed): expired, stock back, the buyer's timeout counted.
        Money seen but short, all of it at depth: one grace extension, then underpaid (stock back, admins
        alerted). A payment still below depth holds the order open. Returns how many orders changed.
        """
        async with self._session.begin():
            due = (
                await self._session.execute(
                    select(Order.id)
                    .join(Invoice, Invoice.order_id == Order.id)
                    .where(
                        Invoice.chain == chain, Order.status.in_(OrderStatus.open()), Order.expires_at <= observed_at
                    )
                )
            ).scalars()
            order_ids = list(due)
        changed = 0
        for order_id in order_ids:
            async with self._session.begin():
                changed += await self._expire_one(order_id, chain, observed_at)
        return changed

    async def _expire_one(self, order_id: int, chain: Chain, now: datetime) -> bool:
        s, orders = self._session, OrderRepo(self._session)
        order = await orders.locked(order_id)
        invoice = await orders.invoice(order_id)
        if order is None or order.status not in OrderStatus.open() or order.expires_at > now or invoice is None:
            return False
        live = [p for p in await PaymentRepo(s).for_invoice(invoice.id) if p.status is not PaymentStatus.reorged]
        if not live:  # nothing paid, or only money a reorg took away again: a plain timeout
            if not await orders.move(
                order.id,
                [OrderStatus.awaiting_payment],
                status=OrderStatus.expired,
                closed_at=now,
                close_reason="not paid in time",
            ):
                return False
            await StockRepo(s).release(order.id)
            await s.execute(
                update(User)
                .where(User.id == order.user_id)
                .values(timeout_count=User.timeout_count + 1, last_timeout_at=now)
            )
            await notify_buyer(s, order, "expired")
            await notify_admins(s, self._settings.admin_ids, "admin.expired", order.id)
            return True
        depth = self._settings.confirmations(chain)
        if any(p.confirmations < depth for p in live):
            return False  # money on its way: never expire under it
        received = sum(p.amount for p in live)
        if not order.grace_used and self._settings.underpaid_grace_minutes:
            until = now + timedelta(minutes=self._settings.underpaid_grace_minutes)
            if await orders.move(order.id, OrderStatus.open(), expires_at=until, grace_used=True):
                await s.execute(update(Invoice).where(Invoice.id == invoice.id).values(expires_at=until))
                await notify_buyer(
                    s,
                    order,
                    "underpaid_grace",
                    remainder=invoice.amount_due - received,
                    minutes=self._settings.underpaid_grace_minutes,
                )
                return True
            return False
        if not await orders.move(
            order.id,
            OrderStatus.open(),
            status=OrderStatus.underpaid,
            problem=OrderProblem.underpaid,
            closed_at=now,
            close_reason="underpaid",
        ):
            return False
        await StockRepo(s).release(order.id)
        await notify_buyer(s, order, "underpaid", received=received)
        await notify_admins(
            s,
            self._settings.admin_ids,
            "admin.problem",
            order.id,
            problem=OrderProblem.underpaid.value,
            received=received,
        )
        return True


def _position(payment: SeenPayment, status: PaymentStatus) -> dict[str, object]:
    """Where the chain shows a payment now."""
    return {
        "confirmations": payment.confirmations,
        "block_height": payment.block_height,
        "block_hash": payment.block_hash,
        "status": status,
    }


def _confirmed(payments: Iterable[Payment], depth: int) -> int:
    return sum(p.amount for p in payments if p.status is not PaymentStatus.reorged and p.confirmations >= depth)


def _best(payments: list[Payment]) -> int:
    return max((p.confirmations for p in payments), default=0)
