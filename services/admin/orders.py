"""The admins' order desk: lists by status, the full picture of one order, and the four manual actions.

Every action runs in one transaction on a row-locked order, changes it with a conditional UPDATE and
raises OrderMovedOn (changing nothing) when the order is no longer where the admin saw it, so a
double press or two admins at once act exactly once. Each action leaves an audit row.
"""

from collections.abc import Awaitable, Callable
from typing import Any

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
    in_bucket,
)
from services.dto import OrderLine, OrderShipping
from services.money import from_minor
from services.orders.buyer import invoice_view
from services.orders.lifecycle import OrderLifecycle, admin
from services.payments.explorer import tx_url
from services.shop.catalog import NotFound
from services.shop.shipping import order_shipping
from services.wallet.goods import GoodsCipher

PAGE_SIZE = 8
TIMELINE_LIMIT = 20  # the latest entries; the message has to fit Telegram's 4096 characters


class AdminOrdersService:
    def __init__(self, session: AsyncSession, settings: Settings, goods: GoodsCipher | None) -> None:
        """`goods` opens shipping addresses for the admins' eyes."""
        self._session = session
        self._settings = settings
        self._goods = goods

    async def counts(self) -> dict[OrderBucket, int]:
        """How many orders each list holds."""
        async with read_only(self._session):
            raw = await OrderRepo(self._session).counts()
        return {
            bucket: sum(n for (status, physical), n in raw.items() if in_bucket(bucket, status, physical))
            for bucket in OrderBucket
        }

    async def page(self, bucket: OrderBucket, page: int) -> OrderPage:
        """One page of a list, newest first; "ready for shipment" with each order's shipping and address."""
        statuses, physical = BUCKETS[bucket]
        page = max(page, 0)
        async with read_only(self._session):
            rows, more = await OrderRepo(self._session).page(statuses, physical, page, PAGE_SIZE)
        ships = bucket is OrderBucket.ready
        return OrderPage(
            bucket,
            [_row(order, user, order_shipping(order, self._goods) if ships else None) for order, user in rows],
            page,
            more,
        )

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

    async def ship(self, order_id: int, admin_id: int, tracking: str) -> AdminOrderView:
        """Paid order with physical items -> shipped with `tracking`; the buyer is told. Audited.
        Raises NotFound, OrderMovedOn (not paid, e.g. already shipped; or nothing physical to ship)."""

        async def ship(order: Order, lifecycle: OrderLifecycle) -> bool:
            is_physical = await OrderRepo(self._session).is_physical(order.id)
            return is_physical and await lifecycle.ship(order, admin(admin_id), tracking, utcnow())

        return await self._act(order_id, ship)

    async def cancel(self, order_id: int, admin_id: int, reason: str) -> AdminOrderView:
        """Unpaid order (also one whose payment is confirming) -> cancelled: its stock goes back, the buyer is
        told why. Audited. Raises NotFound, OrderMovedOn (paid, expired, already cancelled)."""
        return await self._act(order_id, lambda o, lc: lc.cancel(o, admin(admin_id), reason, utcnow()))

    async def expire(self, order_id: int, admin_id: int) -> AdminOrderView:
        """What the observer does to an unpaid order whose time is up, now: expired, stock back, the buyer's
        timeout counted, buyer and admins told. Audited. Raises NotFound, OrderMovedOn (anything but awaiting
        payment)."""
        return await self._act(order_id, lambda o, lc: lc.expire(o, admin(admin_id), utcnow(), "expired by admin"))

    async def confirm(self, order_id: int, admin_id: int, reason: str) -> AdminOrderView:
        """Confirm an open order's payment by hand, through the same transition as the observer's confirmation:
        the same units sold, delivery message and admin notices; the audit row carries the admin and
        `reason`. Raises NotFound, OrderMovedOn (already paid, expired, cancelled)."""
        return await self._act(order_id, lambda o, lc: lc.pay(o, admin(admin_id), utcnow(), reason=reason))

    async def _act(
        self, order_id: int, transition: Callable[[Order, OrderLifecycle], Awaitable[bool]]
    ) -> AdminOrderView:
        """One admin action: the row-locked order, its transition, and the order as it is now; OrderMovedOn
        (nothing changed) when the transition does not apply any more."""
        async with self._session.begin():
            order = await self._locked(order_id)
            if not await transition(order, OrderLifecycle(self._session, self._settings)):
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
            shipping=order_shipping(order, self._goods) if physical else None,
            close_reason=order.close_reason,
            total=from_minor(order.total_minor),
            currency=order.fiat_currency,
            buyer=BuyerInfo(buyer.telegram_id, buyer.username, buyer.language),
            lines=[
                OrderLine(i.product_name, i.quantity, from_minor(i.unit_price_minor))
                for i in await orders.items(order_id)
            ],
            invoice=invoice_view(invoice, self._settings) if invoice else None,
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


def _row(order: Order, user: User, shipping: OrderShipping | None) -> OrderRow:
    return OrderRow(
        order.id,
        order.created_at,
        order.status,
        order.problem,
        from_minor(order.total_minor),
        order.fiat_currency,
        f"@{user.username}" if user.username else str(user.telegram_id),
        shipping,
    )


def _timeline(audit: list[AuditLog], outbox: list[OutboxMessage], buyer: int) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            a.created_at,
            a.action,
            *_actor(a.actor),
            before=_status(a.before),
            after=_status(a.after),
            reason=a.reason,
        )
        for a in audit
    ]
    entries += [
        TimelineEntry(
            m.created_at,
            m.kind,
            "buyer" if m.chat_id == buyer else "admin",
            m.chat_id,
            delivery=m.status,
            reason=m.last_error if m.status is OutboxStatus.failed else None,
        )
        for m in outbox
    ]
    return sorted(entries, key=lambda e: e.at)


def _actor(actor: str) -> tuple[str, int | None]:
    """ "admin:42" -> ("admin", 42); "observer" -> ("observer", None)."""
    role, _, telegram_id = actor.partition(":")
    return role, int(telegram_id) if telegram_id.isdigit() else None


def _status(record: dict[str, Any] | None) -> OrderStatus | None:
    value = (record or {}).get("status")
    return OrderStatus(value) if isinstance(value, str) and value in set(OrderStatus) else None
