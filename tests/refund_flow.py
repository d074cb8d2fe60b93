"""Steps of a refund on the real Dispatcher, shared by the refund tests: the admin opens one from the problem
queue, its notice reaches the buyer, the buyer presses its button and sends an address."""

from typing import Any

from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import SendMessage, TelegramMethod
from bip_utils import SegwitBech32Encoder
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from handlers.admin.order_views import ApAction, ProblemCb
from l10n import Translator
from models.orders import Refund
from processing.outbox import OutboxSender
from services.payments.rates import rate_service_from_settings
from services.wallet.goods import GoodsCipher
from services.wallet.merchant import load_wallet
from tests.admin_flow import ADMIN
from tests.payflow import Shop
from tests.recording import RecordingSession
from tests.telegram import Person, Telegram, buttons

GIVE_ADDRESS = "💸 Send my refund address"
TAKE_CREDIT = "💳 Take it as store credit"


def dispatcher_of(shop: Shop, goods: GoodsCipher) -> Telegram:
    """The real Dispatcher of a shop whose observer watches a real node."""
    container = Container(
        settings=shop.settings,
        sessions=shop.sessions,
        translator=Translator(),
        wallet=load_wallet(shop.settings),
        rates=rate_service_from_settings(shop.settings),
        goods=goods,
        observer=shop.observer,
    )
    session = RecordingSession()
    dp = create_dispatcher(container, MemoryStorage())
    return Telegram(dp=dp, bot=create_bot(shop.settings, session), session=session)


async def open_refund(tg: Telegram, order_id: int, basis: str = "the coins") -> list[TelegramMethod[Any]]:
    """The admin opens the order's problem, presses "Refund on chain" and the button of `basis` ("the coins",
    or "today" for their value at today's rate)."""
    calls = await tg.press(ADMIN, ProblemCb(action=ApAction.view, id=order_id))
    calls = await tg.press(ADMIN, buttons(calls)["💸 Refund on chain"])
    (label,) = [b for b in buttons(calls) if b.endswith(f"{basis})")]
    return await tg.press(ADMIN, buttons(calls)[label])


async def buyer_asked(
    tg: Telegram, sender: OutboxSender, buyer: Person, label: str = GIVE_ADDRESS
) -> list[TelegramMethod[Any]]:
    """The outbox goes out; the buyer presses the refund notice's button `label` (give the address, or take it
    as store credit). The calls of that press."""
    before = len(tg.session.calls)
    await sender.send_due()
    asks = [
        c
        for c in tg.session.calls[before:]
        if isinstance(c, SendMessage) and c.chat_id == buyer.id and label in _labels(c)
    ]
    assert len(asks) == 1, "the buyer got no refund notice with its button"
    return await tg.press(buyer, _labels(asks[0])[label])


def _labels(message: SendMessage) -> dict[str, str]:
    markup = message.reply_markup
    rows = getattr(markup, "inline_keyboard", None) or []
    return {b.text: b.callback_data or "" for row in rows for b in row}


async def refund_of(sessions: async_sessionmaker[AsyncSession], order_id: int) -> Refund:
    """The order's newest refund."""
    async with sessions() as s:
        stmt = select(Refund).where(Refund.order_id == order_id).order_by(Refund.id.desc()).limit(1)
        return (await s.execute(stmt)).scalar_one()


def ltc_address() -> str:
    """A valid Litecoin mainnet address (native segwit) that is nobody's."""
    return str(SegwitBech32Encoder.Encode("ltc", 0, bytes(range(20))))
