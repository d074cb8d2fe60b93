"""The problem queue: orders the observer or the outbox could not finish on their own, and how admins
resolve them. Resolving clears the order's problem; the audit log keeps what it was and who decided.

Every resolution is conditional on the problem the admin saw, in one transaction on a row-locked
order, so a double press or two admins at once resolve it once; the loser gets OrderMovedOn.
"""

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from models.enums import OrderProblem, OrderStatus
from models.orders import Invoice, Order
from models.types import utcnow
from repositories.audit import AuditRepo
from repositories.orders import OrderRepo
from repositories.payments import PaymentRepo
from repositories.stock import StockRepo
from services.admin.dto import OrderMovedOn, ProblemPage, ProblemRow, Resolution, StockGone
from services.admin.orders import actor
from services.money import to_fiat
from services.outbox import notify_buyer
from services.payments.reconcile import PaymentService
from services.shop.catalog import NotFound

PAGE_SIZE = 8
# Closed without the goods: the stock went back to the shelf when the order was closed.


class _Short(Exception):
    def __init__(self, products: dict[int, str]) -> None:
        super().__init__(products)
        self.products = products  # product id (0 when deleted) -> name


class AdminProblemsService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def page(self, page: int) -> ProblemPage:
        """The queue, oldest first, with what was due and received per order."""
        page = max(page, 0)
        async with read_only(self._session):
            orders, more = await OrderRepo(self._session).problems(page, PAGE_SIZE)
            return ProblemPage([await self._row(o) for o in orders], page, more)

    async def view(self, order_id: int) -> ProblemRow:
        """One order's problem. Raises NotFound, or OrderMovedOn when it has none (any more)."""
        async with read_only(self._session):
            order = await self._session.get(Order, order_id, populate_existing=True)
            if order is None:
                raise NotFound
            if order.problem is None:
                raise OrderMovedOn(order.status)
            return await self._row(order)

    async def fulfil(self, order_id: int, admin: int, problem: OrderProblem) -> ProblemPage:
        """Deliver an underpaid or late-paid order after all: hold its units again (all or nothing), then
        mark it paid through PaymentService.mark_paid, so units are sold and the goods queued exactly as
        for an order the observer confirms. Raises NotFound, OrderMovedOn, or StockGone (nothing changed)."""
        try:
            async with self._session.begin():
                await self._fulfil(order_id, admin, problem)
        except _Short as short:
            async with read_only(self._session):
                left = await StockRepo(self._session).available([pid for pid in short.products if pid])
            raise StockGone([(name, left.get(pid, 0)) for pid, name in short.products.items()]) from None
        return await self.page(0)

    async def _fulfil(self, order_id: int, admin: int, problem: OrderProblem) -> None:
        s, orders = self._session, OrderRepo(self._session)
        order = await self._locked(order_id, problem)
        before = {"status": order.status.value, "problem": problem.value}
        # Reopen and pay in one transaction: nobody ever sees the order open in between, and both steps
        # are conditional, so mark_paid's usual path (open -> paid) is the only way to "paid".
        if order.status not in OrderStatus.unfulfilled() or not await orders.move(
            order_id,
            OrderStatus.unfulfilled(),
            status=OrderStatus.awaiting_payment,
            problem=None,
            closed_at=None,
            close_reason=None,
        ):
            raise OrderMovedOn(order.status, order.problem)
        now, stock = utcnow(), StockRepo(s)
        short = {
            item.product_id or 0: item.product_name
            for item in await orders.items(order_id)
            if item.product_id is None
            or len(await stock.reserve(item.product_id, item.quantity, order_id, now)) < item.quantity
        }
        if short:
            raise _Short(short)
        who = actor(admin)
        if not await PaymentService(s, self._settings).mark_paid(order, who, now, reason=f"fulfilled: {problem}"):
            raise OrderMovedOn(order.status, order.problem)  # cannot happen: the row is ours since the move
        await AuditRepo(s).record(
            who,
            "problem.fulfil",
            "order",
            order_id,
            before=before,
            after={"status": OrderStatus.paid.value, "problem": None},
        )

    async def refund(self, order_id: int, admin: int, problem: OrderProblem, note: str) -> ProblemPage:
        """The admin refunded the buyer outside the bot: the problem is closed with `note` and the buyer
        told. The order's status stays. Raises NotFound, OrderMovedOn."""
        return await self._close(order_id, admin, problem, note, Resolution.refund)

    async def close(self, order_id: int, admin: int, problem: OrderProblem, note: str) -> ProblemPage:
        """Close the problem with `note` and nothing else. Raises NotFound, OrderMovedOn."""
        return await self._close(order_id, admin, problem, note, Resolution.close)

    async def resend(self, order_id: int, admin: int) -> ProblemPage:
        """Queue the delivery message of a paid order again after the outbox gave up on it.
        Raises NotFound, OrderMovedOn (no delivery failure to resolve)."""
        async with self._session.begin():
            s = self._session
            order = await self._locked(order_id, OrderProblem.delivery_failed)
            if order.status not in OrderStatus.sold() or not await OrderRepo(s).clear_problem(
                order_id, OrderProblem.delivery_failed
            ):
                raise OrderMovedOn(order.status, order.problem)
            await AuditRepo(s).record(
                actor(admin),
                "problem.resend",
                "order",
                order_id,
                before={"problem": OrderProblem.delivery_failed.value},
                after={"problem": None},
            )
            await notify_buyer(s, order, "paid", overpaid=False)
        return await self.page(0)

    async def _close(self, order_id: int, admin: int, problem: OrderProblem, note: str, how: Resolution) -> ProblemPage:
        async with self._session.begin():
            s = self._session
            order = await self._locked(order_id, problem)
            label = "refunded off-bot" if how is Resolution.refund else "closed"
            if not await OrderRepo(s).clear_problem(
                order_id, problem, closed_at=utcnow(), close_reason=f"{label}: {note}"
            ):
                raise OrderMovedOn(order.status, order.problem)
            await AuditRepo(s).record(
                actor(admin),
                f"problem.{how}",
                "order",
                order_id,
                reason=note,
                before={"status": order.status.value, "problem": problem.value},
                after={"status": order.status.value, "problem": None},
            )
            if how is Resolution.refund:
                await notify_buyer(s, order, "refunded")
        return await self.page(0)

    async def _locked(self, order_id: int, problem: OrderProblem) -> Order:
        order = await OrderRepo(self._session).locked(order_id)
        if order is None:
            raise NotFound
        if order.problem is not problem:
            raise OrderMovedOn(order.status, order.problem)
        return order

    async def _row(self, order: Order) -> ProblemRow:
        assert order.problem is not None
        invoice = await OrderRepo(self._session).invoice(order.id)
        received = (await PaymentRepo(self._session).received([order.id]))[order.id]
        due = invoice.amount_due if invoice else 0
        return ProblemRow(
            order.id,
            order.problem,
            order.status,
            invoice.chain if invoice else None,
            due,
            received,
            received - due,
            _fiat(invoice, received - due),
            order.fiat_currency,
            resolutions(order.problem, order.status),
        )


def resolutions(problem: OrderProblem, status: OrderStatus) -> tuple[Resolution, ...]:
    """What an admin can do about a problem. Only an order closed without its goods can be fulfilled,
    and only a failed delivery resent."""
    if status in OrderStatus.unfulfilled():
        return Resolution.fulfil, Resolution.refund, Resolution.close
    if problem is OrderProblem.delivery_failed:
        return Resolution.resend, Resolution.close
    return Resolution.refund, Resolution.close


def _fiat(invoice: Invoice | None, base_units: int) -> Decimal:
    """Base units in fiat at the invoice's locked rate."""
    if invoice is None:
        return Decimal(0)
    return to_fiat(invoice.chain, base_units, invoice.rate)
