"""The problem queue: orders the observer or the outbox could not finish on their own, and how admins
resolve them. Resolving clears the order's problem; the audit log keeps what it was and who decided. A
refund the bot watches (services.admin.refunds) is one more way; while one is open it is the only one.

Every resolution is conditional on the problem the admin saw, in one transaction on a row-locked
order, so a double press or two admins at once resolve it once; the loser gets OrderMovedOn.
"""

from collections.abc import Awaitable, Callable
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from models.enums import OrderProblem, OrderStatus
from models.orders import Invoice, Order
from models.types import utcnow
from repositories.orders import OrderRepo
from repositories.payments import PaymentRepo
from repositories.refunds import RefundRepo
from services.admin.dto import OrderMovedOn, ProblemPage, ProblemRow, Resolution
from services.admin.refunds import refund_view
from services.money import to_fiat
from services.orders.lifecycle import OrderLifecycle, admin
from services.orders.refunds import refundable, sent_on_chain
from services.shop.catalog import NotFound

PAGE_SIZE = 8


class AdminProblemsService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def page(self, page: int) -> ProblemPage:
        """The queue, oldest first, with what was due and received per order."""
        async with read_only(self._session):
            orders, more = await OrderRepo(self._session).problems(page, PAGE_SIZE)
            return ProblemPage([await self._row(o) for o in orders], max(page, 0), more)

    async def view(self, order_id: int) -> ProblemRow:
        """One order's problem. Raises NotFound, or OrderMovedOn when it has none (any more)."""
        async with read_only(self._session):
            order = await OrderRepo(self._session).get(order_id)
            if order is None:
                raise NotFound
            if order.problem is None:
                raise OrderMovedOn(order.status)
            return await self._row(order)

    async def fulfil(self, order_id: int, admin_id: int, problem: OrderProblem) -> ProblemPage:
        """Deliver an underpaid or late-paid order after all: its units are held again (all or nothing) and
        sold, and the goods queued, exactly as for an order the observer confirms. Raises NotFound,
        OrderMovedOn, or services.orders.lifecycle.OutOfStock (nothing changed)."""
        return await self._resolve(order_id, problem, lambda o, lc: lc.fulfil(o, admin(admin_id), utcnow()))

    async def refund(self, order_id: int, admin_id: int, problem: OrderProblem, note: str) -> ProblemPage:
        """The admin refunded the buyer outside the bot: the problem is closed with `note` and the buyer
        told. The order's status stays. Raises NotFound, OrderMovedOn."""
        return await self._resolve(
            order_id, problem, lambda o, lc: lc.close_problem(o, admin(admin_id), note, refunded=True, now=utcnow())
        )

    async def close(self, order_id: int, admin_id: int, problem: OrderProblem, note: str) -> ProblemPage:
        """Close the problem with `note` and nothing else. Raises NotFound, OrderMovedOn."""
        return await self._resolve(
            order_id, problem, lambda o, lc: lc.close_problem(o, admin(admin_id), note, refunded=False, now=utcnow())
        )

    async def resend(self, order_id: int, admin_id: int) -> ProblemPage:
        """Queue the delivery message of a paid order again after the outbox gave up on it.
        Raises NotFound, OrderMovedOn (no delivery failure to resolve)."""
        return await self._resolve(order_id, OrderProblem.delivery_failed, lambda o, lc: lc.resend(o, admin(admin_id)))

    async def _resolve(
        self,
        order_id: int,
        problem: OrderProblem,
        resolution: Callable[[Order, OrderLifecycle], Awaitable[bool]],
    ) -> ProblemPage:
        """One resolution in one transaction on the row-locked order, only while it still has the problem the
        admin saw; OrderMovedOn (nothing changed) otherwise. Returns the queue as it is now."""
        async with self._session.begin():
            order = await OrderRepo(self._session).locked(order_id)
            if order is None:
                raise NotFound
            if order.problem is not problem or not await resolution(
                order, OrderLifecycle(self._session, self._settings)
            ):
                raise OrderMovedOn(order.status, order.problem)
        return await self.page(0)

    async def _row(self, order: Order) -> ProblemRow:
        assert order.problem is not None
        invoice = await OrderRepo(self._session).invoice(order.id)
        received = (await PaymentRepo(self._session).received([order.id]))[order.id]
        due = invoice.amount_due if invoice else 0
        refund = await RefundRepo(self._session).open_of(order.id)
        owed = refundable(order.problem, due, received) > 0
        in_coin = invoice is None or sent_on_chain(invoice.unit)
        return ProblemRow(
            order.id,
            order.problem,
            order.status,
            invoice.unit if invoice else None,
            due,
            received,
            received - due,
            _fiat(invoice, received - due),
            order.fiat_currency,
            () if refund else resolutions(order.problem, order.status, onchain=owed and in_coin),
            refund_view(refund, order.fiat_currency, self._settings.eth_chain_id) if refund else None,
            refund_off_bot=owed and not in_coin,
        )


def resolutions(problem: OrderProblem, status: OrderStatus, *, onchain: bool) -> tuple[Resolution, ...]:
    """What an admin can do about a problem. Only an order closed without its goods can be fulfilled,
    only a failed delivery resent, and only where money is owed back (`onchain`) a refund sent on chain."""
    refund = (Resolution.onchain,) if onchain else ()
    if status in OrderStatus.unfulfilled():
        return Resolution.fulfil, *refund, Resolution.refund, Resolution.close
    if problem is OrderProblem.delivery_failed:
        return Resolution.resend, *refund, Resolution.close
    return *refund, Resolution.refund, Resolution.close


def _fiat(invoice: Invoice | None, base_units: int) -> Decimal:
    """Base units in fiat at the invoice's locked rate."""
    if invoice is None:
        return Decimal(0)
    return to_fiat(invoice.unit, base_units, invoice.rate)
