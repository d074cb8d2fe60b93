"""Every change of an order's status or problem, in one place.

Each transition runs inside the caller's transaction (on an order the caller has row-locked where
several actors can race), is one conditional UPDATE, and returns False, changing nothing, when the order
has moved on, so a repeated or concurrent call is harmless. Each change does its stock step, counts a
buyer's timeout where the rules say so, writes exactly **one** audit row and queues the same outbox
notices, whoever triggered it: the observer, the buyer's "check now", the webhook, the buyer, an admin.

transition       from -> to                               stock       buyer is told     admins are told
place            new -> awaiting_payment                  hold all                      admin.new_order
see_payment      awaiting_payment -> confirming                       payment_seen
lose_payment     confirming -> awaiting_payment                       payment_reorged   admin.reorged
pay              open -> paid                             sell        paid (the goods)  admin.paid
fulfil           underpaid, paid_late -> paid             hold, sell  paid (the goods)  admin.paid
                 (pay and fulfil also grant the channel access the order sells: services.orders.access)
ship             paid -> shipped                                      shipped
cancel           open -> cancelled (see cancel)           release*    cancelled         admin.cancelled
expire           awaiting_payment -> expired, timeout+1   release*    expired           admin.expired
extend_grace     open: deadline + grace, once                         underpaid_grace
hold_unseen      open, past its deadline, what it received unknown;                     admin.unseen_overdue
                 stock stays held, once per order
close_underpaid  open -> underpaid (problem), timeout+1   release     underpaid         admin.problem
pay_late         expired, cancelled -> paid_late (problem)                              admin.problem
more_money       closed: problem overpaid/underpaid/paid_late                           admin.more_money
flag_reorged     paid, shipped: problem reorged                                         admin.problem
flag_undelivered paid, shipped: problem delivery_failed                                 admin.delivery_failed
close_problem    problem -> none                                      refunded (if so)
resend           problem delivery_failed -> none                      paid (the goods)

Every transition out of awaiting_payment also queues an edit of each invoice message the buyer holds
(invoice_closed, services.outbox.close_invoice_messages): it then says what became of the order and has no
pay or cancel button left. Admin alerts carry what their text names in base units: admin.paid for an
overpaid order its overpaid_by, admin.problem what was received and, when underpaid, short_by.

* and the order's use of a voucher, and the store credit it spent, are given back: the transitions that close an
  unpaid order for good. An order its buyer's credit paid entirely is placed and paid in one transaction.

An unlimited product (ProductKind.keeps_stock false) has no units: its lines hold, sell and release nothing.

An order is delivered when its buyer has the goods: a paid order with nothing physical (pay, fulfil), or a
shipped one (ship). That transition also does what a delivery earns (services.orders.rewards): the tier
message, the referrer's reward.

A refund (models.orders.Refund) resolves a problem with money going back; its steps are transitions too, each
one conditional UPDATE of the refund, one audit row on the order and the same notices. While a refund is open
the problem can only be resolved through it (fulfil, close_problem and resend refuse): cancel it first.

open_refund      problem: refund awaiting_address                     refund_ask
refund_address   refund awaiting_address -> awaiting_payment                            admin.refund_ready
refund_paid      refund awaiting_payment -> refunded; problem -> none refund_sent       admin.refunded
refund_credited  refund awaiting_address -> credited (store credit);   credit_refund     admin.refund_credited
                 problem -> none
cancel_refund    refund open -> cancelled                             refund_cancelled
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.enums import OrderProblem, OrderStatus, RefundMethod, RefundStatus
from models.orders import Invoice, Order, OrderItem, Refund
from repositories.audit import AuditRepo
from repositories.orders import OrderRepo
from repositories.refunds import RefundRepo
from repositories.stock import StockRepo
from repositories.users import UserRepo
from repositories.vouchers import VoucherRepo
from services.credit.ledger import CreditLedger, refund_key
from services.money import format_fiat, from_minor
from services.orders.access import grant_access, grants_access
from services.orders.rewards import order_delivered
from services.outbox import close_invoice_messages, notify_admins, notify_buyer
from services.payments.uri import payment_uri


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused a change, as the audit log writes it: "buyer:<tg id>", "admin:<tg id>", "observer"."""

    role: str
    telegram_id: int | None = None

    def __str__(self) -> str:
        return self.role if self.telegram_id is None else f"{self.role}:{self.telegram_id}"


OBSERVER = Actor("observer")  # the chain watcher, also when a buyer's "check now" or the webhook runs it
OUTBOX = Actor("outbox")  # the message sender


def buyer(telegram_id: int) -> Actor:
    return Actor("buyer", telegram_id)


def admin(telegram_id: int) -> Actor:
    return Actor("admin", telegram_id)


@dataclass(frozen=True, slots=True)
class Line:
    """What an order holds of one variant (variant_id None: the variant has been deleted since)."""

    variant_id: int | None
    name: str
    quantity: int

    @classmethod
    def of(cls, item: OrderItem) -> "Line":
        return cls(item.variant_id, item.product_name, item.quantity)


class OutOfStock(Exception):
    """Some line cannot be held; nothing was held. `shortages`: (product name, units left)."""

    def __init__(self, shortages: list[tuple[str, int]]) -> None:
        super().__init__(shortages)
        self.shortages = shortages


BUYER_MAY_CANCEL = (OrderStatus.awaiting_payment,)  # once money is seen, only an admin may cancel
_PROBLEM_OF = {OrderStatus.underpaid: OrderProblem.underpaid, OrderStatus.paid_late: OrderProblem.paid_late}


def _short(available: int | None, wanted: int) -> bool:
    """Fewer units on the shelf than wanted; a product that keeps no stock (None) is never short."""
    return available is not None and available < wanted


class OrderLifecycle:
    """Outbox texts are HTML and their parameters go in as they are: free text (a reason, tracking) is
    escaped here, once."""

    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._s = session
        self._settings = settings
        self._orders = OrderRepo(session)
        self._stock = StockRepo(session)
        self._refunds = RefundRepo(session)

    async def place(
        self,
        order: Order,
        lines: Sequence[OrderItem],
        actor: Actor,
        then: Callable[[Order], Awaitable[None]] | None = None,
        left: Mapping[int, int | None] | None = None,
    ) -> Order:
        """A new order awaiting payment, with its items and every unit held until `order.expires_at`. `then`
        writes what the caller adds to the new order (its invoice, a voucher's use, ...) before the units are
        held: a hold moves its variant's stock counter, a row that stays locked on PostgreSQL until the
        transaction ends and that every checkout of the variant waits for, so the hold is the last write.
        Raises OutOfStock (the caller's transaction must roll back: nothing is held then); a line short by the
        counters raises it before anything is written. `left`: the counters of the lines' variants, when the
        caller has read them in this transaction (StockRepo.variant_left); read here otherwise."""
        holds = [Line.of(i) for i in lines]
        left = await self._stock_left(holds, left)
        order = await self._orders.add(order, lines)
        held = sum(i.quantity for i in lines)
        await self._audit(
            actor, "order.place", order.id, None, {"status": OrderStatus.awaiting_payment.value, "held_units": held}
        )
        total = format_fiat(from_minor(order.total_minor), order.fiat_currency)
        await notify_admins(self._s, self._settings.admin_ids, "admin.new_order", order.id, total=total)
        if then is not None:
            await then(order)
        await self._hold(order.id, holds, left, order.expires_at)
        return order

    async def hold_all(self, order_id: int, lines: Sequence[Line], until: datetime) -> None:
        """Hold every line's units for the order, or raise OutOfStock; an unlimited product's line holds
        nothing. Rows may be written before it is raised: the caller's transaction rolls them back. On
        PostgreSQL a unit another buyer is holding at this moment (SKIP LOCKED) counts as gone."""
        await self._hold(order_id, lines, await self._stock_left(lines), until)

    async def _stock_left(
        self, lines: Sequence[Line], read: Mapping[int, int | None] | None = None
    ) -> Mapping[int, int | None]:
        """The units left of each line's variant (None: unlimited), by the counters (`read`, when the caller has
        read them); raises OutOfStock when a line is short by them or its variant is gone."""
        ids = [line.variant_id for line in lines if line.variant_id is not None]
        left = await self._stock.available_of_variants(ids) if read is None else {i: read.get(i, 0) for i in ids}
        short = [
            (line.name, 0 if line.variant_id is None else left[line.variant_id] or 0)
            for line in lines
            if line.variant_id is None or _short(left[line.variant_id], line.quantity)
        ]
        if short:
            raise OutOfStock(short)
        return left

    async def _hold(
        self, order_id: int, lines: Sequence[Line], left: Mapping[int, int | None], until: datetime
    ) -> None:
        """Hold the lines `_stock_left` passed (`left`), or raise OutOfStock with what a line could hold."""
        # In ascending variant id: each hold moves its variant's counter, and PostgreSQL's row locks on them are
        # taken in that order by every transaction (repositories.stock), so two checkouts cannot deadlock.
        for line in sorted(lines, key=lambda line: line.variant_id or 0):
            assert line.variant_id is not None  # checked by _stock_left
            if left[line.variant_id] is None:  # unlimited: nothing to hold, it never sells out
                continue
            held = await self._stock.reserve(line.variant_id, line.quantity, order_id, until)
            if len(held) < line.quantity:
                raise OutOfStock([(line.name, len(held))])

    async def see_payment(self, order: Order, confirmations: int, required: int) -> bool:
        """Money for an unpaid order is on its way: it no longer expires while that money confirms."""
        return await self._move(
            order,
            OBSERVER,
            "order.payment_seen",
            [OrderStatus.awaiting_payment],
            OrderStatus.confirming,
            buyer=("payment_seen", {"confirmations": confirmations, "required": required}),
        )

    async def lose_payment(self, order: Order) -> bool:
        """Every payment below depth vanished (a reorg): the invoice is open again."""
        return await self._move(
            order,
            OBSERVER,
            "order.payment_lost",
            [OrderStatus.confirming],
            OrderStatus.awaiting_payment,
            buyer=("payment_reorged", {}),
            admins=("admin.reorged", {}),
        )

    async def pay(
        self, order: Order, actor: Actor, now: datetime, *, overpaid_by: int = 0, reason: str | None = None
    ) -> bool:
        """Open order → paid: its held units are sold and the goods queued for delivery. The observer's
        confirmation and an admin's manual one both come here. `overpaid_by` (base units received beyond
        the amount due) flags the order overpaid, and the admins' alert says by how much."""

        async def sell() -> dict[str, Any]:
            return {"sold_units": await self._stock.sell(order.id, now)}

        overpaid = overpaid_by > 0
        if not await self._move(
            order,
            actor,
            "order.paid",
            OrderStatus.open(),
            OrderStatus.paid,
            reason=reason,
            stock=sell,
            buyer=("paid", await self._paid_note(order, overpaid=overpaid)),
            admins=(
                "admin.paid",
                {"problem": OrderProblem.overpaid.value, "overpaid_by": overpaid_by} if overpaid else {},
            ),
            paid_at=now,
            problem=OrderProblem.overpaid if overpaid else None,
        ):
            return False
        await self._delivered_unless_shipped(order, now)
        return True

    async def fulfil(self, order: Order, actor: Actor, now: datetime) -> bool:
        """Deliver an order that closed without its goods (underpaid, paid late) after all: its units are
        held again, all or none (raises OutOfStock), then sold as for any paid order; its problem is cleared.
        The audit row is the order's one "order.paid". Refused while a refund is open."""
        if await self._refunds.open_of(order.id) is not None:
            return False
        items = await self._orders.items(order.id)

        async def hold_and_sell() -> dict[str, Any]:
            await self.hold_all(order.id, [Line.of(i) for i in items], now)
            return {"sold_units": await self._stock.sell(order.id, now)}

        if not await self._move(
            order,
            actor,
            "order.paid",
            OrderStatus.unfulfilled(),
            OrderStatus.paid,
            reason=f"fulfilled: {order.problem}",
            stock=hold_and_sell,
            buyer=("paid", await self._paid_note(order, overpaid=False)),
            admins=("admin.paid", {}),
            paid_at=now,
            problem=None,
            closed_at=None,
            close_reason=None,
        ):
            return False
        await self._delivered_unless_shipped(order, now)
        return True

    async def ship(self, order: Order, actor: Actor, tracking: str, now: datetime) -> bool:
        """Paid order → shipped with the carrier's tracking text, which the buyer is sent. The caller checks
        that the order has something physical to ship."""
        if not await self._move(
            order,
            actor,
            "order.ship",
            [OrderStatus.paid],
            OrderStatus.shipped,
            details={"tracking": tracking},
            buyer=("shipped", {"tracking": escape(tracking)}),
            shipped_at=now,
            tracking=tracking,
        ):
            return False
        await order_delivered(self._s, self._settings, order, now)
        return True

    async def cancel(self, order: Order, actor: Actor, reason: str, now: datetime) -> bool:
        """Unpaid order → cancelled, its units back on sale. A buyer may cancel only while no payment is
        seen, and beyond FREE_CANCELS_PER_DAY a day each cancel counts as a timeout (cancelling and checking
        out again must not hold the stock for ever); an admin may cancel a confirming order too. Buyer and
        admins are told who cancelled."""
        by_buyer = actor.role == "buyer"
        by = "" if by_buyer else "_by_shop"
        since = now - timedelta(days=1)
        earlier = await AuditRepo(self._s).count(str(actor), "order.cancel", since=since) if by_buyer else 0
        if not await self._move(
            order,
            actor,
            "order.cancel",
            BUYER_MAY_CANCEL if by_buyer else OrderStatus.open(),
            OrderStatus.cancelled,
            reason=reason,
            stock=self._release(order, actor, now, give_back=True),
            buyer=(f"cancelled{by}", {"reason": escape(reason)}),
            admins=(
                f"admin.cancelled{by}",
                {"reason": escape(reason), **({} if by_buyer else {"admin": actor.telegram_id})},
            ),
            closed_at=now,
            close_reason=reason,
        ):
            return False
        if by_buyer and earlier >= self._settings.free_cancels_per_day:
            await UserRepo(self._s).count_timeout(order.user_id, now)
        return True

    async def expire(self, order: Order, actor: Actor, now: datetime, reason: str) -> bool:
        """Unpaid order whose time is up → expired: units back on sale, the buyer's timeout counted."""
        if not await self._move(
            order,
            actor,
            "order.expire",
            [OrderStatus.awaiting_payment],
            OrderStatus.expired,
            reason=reason,
            stock=self._release(order, actor, now, give_back=True),
            buyer=("expired", {}),
            admins=("admin.expired", {}),
            closed_at=now,
            close_reason=reason,
        ):
            return False
        await UserRepo(self._s).count_timeout(order.user_id, now)
        return True

    async def extend_grace(self, order: Order, invoice: Invoice, until: datetime, remainder: int) -> bool:
        """The one extension for a buyer who paid too little: the deadline moves to `until` and the buyer is
        asked for the exact remainder. The status stays."""
        if not await self._orders.extend_once(order.id, invoice.id, until):
            return False
        status = {"status": order.status.value}
        await self._audit(OBSERVER, "order.grace", order.id, status, {**status, "expires_at": until.isoformat()})
        minutes = self._settings.underpaid_grace_minutes
        await notify_buyer(self._s, order, "underpaid_grace", remainder=remainder, minutes=minutes)
        return True

    async def hold_unseen(self, order: Order) -> bool:
        """An open order past its deadline whose address the chain's provider cannot read (an EVM node that
        keeps no state that old, say): it is not judged, so it stays open with its stock held, and admins
        are told once, since only they can point the shop at a provider that can tell. The status stays."""
        if any(entry.action == "order.unseen_overdue" for entry in await AuditRepo(self._s).of("order", order.id)):
            return False
        status = {"status": order.status.value}
        await self._audit(OBSERVER, "order.unseen_overdue", order.id, status, status)
        await notify_admins(self._s, self._settings.admin_ids, "admin.unseen_overdue", order.id)
        return True

    async def close_underpaid(self, order: Order, now: datetime, received: int, due: int) -> bool:
        """Open order still short after its grace (or whose payment never confirmed) → underpaid: units back
        on sale, the buyer's timeout counted, admins alerted with what was `received` (what counts: confirmed,
        or not) and how far short of `due` that is."""
        short = {"received": received, "short_by": max(due - received, 0)}
        if not await self._move(
            order,
            OBSERVER,
            "order.underpaid",
            OrderStatus.open(),
            OrderStatus.underpaid,
            stock=self._release(order, OBSERVER, now),
            buyer=("underpaid", {"received": received}),
            admins=("admin.problem", {"problem": OrderProblem.underpaid.value, **short}),
            problem=OrderProblem.underpaid,
            closed_at=now,
            close_reason="underpaid",
        ):
            return False
        await UserRepo(self._s).count_timeout(order.user_id, now)
        return True

    async def pay_late(self, order: Order, received: int) -> bool:
        """Money arrived for an expired or cancelled order → paid_late, for an admin to decide."""
        return await self._move(
            order,
            OBSERVER,
            "order.paid_late",
            [OrderStatus.expired, OrderStatus.cancelled],
            OrderStatus.paid_late,
            admins=("admin.problem", {"problem": OrderProblem.paid_late.value, "received": received}),
            problem=OrderProblem.paid_late,
        )

    async def more_money(self, order: Order, received: int) -> bool:
        """A new payment reached an order that is already closed with its goods (flagged overpaid) or
        without them (underpaid, paid late: flagged again if an admin had closed that): admins are alerted
        with what has arrived in all."""
        problem = OrderProblem.overpaid if order.status in OrderStatus.sold() else _PROBLEM_OF.get(order.status)
        if problem is None:
            return False
        await self._orders.flag(order.id, problem)
        status = {"status": order.status.value}
        after = {**status, "problem": problem.value, "received": received}
        await self._audit(OBSERVER, "order.more_money", order.id, status, after)
        alert = {"problem": problem.value, "received": received}
        await notify_admins(self._s, self._settings.admin_ids, "admin.more_money", order.id, **alert)
        return True

    async def flag_reorged(self, order: Order, received: int) -> bool:
        """A paid order lost confirmed money in a reorg: to the problem queue (once)."""
        alert = ("admin.problem", {"problem": OrderProblem.reorged.value, "received": received})
        return await self._flag(order, OBSERVER, OrderProblem.reorged, alert)

    async def flag_undelivered(self, order: Order, error: str) -> bool:
        """The outbox gave up on a paid order's delivery: to the problem queue (once)."""
        alert = ("admin.delivery_failed", {"error": error})
        return await self._flag(order, OUTBOX, OrderProblem.delivery_failed, alert)

    async def close_problem(self, order: Order, actor: Actor, note: str, *, refunded: bool, now: datetime) -> bool:
        """An admin resolved the order's problem: refunded outside the bot (the buyer is told) or just
        closed, with `note`. The status stays. Refused while a refund is open."""
        problem = order.problem
        if await self._refunds.open_of(order.id) is not None:
            return False
        label = "refunded off-bot" if refunded else "closed"
        if problem is None or not await self._orders.clear_problem(
            order.id, problem, closed_at=now, close_reason=f"{label}: {note}"
        ):
            return False
        status = order.status.value
        before, after = {"status": status, "problem": problem.value}, {"status": status, "problem": None}
        await self._audit(actor, "problem.refund" if refunded else "problem.close", order.id, before, after, note)
        if refunded:
            await notify_buyer(self._s, order, "refunded")
        return True

    async def resend(self, order: Order, actor: Actor) -> bool:
        """Queue a paid order's delivery again after the outbox gave up on it. Refused while a refund is open."""
        problem = OrderProblem.delivery_failed
        if await self._refunds.open_of(order.id) is not None:
            return False
        if order.status not in OrderStatus.sold() or not await self._orders.clear_problem(order.id, problem):
            return False
        await self._audit(actor, "problem.resend", order.id, {"problem": problem.value}, {"problem": None})
        await notify_buyer(self._s, order, "paid", **await self._paid_note(order, overpaid=False))
        return True

    async def open_refund(self, order: Order, refund: Refund, actor: Actor) -> bool:
        """Store `refund` (awaiting the buyer's address) for the order's problem and ask the buyer where to
        send it. Refused, storing nothing, when the order no longer has `refund.problem` or already has an
        open refund. The order's status and problem stay until the money has arrived."""
        if order.problem is not refund.problem or await self._refunds.open_of(order.id) is not None:
            return False
        refund.status = RefundStatus.awaiting_address
        await self._refunds.add(refund)
        details = {"amount": refund.amount, "asset": refund.asset, "basis": refund.basis.value}
        await self._refund_audit(actor, "refund.open", order, refund, (None, refund.status), details)
        await notify_buyer(self._s, order, "refund_ask", refund_id=refund.id, refund=refund.amount)
        return True

    async def refund_address(
        self, order: Order, refund: Refund, actor: Actor, address: str, watch_from: int, now: datetime
    ) -> bool:
        """The buyer's address for the refund is in: from now on only payments to it in blocks above
        `watch_from` count, and the admins get the payment link for exactly the amount."""
        if not await self._refunds.move(
            refund.id,
            [RefundStatus.awaiting_address],
            status=RefundStatus.awaiting_payment,
            address=address,
            watch_from=watch_from,
            address_at=now,
        ):
            return False
        details = {"address": address, "watch_from": watch_from}
        steps = (RefundStatus.awaiting_address, RefundStatus.awaiting_payment)
        await self._refund_audit(actor, "refund.address", order, refund, steps, details)
        uri = payment_uri(refund.unit, address, refund.amount, self._settings.eth_chain_id)
        ready = {"refund_id": refund.id, "refund": refund.amount, "to": address, "uri": uri}
        await notify_admins(self._s, self._settings.admin_ids, "admin.refund_ready", order.id, **ready)
        return True

    async def refund_paid(self, order: Order, refund: Refund, actor: Actor, txid: str, now: datetime) -> bool:
        """Exactly the refund's amount reached its address at depth in payment `txid` (a natural id): the
        refund is done and the order's problem closed (when it still is the refund's), buyer and admins
        told. The order's status stays."""
        if not await self._refunds.move(
            refund.id, [RefundStatus.awaiting_payment], status=RefundStatus.refunded, txid=txid, closed_at=now
        ):
            return False
        problem = order.problem
        if problem is refund.problem:
            await self._orders.clear_problem(order.id, problem, closed_at=now, close_reason=f"refunded: {txid}")
        steps = (RefundStatus.awaiting_payment, RefundStatus.refunded)
        await self._refund_audit(actor, "refund.paid", order, refund, steps, {"txid": txid}, problem)
        amount = {"refund": refund.amount, "txid": txid}
        await notify_buyer(self._s, order, "refund_sent", **amount)
        await notify_admins(self._s, self._settings.admin_ids, "admin.refunded", order.id, to=refund.address, **amount)
        return True

    async def refund_credited(self, order: Order, refund: Refund, actor: Actor, now: datetime) -> bool:
        """The buyer takes the refund as store credit while it still waits for their address: the refund closes
        as credited, its worth in fiat (`refund.fiat_minor`, > 0, in FIAT_CURRENCY) goes on their ledger keyed by
        the refund (services.credit.ledger.refund_key, so it is credited once), and the order's problem closes
        (when it still is the refund's); the buyer is told the credit and their balance, the admins that it was
        taken. The order's status stays. False, changing nothing, once an address is in or the refund closed."""
        if not await self._refunds.move(
            refund.id,
            [RefundStatus.awaiting_address],
            status=RefundStatus.credited,
            method=RefundMethod.credit,
            closed_at=now,
        ):
            return False
        key = refund_key(refund.id)
        currency = self._settings.fiat_currency
        entry, _ = await CreditLedger(self._s).refund_credit(order, refund.fiat_minor, key, str(actor), currency, now)
        credit = format_fiat(from_minor(refund.fiat_minor), currency)
        problem = order.problem
        if problem is refund.problem:
            await self._orders.clear_problem(order.id, problem, closed_at=now, close_reason=f"store credit: {credit}")
        steps = (RefundStatus.awaiting_address, RefundStatus.credited)
        details = {"credit_minor": refund.fiat_minor, "balance_minor": entry.balance_after_minor, "key": key}
        await self._refund_audit(actor, "refund.credit", order, refund, steps, details, problem)
        taken = {"refund_id": refund.id, "refund": refund.amount, "credit": credit}
        await notify_admins(self._s, self._settings.admin_ids, "admin.refund_credited", order.id, **taken)
        return True

    async def cancel_refund(self, order: Order, refund: Refund, actor: Actor, now: datetime) -> bool:
        """An admin withdraws an open refund; the buyer is told. The problem stays, to be resolved otherwise."""
        before = refund.status  # read first: the UPDATE refreshes `refund` in place
        if not await self._refunds.move(refund.id, RefundStatus.open(), status=RefundStatus.cancelled, closed_at=now):
            return False
        await self._refund_audit(actor, "refund.cancel", order, refund, (before, RefundStatus.cancelled), {})
        await notify_buyer(self._s, order, "refund_cancelled")
        return True

    async def _refund_audit(
        self,
        actor: Actor,
        action: str,
        order: Order,
        refund: Refund,
        steps: tuple[RefundStatus | None, RefundStatus],
        details: dict[str, Any],
        problem_before: OrderProblem | None = None,
    ) -> None:
        """The one audit row of a refund step, on its order: the order's status and problem before and after
        (`problem_before` when the step has cleared it already), and the refund's status."""
        before, after = steps
        problem = problem_before or order.problem
        old = {"status": order.status.value, "problem": problem and problem.value, "refund": before and before.value}
        new = {
            "status": order.status.value,
            "problem": order.problem and order.problem.value,
            "refund": after.value,
            "refund_id": refund.id,
            **details,
        }
        await self._audit(actor, action, order.id, old, new)

    def _release(
        self, order: Order, actor: Actor, now: datetime, *, give_back: bool = False
    ) -> Callable[[], Awaitable[dict[str, Any]]]:
        """The stock step that puts the order's units back on sale; with `give_back`, for an unpaid order closed
        for good (expired, cancelled), its use of a voucher and the store credit it spent are given back too."""

        async def release() -> dict[str, Any]:
            done: dict[str, Any] = {"released_units": await self._stock.release(order.id)}
            if give_back and (code := await VoucherRepo(self._s).give_back(order.id)):
                done["voucher_returned"] = code
            if give_back and (credit := await CreditLedger(self._s).give_back(order.id, str(actor), now)):
                done["credit_returned_minor"] = credit
            return done

        return release

    async def _paid_note(self, order: Order, *, overpaid: bool) -> dict[str, Any]:
        """The buyer's "paid" message's parameters: whether they overpaid, and whether an invite link follows
        (channel access) rather than a parcel."""
        return {"overpaid": overpaid, **({"access": True} if await grants_access(self._s, order.id) else {})}

    async def _delivered_unless_shipped(self, order: Order, now: datetime) -> None:
        """After a paid transition: the channel access it sells is granted (services.orders.access); an order
        with nothing physical is delivered now (its goods are sent); one with something physical is delivered
        when shipped."""
        await grant_access(self._s, self._settings, order, now)
        if not await self._orders.is_physical(order.id):
            await order_delivered(self._s, self._settings, order, now)

    async def _move(
        self,
        order: Order,
        actor: Actor,
        action: str,
        from_statuses: Sequence[OrderStatus],
        to: OrderStatus,
        *,
        reason: str | None = None,
        stock: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        details: dict[str, Any] | None = None,
        buyer: tuple[str, dict[str, Any]] | None = None,
        admins: tuple[str, dict[str, Any]] | None = None,
        **values: Any,
    ) -> bool:
        """The conditional UPDATE, then the stock step, the audit row and the notices."""
        before, problem = order.status, order.problem  # read first: the UPDATE refreshes `order` in place
        if not await self._orders.move(order.id, from_statuses, status=to, **values):
            return False
        old: dict[str, Any] = {"status": before.value}
        new: dict[str, Any] = {"status": to.value, **(details or {}), **(await stock() if stock else {})}
        if problem is not None:
            old["problem"] = problem.value
        if values.get("problem", problem) is not problem:
            new["problem"] = values["problem"] and values["problem"].value
        await self._audit(actor, action, order.id, old, new, reason)
        if to is not OrderStatus.awaiting_payment:  # an invoice the buyer holds takes no payment any more
            await close_invoice_messages(self._s, order.id, to)
        if buyer:
            await notify_buyer(self._s, order, buyer[0], **buyer[1])
        if admins:
            await notify_admins(self._s, self._settings.admin_ids, admins[0], order.id, **admins[1])
        return True

    async def _flag(self, order: Order, actor: Actor, problem: OrderProblem, alert: tuple[str, dict[str, Any]]) -> bool:
        if order.status not in OrderStatus.sold() or not await self._orders.flag(order.id, problem):
            return False
        status = order.status.value
        await self._audit(
            actor, f"order.{problem}", order.id, {"status": status}, {"status": status, "problem": problem.value}
        )
        await notify_admins(self._s, self._settings.admin_ids, alert[0], order.id, **alert[1])
        return True

    async def _audit(
        self,
        actor: Actor,
        action: str,
        order_id: int,
        before: dict[str, Any] | None,
        after: dict[str, Any],
        reason: str | None = None,
    ) -> None:
        await AuditRepo(self._s).record(
            str(actor), action, "order", order_id, before=before, after=after, reason=reason
        )
