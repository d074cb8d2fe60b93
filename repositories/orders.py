"""Orders, their items and invoices: reading them, and the conditional updates that move them.
Flushes, never commits. Only services.orders.lifecycle changes an order's status."""

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    ScalarSelect,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import ReturningInsert

from models.base import Base
from models.enums import Chain, OrderProblem, OrderStatus, ProductKind
from models.orders import Invoice, InvoiceMessage, Order, OrderItem, Payment
from models.shop import Product, User
from repositories.base import page_of


def has_physical_items() -> ColumnElement[bool]:
    """True for an order with at least one physical product (a deleted product no longer counts)."""
    return (
        exists()
        .where(OrderItem.order_id == Order.id, OrderItem.product_id == Product.id, Product.kind == ProductKind.physical)
        .correlate(Order)  # only the order: a query that also selects items or products still counts its own
    )


def goods_received() -> ColumnElement[bool]:
    """True for an order whose buyer has the goods: shipped, or paid for digital goods only and the message that
    delivers them went out (delivered_at)."""
    return or_(
        Order.status == OrderStatus.shipped,
        and_(Order.status == OrderStatus.paid, Order.delivered_at.is_not(None), ~has_physical_items()),
    )


def delivered() -> ColumnElement[bool]:
    """True for an order whose goods the buyer has: digital goods are sent when it is paid, physical ones when
    it is shipped. What lifetime spend and referral rewards count."""
    return or_(Order.status == OrderStatus.shipped, and_(Order.status == OrderStatus.paid, ~has_physical_items()))


@functools.cache
def _insert_into(table_of: type[Base]) -> Insert:
    """A Core INSERT into the class's table, run with each row's values. Built once; and no ORM object, so
    nothing to flush: for rows nothing reads back as objects (an order's items, its invoice)."""
    return insert(table_of.__table__)  # type: ignore[arg-type]


@functools.cache
def _columns_of(table_of: type[Base]) -> tuple[tuple[str, str], ...]:
    """Each mapped column of the class as (attribute name, column name); read once per class."""
    return tuple((attr.key, attr.columns[0].key) for attr in inspect(table_of).column_attrs)


def _values(new: Base) -> dict[str, Any]:
    """The column values set on a new ORM object (the columns not set take their defaults)."""
    given = new.__dict__  # the instance dict: what was set, and SQLAlchemy's state under its own key
    return {column: given[attr] for attr, column in _columns_of(type(new)) if attr in given}


@functools.cache
def _insert_order() -> ReturningInsert[Any]:
    """OrderRepo.add's INSERT, returning the whole row as written (defaults included); built once."""
    orders = Order.__table__
    return _insert_into(Order).returning(*orders.c)


@functools.cache
def _open_order_of() -> Select[tuple[int]]:
    """OrderRepo.open_order_of's statement, with the parameter `user_id`; built once (checkout runs it). Over the
    table's columns: a Core select, which the session runs without the ORM's result setup (the same SQL). The
    open statuses as equalities, not `in_`: a list given to `in_` is an expanding parameter, which SQLAlchemy
    writes into the SQL text on every execution, 33 µs of the cart statement that carries this one
    (CartRepo.to_check_out)."""
    orders = Order.__table__.c
    return (
        select(orders.id)
        .where(orders.user_id == bindparam("user_id"), or_(*(orders.status == s for s in OrderStatus.open())))
        .order_by(orders.id.desc())
        .limit(1)
    )


@functools.cache
def _status_locked() -> Select[tuple[OrderStatus]]:
    """OrderRepo.status_locked's statement, with the parameter `order_id`; built once (every invoice shown)."""
    return select(Order.status).where(Order.id == bindparam("order_id")).with_for_update()


@functools.cache
def _add_invoice_message_if_unpaid() -> Insert:
    """OrderRepo.add_invoice_message_if_unpaid's statement, with the parameters `order_id`, `chat_id` and
    `message_id`; built once (every invoice shown). The order's row is locked as `_status_locked` locks it."""
    unpaid = (
        select(
            Order.id,
            bindparam("chat_id", type_=InvoiceMessage.chat_id.type),
            bindparam("message_id", type_=InvoiceMessage.message_id.type),
        )
        .where(Order.id == bindparam("order_id"), Order.status == OrderStatus.awaiting_payment)
        .with_for_update()
    )
    return insert(InvoiceMessage.__table__).from_select(["order_id", "chat_id", "message_id"], unpaid)  # type: ignore[arg-type]


class OrderRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, order: Order, items: Sequence[OrderItem]) -> Order:
        """The order, in the session from now on as a flush would leave it (every column as written, defaults
        included), and its items (each gets the order's id; they stay outside the session)."""
        # A Core INSERT ... RETURNING, whose row the object takes as loaded, then joins the session as if read:
        # the same row as a flush writes, without the unit of work a flush runs for one object.
        row = (await self._s.execute(_insert_order(), _values(order))).one()._mapping
        for attr, column in _columns_of(Order):
            set_committed_value(order, attr, row[column])
        make_transient_to_detached(order)
        self._s.add(order)
        for item in items:
            item.order_id = order.id
        if items:  # an empty list of rows would be one INSERT of defaults
            await self._s.execute(_insert_into(OrderItem), [_values(item) for item in items])
        return order

    async def add_invoice(self, invoice: Invoice) -> None:
        """The invoice's row; the object stays outside the session."""
        await self._s.execute(_insert_into(Invoice), _values(invoice))

    async def get(self, order_id: int) -> Order | None:
        """Fresh from the database, also when the session holds an older copy."""
        return await self._s.get(Order, order_id, populate_existing=True)

    async def owned(self, order_id: int, user_id: int) -> Order | None:
        """The order only when it belongs to this user: others' orders look exactly like missing ones."""
        result = await self._s.execute(select(Order).where(Order.id == order_id, Order.user_id == user_id))
        return result.scalar_one_or_none()

    @staticmethod
    def open_order_column() -> ScalarSelect[int]:
        """`open_order_of` as a column, with the same parameter `user_id`: a read that needs it beside what it
        reads carries it in its own statement (CartRepo.to_check_out)."""
        return _open_order_of().scalar_subquery()

    async def open_order_of(self, user_id: int) -> int | None:
        """The id of the buyer's latest open order (OrderStatus.open), if they have one; only its id, as checkout
        needs no more of it."""
        return (await self._s.execute(_open_order_of(), {"user_id": user_id})).scalar_one_or_none()

    async def units_bought(self, user_id: int, product_id: int, since: datetime) -> int:
        """Units of the product in the user's open and sold orders placed at or after `since`: what a per-buyer
        limit counts (expired, cancelled and unfulfilled orders do not)."""
        result = await self._s.execute(
            select(func.coalesce(func.sum(OrderItem.quantity), 0))
            .join(Order, Order.id == OrderItem.order_id)
            .where(
                Order.user_id == user_id,
                OrderItem.product_id == product_id,
                Order.status.in_((*OrderStatus.open(), *OrderStatus.sold())),
                Order.created_at >= since,
            )
        )
        return int(result.scalar_one())

    async def warranty_days(self, order_id: int) -> int | None:
        """The longest warranty among the order's products (deleted ones no longer count); None: none has one."""
        result = await self._s.execute(
            select(func.max(Product.warranty_days))
            .join(OrderItem, OrderItem.product_id == Product.id)
            .where(OrderItem.order_id == order_id)
        )
        days = result.scalar_one_or_none()
        return None if days is None else int(days)

    async def items(self, order_id: int) -> list[OrderItem]:
        return list(
            (
                await self._s.execute(select(OrderItem).where(OrderItem.order_id == order_id).order_by(OrderItem.id))
            ).scalars()
        )

    async def locked(self, order_id: int) -> Order | None:
        """The order, fresh from the database and row-locked on PostgreSQL until the transaction ends
        (this serialises concurrent reconcilers of one order; SQLite's BEGIN IMMEDIATE does so anyway)."""
        return (
            await self._s.execute(
                select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()

    async def invoice(self, order_id: int) -> Invoice | None:
        return (await self._s.execute(select(Invoice).where(Invoice.order_id == order_id))).scalar_one_or_none()

    async def status_locked(self, order_id: int) -> OrderStatus | None:
        """The order's status (None: no such order), its row locked on PostgreSQL until the transaction ends,
        as `locked` does, without loading the order."""
        result = await self._s.execute(_status_locked(), {"order_id": order_id})
        return result.scalar_one_or_none()

    async def add_invoice_message_if_unpaid(self, order_id: int, chat_id: int, message_id: int) -> bool:
        """Remember the invoice message if the order awaits payment, in one statement that waits for a
        transition in flight as `status_locked` does. False, adding nothing: missing, or moved on."""
        values = {"order_id": order_id, "chat_id": chat_id, "message_id": message_id}
        result = await self._s.execute(_add_invoice_message_if_unpaid(), values)
        return bool(getattr(result, "rowcount", 0) == 1)

    async def add_invoice_message(self, order_id: int, chat_id: int, message_id: int) -> None:
        values = {"order_id": order_id, "chat_id": chat_id, "message_id": message_id}
        await self._s.execute(_insert_into(InvoiceMessage), values)

    async def take_invoice_messages(self, order_id: int) -> list[tuple[int, int]]:
        """(chat id, message id) of the order's invoice messages, oldest first, removed: whoever takes them
        edits them, once."""
        result = await self._s.execute(
            delete(InvoiceMessage)
            .where(InvoiceMessage.order_id == order_id)
            .returning(InvoiceMessage.chat_id, InvoiceMessage.message_id)
        )
        return sorted((int(chat), int(message)) for chat, message in result.tuples())

    async def payments(self, invoice_id: int) -> list[Payment]:
        return list(
            (
                await self._s.execute(select(Payment).where(Payment.invoice_id == invoice_id).order_by(Payment.id))
            ).scalars()
        )

    async def expiring(self, now: datetime, within: timedelta) -> list[Order]:
        """Orders awaiting payment whose invoice runs out within `within` of `now` and that have not been
        warned yet."""
        result = await self._s.execute(
            select(Order)
            .where(
                Order.status == OrderStatus.awaiting_payment,
                Order.expiry_warned_at.is_(None),
                Order.expires_at <= now + within,
                Order.expires_at > now,
            )
            .order_by(Order.id)
        )
        return list(result.scalars())

    async def mark_warned(self, order_id: int, at: datetime) -> bool:
        """Note that the buyer was warned of the expiry; False, changing nothing, when they already were."""
        result = await self._s.execute(
            update(Order).where(Order.id == order_id, Order.expiry_warned_at.is_(None)).values(expiry_warned_at=at)
        )
        return getattr(result, "rowcount", 0) == 1

    async def mark_delivered(self, order_id: int, at: datetime) -> None:
        """Stamp the first delivery of the order's goods; a later resend keeps the first time."""
        await self._s.execute(
            update(Order).where(Order.id == order_id, Order.delivered_at.is_(None)).values(delivered_at=at)
        )

    async def of_user(self, user_id: int, page: int, size: int) -> tuple[list[Order], bool]:
        stmt = select(Order).where(Order.user_id == user_id).order_by(Order.id.desc())
        return await page_of(self._s, stmt, page, size)

    async def overdue(self, chain: Chain, now: datetime) -> list[int]:
        """Open orders paid in `chain` whose deadline has passed at `now`, oldest first."""
        result = await self._s.execute(
            select(Order.id)
            .join(Invoice, Invoice.order_id == Order.id)
            .where(Invoice.chain == chain, Order.status.in_(OrderStatus.open()), Order.expires_at <= now)
            .order_by(Order.id)
        )
        return [int(i) for i in result.scalars()]

    async def page(
        self, statuses: Sequence[OrderStatus], physical: bool | None, page: int, size: int
    ) -> tuple[list[tuple[Order, User]], bool]:
        """Newest first, with the buyer; `physical` narrows to orders with (True) or without (False) physical
        items."""
        stmt = select(Order, User).join(User, User.id == Order.user_id).where(Order.status.in_(statuses))
        if physical is not None:
            stmt = stmt.where(has_physical_items() if physical else ~has_physical_items())
        return await page_of(self._s, stmt.order_by(Order.id.desc()), page, size)

    async def counts(self) -> dict[tuple[OrderStatus, bool], int]:
        """How many orders per (status, has physical items)."""
        physical = has_physical_items().label("physical")
        result = await self._s.execute(select(Order.status, physical, func.count()).group_by(Order.status, physical))
        return {(status, bool(phys)): int(n) for status, phys, n in result.tuples()}

    async def problems(self, page: int, size: int) -> tuple[list[Order], bool]:
        """Orders in the problem queue, oldest first: they have waited longest."""
        return await page_of(self._s, select(Order).where(Order.problem.is_not(None)).order_by(Order.id), page, size)

    async def is_physical(self, order_id: int) -> bool:
        return bool((await self._s.execute(select(has_physical_items()).where(Order.id == order_id))).scalar())

    async def set_address(self, order_id: int, sealed: bytes) -> bool:
        """Store the order's sealed shipping address, only while the order is unpaid (until then the buyer may
        change it); False, changing nothing, once it has moved on."""
        result = await self._s.execute(
            update(Order)
            .where(Order.id == order_id, Order.status.in_(OrderStatus.open()))
            .values(address_enc=sealed, address_erased_at=None)
        )
        return getattr(result, "rowcount", 0) == 1

    async def latest_address(self, user_id: int) -> tuple[int, bytes] | None:
        """(order id, sealed address) of the buyer's newest order that still has an address."""
        row = (
            await self._s.execute(
                select(Order.id, Order.address_enc)
                .where(Order.user_id == user_id, Order.address_enc.is_not(None))
                .order_by(Order.id.desc())
                .limit(1)
            )
        ).first()
        return (int(row[0]), bytes(row[1])) if row is not None and row[1] is not None else None

    async def addresses_due(self, cutoff: datetime, limit: int) -> list[int]:
        """Orders that still hold an address although they were shipped, or closed for good without being
        shipped (expired, cancelled, or closed with money but without goods and no problem left open), at or
        before `cutoff`. Oldest first."""
        closed_unshipped = or_(
            Order.status.in_((OrderStatus.expired, OrderStatus.cancelled)),
            and_(Order.status.in_(OrderStatus.unfulfilled()), Order.problem.is_(None)),
        )
        result = await self._s.execute(
            select(Order.id)
            .where(
                Order.address_enc.is_not(None),
                or_(
                    and_(Order.status == OrderStatus.shipped, Order.shipped_at <= cutoff),
                    and_(closed_unshipped, Order.closed_at <= cutoff),
                ),
            )
            .order_by(Order.id)
            .limit(limit)
        )
        return [int(i) for i in result.scalars()]

    async def erase_address(self, order_id: int, at: datetime) -> bool:
        """Set the sealed address to NULL; False, changing nothing, when it is already gone."""
        result = await self._s.execute(
            update(Order)
            .where(Order.id == order_id, Order.address_enc.is_not(None))
            .values(address_enc=None, address_erased_at=at)
        )
        return getattr(result, "rowcount", 0) == 1

    async def move(self, order_id: int, from_statuses: Sequence[OrderStatus], **values: Any) -> bool:
        """Conditional status change: applies only while the order is in one of `from_statuses`."""
        result = await self._s.execute(
            update(Order).where(Order.id == order_id, Order.status.in_(from_statuses)).values(**values)
        )
        return getattr(result, "rowcount", 0) == 1

    async def extend_once(self, order_id: int, invoice_id: int, until: datetime) -> bool:
        """Move an open order's deadline (and its invoice's) to `until`, once per order (grace_used)."""
        result = await self._s.execute(
            update(Order)
            .where(Order.id == order_id, Order.status.in_(OrderStatus.open()), Order.grace_used.is_(False))
            .values(expires_at=until, grace_used=True)
        )
        if getattr(result, "rowcount", 0) != 1:
            return False
        await self._s.execute(update(Invoice).where(Invoice.id == invoice_id).values(expires_at=until))
        return True

    async def flag(self, order_id: int, problem: OrderProblem) -> bool:
        """Put the order in the problem queue unless it is already there for this reason."""
        result = await self._s.execute(
            update(Order).where(Order.id == order_id, Order.problem.is_distinct_from(problem)).values(problem=problem)
        )
        return getattr(result, "rowcount", 0) == 1

    async def clear_problem(self, order_id: int, problem: OrderProblem, **values: object) -> bool:
        """Take the order out of the problem queue, only while it is still there for `problem`."""
        result = await self._s.execute(
            update(Order).where(Order.id == order_id, Order.problem == problem).values(problem=None, **values)
        )
        return getattr(result, "rowcount", 0) == 1
