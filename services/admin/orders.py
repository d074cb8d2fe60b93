"""The admins' order desk: lists by status, the full picture of one order, and the four manual actions.

Every action runs in one transaction on a row-locked order, changes it with a conditional UPDATE and
raises OrderMovedOn (changing nothing) when the order is no longer where the admin saw it, so a
double press or two admins at once act exactly once. Each action leaves an audit row.
"""

from html import escape

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from models.enums import Chain, OrderStatus, OutboxStatus
from models.ops import AuditLog, OutboxMessage
from models.orders import Order
from models.shop import User
from models.types import utcnow
from repositories.audit import AuditRepo
from repositories.orders import OrderRepo
from repositories.outbox import OutboxRepo
from repositories.stock import StockRepo
from repositories.users import UserRepo
from services.admin.dto import (
    BUCKETS,
    AdminAction,
    AdminOrderView,
    BuyerInfo,
    OrderBucket,
    OrderMovedOn,
    OrderPage,
    OrderRow,
    PaymentRow,
    TimelineEntry,
    bucket_of,
)
from services.dto import InvoiceView, OrderLine
from services.money import from_minor
from services.outbox import notify_buyer
from services.payments.explorer import tx_url
from services.payments.reconcile import PaymentService
from services.payments.uri import payment_uri
from services.shop.catalog import NotFound

PAGE_SIZE = 8
TIMELINE_LIMIT = 20  # the latest entries; the message has to fit Telegram's 4096 characters


def actor(admin_telegram_id: int) -> str:
    return f"admin:{admin_telegram_id}"


class AdminOrdersService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def counts(self) -> dict[OrderBucket, int]:
        """How many orders each list holds."""
        async with read_only(self._session):
            raw = await OrderRepo(self._session).counts()
        return {
            bucket: sum(n for (status, physical), n in raw.items() if bucket_of(status, physical) is bucket)
            for bucket in OrderBucket
        }

    async def page(self, bucket: OrderBucket, page: int) -> OrderPage:
        statuses, physical = BUCKETS[bucket]
        page = max(page, 0)
        async with read_only(self._session):
            rows, more = await OrderRepo(self._session).page(statuses, physical, page, PAGE_SIZE)
        return OrderPage(bucket, [_row(order, user) for order, user in rows], page, more)

    async def view(self, order_id: int) -> AdminOrderView:
        """Everything about one order for an admin. Raises NotFound."""
        async with read_only(self._session):
            return await self._view(order_id)

    async def check(self, order_id: int, action: AdminAction) -> None:
        """Raises OrderMovedOn unless `action` is possible right now (before asking the admin for text)."""
        async with self._session.begin():
            order = await self._session.get(Order, order_id, populate_existing=True)
            if order is None:
                raise NotFound
            physical = await OrderRepo(self._session).is_physical(order_id)
        if action not in _actions(order.status, physical):
            raise OrderMovedOn(order.status, order.problem)

    async def ship(self, order_id: int, admin: int, tracking: str) -> AdminOrderView:
        """Paid order with physical items -> shipped with `tracking`; the buyer is told. Audited.
        Raises NotFound, OrderMovedOn (not paid, e.g. already shipped; or nothing physical to ship)."""
        async with self._session.begin():
            s = self._session
            order = await self._locked(order_id)
            if not await OrderRepo(s).is_physical(order_id) or not await OrderRepo(s).move(
                order_id, [OrderStatus.paid], status=OrderStatus.shipped, shipped_at=utcnow(), tracking=tracking
            ):
                raise OrderMovedOn(order.status, order.problem)
            await AuditRepo(self._session).record(
                actor(admin),
                "order.ship",
                "order",
                order_id,
                before={"status": OrderStatus.paid.value},
                after={"status": OrderStatus.shipped.value, "tracking": tracking},
            )
            # Outbox texts are HTML and their parameters go in as they are: escape the admin's words now.
            await notify_buyer(self._session, order, "shipped", tracking=escape(tracking))
            return await self._view(order_id)

    async def cancel(self, order_id: int, admin: int, reason: str) -> AdminOrderView:
        """Unpaid order -> cancelled: its stock goes back, the buyer is told why. Audited.
        Raises NotFound, OrderMovedOn (paid, expired, already cancelled)."""
        async with self._session.begin():
            order = await self._locked(order_id)
            before = order.status
            if not await OrderRepo(self._session).move(
                order_id,
                OrderStatus.open(),
                status=OrderStatus.cancelled,
                closed_at=utcnow(),
                close_reason=f"by admin: {reason}",
            ):
                raise OrderMovedOn(order.status, order.problem)
            released = await StockRepo(self._session).release(order_id)
            await AuditRepo(self._session).record(
                actor(admin),
                "order.cancel",
                "order",
                order_id,
                reason=reason,
                before={"status": before.value},
                after={"status": OrderStatus.cancelled.value, "released_units": released},
            )
            await notify_buyer(self._session, order, "cancelled_by_shop", reason=escape(reason))
            return await self._view(order_id)

    async def expire(self, order_id: int, admin: int) -> AdminOrderView:
        """What the observer does to an unpaid order whose time is up, now: expired, stock back, the buyer's
        timeout counted, the buyer told. Audited. Raises NotFound, OrderMovedOn (anything but awaiting payment)."""
        async with self._session.begin():
            s = self._session
            order = await self._locked(order_id)
            now = utcnow()
            if not await OrderRepo(s).move(
                order_id,
                [OrderStatus.awaiting_payment],
                status=OrderStatus.expired,
                closed_at=now,
                close_reason="expired by admin",
            ):
                raise OrderMovedOn(order.status, order.problem)
            released = await StockRepo(s).release(order_id)
            await s.execute(
                update(User)
                .where(User.id == order.user_id)
                .values(timeout_count=User.timeout_count + 1, last_timeout_at=now)
            )
            await AuditRepo(s).record(
                actor(admin),
                "order.expire",
                "order",
                order_id,
                before={"status": OrderStatus.awaiting_payment.value},
                after={"status": OrderStatus.expired.value, "released_units": released},
            )
            await notify_buyer(s, order, "expired")
            return await self._view(order_id)

    async def confirm(self, order_id: int, admin: int, reason: str) -> AdminOrderView:
        """Confirm an open order's payment by hand, through PaymentService.mark_paid: the same units sold,
        the same delivery message and admin notices as the observer's confirmation; the audit row carries
        the admin and `reason`. Raises NotFound, OrderMovedOn (already paid, expired, cancelled)."""
        async with self._session.begin():
            order = await self._locked(order_id)
            if not await PaymentService(self._session, self._settings).mark_paid(
                order, actor(admin), utcnow(), reason=reason
            ):
                raise OrderMovedOn(order.status, order.problem)
            return await self._view(order_id)

    async def _locked(self, order_id: int) -> Order:
        order = await OrderRepo(self._session).locked(order_id)
        if order is None:
            raise NotFound
        return order

    async def _view(self, order_id: int) -> AdminOrderView:
        s = self._session
        orders = OrderRepo(s)
        order = await orders.get(order_id)
        buyer = await UserRepo(s).get(order.user_id) if order else None
        if order is None or buyer is None:
            raise NotFound
        physical = await orders.is_physical(order_id)
        invoice = await orders.invoice(order_id)
        payments = await orders.payments(invoice.id) if invoice else []
        timeline = _timeline(
            await AuditRepo(s).of("order", order_id), await OutboxRepo(s).of_order(order_id), buyer.telegram_id
        )
        return AdminOrderView(
            id=order.id,
            status=order.status,
            problem=order.problem,
            bucket=bucket_of(order.status, physical),
            physical=physical,
            created_at=order.created_at,
            tracking=order.tracking,
            close_reason=order.close_reason,
            total=from_minor(order.total_minor),
            currency=order.fiat_currency,
            buyer=BuyerInfo(buyer.telegram_id, buyer.username, buyer.language),
            lines=[
                OrderLine(i.product_name, i.quantity, from_minor(i.unit_price_minor))
                for i in await orders.items(order_id)
            ],
            invoice=InvoiceView(
                invoice.chain,
                invoice.address,
                invoice.amount_due,
                invoice.rate,
                invoice.rate_source,
                invoice.rate_at,
                invoice.expires_at,
                payment_uri(invoice.chain, invoice.address, invoice.amount_due, self._settings.eth_chain_id),
            )
            if invoice
            else None,
            payments=[
                PaymentRow(
                    p.natural_id,
                    p.amount,
                    p.confirmations,
                    p.block_height,
                    p.status,
                    self._explorer(invoice.chain, p.natural_id) if invoice else None,
                )
                for p in payments
            ],
            timeline=timeline[-TIMELINE_LIMIT:],
            actions=_actions(order.status, physical),
        )

    def _explorer(self, chain: Chain, natural_id: str) -> str | None:
        cluster = "testnet" if "testnet" in self._settings.sol_rpc_url.get_secret_value() else "devnet"
        return tx_url(
            chain,
            self._settings.network,
            natural_id,
            eth_chain_id=self._settings.eth_chain_id,
            sol_testnet_cluster=cluster,
        )


def _actions(status: OrderStatus, physical: bool) -> frozenset[AdminAction]:
    actions = set()
    if status is OrderStatus.paid and physical:
        actions.add(AdminAction.ship)
    if status in OrderStatus.open():
        actions |= {AdminAction.cancel, AdminAction.confirm}
    if status is OrderStatus.awaiting_payment:
        actions.add(AdminAction.expire)
    return frozenset(actions)


def _row(order: Order, user: User) -> OrderRow:
    return OrderRow(
        order.id,
        order.created_at,
        order.status,
        order.problem,
        from_minor(order.total_minor),
        order.fiat_currency,
        f"@{user.username}" if user.username else str(user.telegram_id),
    )


def _timeline(audit: list[AuditLog], outbox: list[OutboxMessage], buyer: int) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(a.created_at, a.action, a.actor, _change(a.before, a.after), a.reason, message=False)
        for a in audit
    ]
    entries += [
        TimelineEntry(
            m.created_at,
            m.kind,
            "buyer" if m.chat_id == buyer else str(m.chat_id),
            m.status.value,
            m.last_error if m.status is OutboxStatus.failed else None,
            message=True,
        )
        for m in outbox
    ]
    return sorted(entries, key=lambda e: e.at)


def _change(before: dict[str, object] | None, after: dict[str, object] | None) -> str:
    old, new = (before or {}).get("status"), (after or {}).get("status")
    if old and new and old != new:
        return f"{old} → {new}"
    return str(new or old or "")
