"""Helpers for the admin order desk tests: buyers order through the real Dispatcher, the observer's own
code path pays them, and the outbox goes out through the recording session."""

from typing import Any

from aiogram.methods import AnswerCallbackQuery, SendMessage, TelegramMethod
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from handlers.callbacks import (
    CartAction,
    CartCb,
    OrderAction,
    OrderCb,
    PayCb,
    ProductAction,
    ProductCb,
    ShipAction,
    ShipCb,
)
from handlers.notices import NoticeRenderer
from l10n import Translator
from models.enums import Chain, ProductKind, StockStatus
from models.ops import AuditLog, OutboxMessage
from models.orders import Invoice, Order
from models.shop import Product, StockUnit, User
from models.types import utcnow
from processing.outbox import OutboxSender
from services.delivery import OutboxDelivery
from services.payments.reconcile import PaymentService
from services.payments.seen import SeenPayment
from services.wallet.goods import GoodsCipher
from tests.conftest import ADMIN_ID
from tests.telegram import Person, Telegram

SECOND_ADMIN = 900_000_002
PARCEL_ADDRESS = "Test Buyer\n1 Test Street\n12345 Testville"
ADMIN = Person(id=ADMIN_ID, first_name="Ada", username="ada")
ADMIN_2 = Person(id=SECOND_ADMIN, first_name="Bo", username="bo")


async def place(
    tg: Telegram,
    sessions: async_sessionmaker[AsyncSession],
    person: Person,
    product_id: int,
    qty: int = 1,
    chain: Chain = Chain.btc,
    *,
    address: str | None = None,
    option: int = 0,
) -> int:
    """Cart and checkout through the buttons; for a physical product with the shipping `address` typed (a
    made-up one by default) and shipping option `option` chosen (0: the shop offers none). Returns the new
    order's id."""
    if await one(sessions, select(Product.kind).where(Product.id == product_id)) is ProductKind.physical:
        address = address or PARCEL_ADDRESS
    await tg.press(person, ProductCb(action=ProductAction.add, id=product_id, qty=qty))
    if address is not None:
        await tg.press(person, CartCb(action=CartAction.checkout))
        await tg.send(person, address)
        if option:
            await tg.press(person, ShipCb(action=ShipAction.option, id=option))
    await tg.press(person, PayCb(chain=chain, ship=option))
    return int(
        await one(
            sessions,
            select(func.max(Order.id)).join(User, User.id == Order.user_id).where(User.telegram_id == person.id),
        )
    )


async def cancel(tg: Telegram, person: Person, order_id: int) -> list[TelegramMethod[Any]]:
    """The buyer presses Cancel on the invoice, then confirms; returns the calls of the confirmation."""
    await tg.press(person, OrderCb(action=OrderAction.cancel, id=order_id))
    return await tg.press(person, OrderCb(action=OrderAction.cancel_confirmed, id=order_id))


async def pay(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    order_id: int,
    amounts: list[int] | None = None,
    confirmations: int = 6,
) -> None:
    """What the chain shows for the order's invoice now (the full amount by default), applied by the
    observer's own code path. An empty list means the payments are gone."""
    async with sessions() as s:
        invoice = (await s.execute(select(Invoice).where(Invoice.order_id == order_id))).scalar_one()
    amounts = [invoice.amount_due] if amounts is None else amounts
    seen = [
        SeenPayment(f"{order_id:032x}{n:032x}:0", invoice.address, amount, confirmations, 800_000, "00" * 32)
        for n, amount in enumerate(amounts)
    ]
    async with sessions() as s:
        await PaymentService(s, settings).apply_scan(invoice.chain, invoice.id, seen, utcnow(), count_misses=True)


async def expire_overdue(sessions: async_sessionmaker[AsyncSession], settings: Settings, order_id: int) -> None:
    """The observer's expiry, run for an order whose time (and grace) is up."""
    async with sessions.begin() as s:
        await s.execute(update(Order).where(Order.id == order_id).values(expires_at=utcnow(), grace_used=True))
        chain = (await s.execute(select(Invoice.chain).where(Invoice.order_id == order_id))).scalar_one()
    async with sessions() as s:
        await PaymentService(s, settings).expire_overdue(chain, utcnow())


def outbox_sender(
    tg: Telegram, sessions: async_sessionmaker[AsyncSession], settings: Settings, goods: GoodsCipher
) -> OutboxSender:
    return OutboxSender(OutboxDelivery(sessions, goods, settings), tg.bot, NoticeRenderer(Translator(), "en"))


async def one(sessions: async_sessionmaker[AsyncSession], stmt: Any) -> Any:
    async with sessions() as s:
        return (await s.execute(stmt)).scalar_one()


async def rows(sessions: async_sessionmaker[AsyncSession], stmt: Any) -> list[Any]:
    async with sessions() as s:
        return list((await s.execute(stmt)).all())


async def order(sessions: async_sessionmaker[AsyncSession], order_id: int) -> Order:
    async with sessions() as s:
        return (await s.execute(select(Order).where(Order.id == order_id))).scalar_one()


async def outbox(sessions: async_sessionmaker[AsyncSession], kind: str) -> list[tuple[int, int | None, dict[str, Any]]]:
    return [
        (m.chat_id, m.order_id, m.params)
        for (m,) in await rows(
            sessions, select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
    ]


async def audit(sessions: async_sessionmaker[AsyncSession], order_id: int) -> list[AuditLog]:
    return [
        a
        for (a,) in await rows(
            sessions,
            select(AuditLog).where(AuditLog.entity == "order", AuditLog.entity_id == order_id).order_by(AuditLog.id),
        )
    ]


async def units(sessions: async_sessionmaker[AsyncSession], status: StockStatus, order_id: int | None = None) -> int:
    stmt = select(func.count()).where(StockUnit.status == status)
    if order_id is not None:
        stmt = stmt.where(StockUnit.order_id == order_id)
    return int(await one(sessions, stmt))


def alerts(calls: list[TelegramMethod[Any]]) -> list[str]:
    return [c.text for c in calls if isinstance(c, AnswerCallbackQuery) and c.text]


def sent_to(calls: list[TelegramMethod[Any]], chat_id: int) -> list[str]:
    return [c.text for c in calls if isinstance(c, SendMessage) and c.chat_id == chat_id]
