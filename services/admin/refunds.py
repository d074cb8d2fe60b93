"""Refunds the bot prepares and proves, from the admin's side: choose what to give back, open the refund (the
buyer is asked for an address), see the payment link, cancel it, or close it with a transaction id the
bot checks on chain. The observer closes it by itself once the payment is at depth
(services.payments.refunds).

Every change runs in one transaction on the row-locked order, conditional on what the admin saw, so a
double press or two admins at once act once; the loser gets OrderMovedOn.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from models.enums import OrderProblem, RefundBasis, RefundMethod, RefundStatus
from models.orders import Invoice, Order, Refund
from models.types import utcnow
from repositories.orders import OrderRepo
from repositories.payments import PaymentRepo
from repositories.refunds import RefundRepo
from services.admin.dto import OrderMovedOn, RefundQuote, RefundView
from services.money import base_units_worth, from_minor, to_fiat, to_minor
from services.orders.lifecycle import OrderLifecycle, admin
from services.orders.refunds import refundable, sent_on_chain
from services.payments.rates import RateService, RateUnavailable
from services.payments.refunds import RefundCheck, RefundPayments, WatchedRefund
from services.payments.uri import payment_uri
from services.payments.watch import PaymentWatch
from services.shop.catalog import NotFound


class NotRefundable(Exception):
    """Nothing can go back on chain for this order; `reason` says why: "nothing" (no money to give back),
    "token" (it is owed in a token, which the bot does not send: services.orders.refunds.sent_on_chain) or
    "too_small" (less than the chain's smallest payment)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AdminRefundsService:
    def __init__(self, session: AsyncSession, settings: Settings, rates: RateService, watch: PaymentWatch) -> None:
        self._session = session
        self._settings = settings
        self._rates = rates
        self._watch = watch

    async def quote(self, order_id: int, problem: OrderProblem) -> RefundQuote:
        """The two amounts the admin may refund for the order's `problem`. Raises NotFound, OrderMovedOn (the
        problem is another now, or a refund is open), NotRefundable. Read-only; asks for today's rate."""
        async with read_only(self._session):
            order, invoice, coins = await self._owed(order_id, problem)
        unit = invoice.unit
        fiat = to_fiat(unit, coins, invoice.rate)
        try:
            rate = (await self._rates.rate(unit.symbol)).value
        except RateUnavailable:
            rate = None
        at_today = base_units_worth(unit, fiat, rate) if rate and fiat > 0 else None
        return RefundQuote(order.id, problem, unit, coins, fiat, order.fiat_currency, at_today)

    async def open(self, order_id: int, admin_id: int, problem: OrderProblem, basis: RefundBasis) -> RefundView:
        """Open a refund for the order's `problem` on `basis`: its amount is fixed now (on the fiat basis at
        today's rate, fetched before the transaction) and the buyer is asked for an address
        (OrderLifecycle.open_refund). Raises NotFound, OrderMovedOn, NotRefundable (also when the amount
        would be below the chain's smallest payment), RateUnavailable. The refund is in the invoice's asset."""
        async with read_only(self._session):
            _, invoice, _ = await self._owed(order_id, problem)
        today = (await self._rates.rate(invoice.asset)).value if basis is RefundBasis.fiat else None
        async with self._session.begin():
            order, invoice, coins = await self._owed(order_id, problem, lock=True)
            unit = invoice.unit
            fiat = to_fiat(unit, coins, invoice.rate)
            amount = coins if today is None else (base_units_worth(unit, fiat, today) if fiat > 0 else 0)
            if amount < unit.min_payment:
                raise NotRefundable("too_small")
            refund = Refund(
                order_id=order.id,
                problem=problem,
                method=RefundMethod.onchain,
                basis=basis,
                chain=unit.chain,
                asset=unit.symbol,
                token=unit.token,
                decimals=unit.decimals,
                amount=amount,
                fiat_minor=to_minor(fiat),
                rate=invoice.rate if today is None else today,
                opened_by=admin_id,
            )
            if not await OrderLifecycle(self._session, self._settings).open_refund(order, refund, admin(admin_id)):
                raise OrderMovedOn(order.status, order.problem)
            return self._view(refund, order.fiat_currency)

    async def view(self, order_id: int) -> RefundView:
        """The order's open refund. Raises NotFound, or OrderMovedOn when it has none (any more). Read-only."""
        async with read_only(self._session):
            order, refund = await self._open_refund(order_id)
            return self._view(refund, order.fiat_currency)

    async def cancel(self, order_id: int, refund_id: int, admin_id: int) -> None:
        """Withdraw the open refund `refund_id` (the buyer is told); the problem stays. Raises NotFound,
        OrderMovedOn (that refund is no longer open)."""
        async with self._session.begin():
            order, refund = await self._open_refund(order_id, lock=True)
            lifecycle = OrderLifecycle(self._session, self._settings)
            if refund.id != refund_id or not await lifecycle.cancel_refund(order, refund, admin(admin_id), utcnow()):
                raise OrderMovedOn(order.status, order.problem)

    async def check_txid(self, order_id: int, refund_id: int, admin_id: int, txid: str) -> RefundCheck:
        """Close the refund with transaction `txid`, after checking on chain that it paid exactly the amount
        to the refund's address at depth (services.payments.refunds). Anything else changes nothing and says
        what was found. Raises NotFound, OrderMovedOn (the refund is not waiting for its payment)."""
        async with read_only(self._session):
            order, refund = await self._open_refund(order_id)
            if refund.id != refund_id or refund.status is not RefundStatus.awaiting_payment:
                raise OrderMovedOn(order.status, order.problem)
            watched = WatchedRefund.of(refund)
        seen = await self._watch.scan_refund(watched.chain, watched.address, watched.watch_from)
        if seen is None:
            return RefundCheck.unknown
        payments = RefundPayments(self._session, self._settings)
        return await payments.apply_scan(watched, seen, utcnow(), actor=admin(admin_id), txid=txid)

    async def _owed(self, order_id: int, problem: OrderProblem, *, lock: bool = False) -> tuple[Order, Invoice, int]:
        """The order (row-locked with `lock`), its invoice and what it owes back for `problem`."""
        repo = OrderRepo(self._session)
        order = await (repo.locked(order_id) if lock else repo.get(order_id))
        if order is None:
            raise NotFound
        if order.problem is not problem or await RefundRepo(self._session).open_of(order.id) is not None:
            raise OrderMovedOn(order.status, order.problem)
        invoice = await repo.invoice(order.id)
        received = (await PaymentRepo(self._session).received([order.id]))[order.id]
        coins = refundable(problem, invoice.amount_due, received) if invoice else 0
        if invoice is None or coins <= 0:
            raise NotRefundable("nothing")
        if not sent_on_chain(invoice.unit):
            raise NotRefundable("token")
        return order, invoice, coins

    async def _open_refund(self, order_id: int, *, lock: bool = False) -> tuple[Order, Refund]:
        repo = OrderRepo(self._session)
        order = await (repo.locked(order_id) if lock else repo.get(order_id))
        if order is None:
            raise NotFound
        refund = await RefundRepo(self._session).open_of(order.id)
        if refund is None:
            raise OrderMovedOn(order.status, order.problem)
        return order, refund

    def _view(self, refund: Refund, currency: str) -> RefundView:
        return refund_view(refund, currency, self._settings.eth_chain_id)


def refund_view(refund: Refund, currency: str, eth_chain_id: int) -> RefundView:
    """A refund as admins see it, with its payment link once the address is in."""
    uri = payment_uri(refund.unit, refund.address, refund.amount, eth_chain_id) if refund.address else None
    return RefundView(
        id=refund.id,
        order_id=refund.order_id,
        status=refund.status,
        basis=refund.basis,
        unit=refund.unit,
        amount=refund.amount,
        fiat=from_minor(refund.fiat_minor),
        currency=currency,
        address=refund.address,
        uri=uri,
        txid=refund.txid,
    )
