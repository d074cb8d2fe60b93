"""A shop wired to a chain backend, for payment tests: place orders through the services, run the
observer's cycles and send the outbox through a recording bot."""

import random
from dataclasses import dataclass, replace
from typing import Any

from aiogram import Bot
from aiogram.methods import SendMessage
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from handlers.notices import NoticeRenderer
from l10n import Translator
from models.chains import Asset
from models.enums import Chain, OrderStatus, StockStatus
from models.ops import OutboxMessage
from models.orders import DerivationCounter, Invoice, Order, Payment
from models.shop import StockUnit
from processing.chains.base import ChainBackend, TokenBackend
from processing.observer import Observer
from processing.outbox import OutboxSender
from services.delivery import OutboxDelivery
from services.payments.rates import rate_service_from_settings
from services.shop.cart import CartService
from services.shop.checkout import CheckoutService
from services.shop.users import UserService
from services.wallet.goods import GoodsCipher
from services.wallet.merchant import load_wallet
from tests.recording import RecordingSession


async def fresh_addresses(sessions: async_sessionmaker[AsyncSession], chain: Chain) -> None:
    """Start the chain's derivation at a random index, as in a wallet used before: tests share one node,
    so index 0 may already hold earlier tests' payments."""
    async with sessions.begin() as s:
        await s.execute(insert(DerivationCounter).values(chain=chain, next_index=random.randrange(10**3, 10**9)))


async def place_order(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    telegram_id: int,
    product_id: int,
    quantity: int,
    chain: Chain,
    token: str | None = None,
    tokens: tuple[Asset, ...] = (),
) -> Invoice:
    """A buyer puts `quantity` in the cart and checks out in `chain`, or in its token `token` (one of `tokens`,
    the wallet's confirmed tokens), through the services."""
    async with sessions() as s:
        user = await UserService(s).register(telegram_id, None, "en")
        await CartService(s).add_from_card(user.id, product_id, quantity)
        wallet = replace(load_wallet(settings), tokens=tokens)
        checkout = CheckoutService(s, settings, wallet, rate_service_from_settings(settings))
        result = await checkout.checkout(user.id, chain, token)
        async with s.begin():
            return (await s.execute(select(Invoice).where(Invoice.order_id == result.order_id))).scalar_one()


@dataclass
class Shop:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    observer: Observer
    sender: OutboxSender
    telegram: RecordingSession
    tokens: tuple[Asset, ...] = ()  # what the wallet offers besides the coins

    @classmethod
    def build(
        cls,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        goods: GoodsCipher,
        chain: Chain,
        backend: ChainBackend,
        token_backend: TokenBackend | None = None,
        tokens: tuple[Asset, ...] = (),
    ) -> "Shop":
        telegram = RecordingSession()
        bot = Bot(settings.bot_token.get_secret_value(), session=telegram)
        return cls(
            settings,
            sessions,
            Observer(sessions, settings, {chain: backend}, {chain: token_backend} if token_backend else {}),
            OutboxSender(OutboxDelivery(sessions, goods, settings), bot, NoticeRenderer(Translator(), "en")),
            telegram,
            tokens,
        )

    async def order(
        self, telegram_id: int, product_id: int, quantity: int, chain: Chain, token: str | None = None
    ) -> Invoice:
        return await place_order(
            self.settings, self.sessions, telegram_id, product_id, quantity, chain, token, self.tokens
        )

    async def status(self, order_id: int) -> OrderStatus:
        return await self.one(select(Order.status).where(Order.id == order_id))  # type: ignore[no-any-return]

    async def one(self, stmt: Any) -> Any:
        async with self.sessions() as s:
            return (await s.execute(stmt)).scalar_one()

    async def outbox(self, kind: str) -> list[dict[str, Any]]:
        async with self.sessions() as s:
            rows = (
                await s.execute(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id))
            ).scalars()
            return [{"chat_id": m.chat_id, "order_id": m.order_id, **m.params} for m in rows]

    async def units(self, status: StockStatus) -> int:
        return int(await self.one(select(func.count()).where(StockUnit.status == status)))

    async def payments(self) -> int:
        return int(await self.one(select(func.count()).select_from(Payment)))

    async def sent_texts(self, chat_id: int) -> list[str]:
        await self.sender.send_due()
        return [c.text for c in self.telegram.calls if isinstance(c, SendMessage) and c.chat_id == chat_id]
