"""Sending the outbox after commit: render each message in the recipient's language, send, mark sent.

A crash between sending and marking may send a message twice; it never credits or delivers twice,
because the state change that queued it committed exactly once. Goods are decrypted only here.
"""

import logging
from datetime import datetime, timedelta
from html import escape
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.admin.order_views import open_order
from handlers.callbacks import OrderAction, OrderCb
from l10n import Translator
from models.database import read_only
from models.enums import OrderProblem, OutboxStatus
from models.ops import OutboxMessage
from models.orders import Order
from models.shop import User
from models.types import utcnow
from repositories.orders import OrderRepo
from repositories.outbox import OutboxRepo
from repositories.stock import StockRepo
from repositories.users import UserRepo
from services.money import format_amount
from services.outbox import notify_admins
from services.wallet.goods import GoodsCipher

log = logging.getLogger(__name__)
CLAIM_SECONDS = 60
MAX_ATTEMPTS = 8
MESSAGE_LIMIT = 4000  # Telegram allows 4096 characters


class OutboxSender:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bot: Bot,
        translator: Translator,
        goods: GoodsCipher | None,
        default_language: str,
        admin_ids: frozenset[int],
    ) -> None:
        self._sessions = sessions
        self._admin_ids = admin_ids  # told when a delivery fails for good
        self._bot = bot
        self._translator = translator
        self._goods = goods
        self._default_language = default_language
        self._flood_until = utcnow()  # after a 429, nothing is sent before Telegram's retry_after has passed

    async def send_due(self, limit: int = 50) -> int:
        """Send what is due; returns how many were sent. Safe to run in several processes at once."""
        now = utcnow()
        if now < self._flood_until:
            return 0
        async with self._sessions() as s, read_only(s):
            due = [m.id for m in await OutboxRepo(s).due(now, limit)]
        sent = 0
        for message_id in due:
            try:
                sent += await self._send_one(message_id, now)
            except TelegramRetryAfter as e:  # flood control: stop the batch, the rest stays due
                self._flood_until = now + timedelta(seconds=e.retry_after)
                log.warning("outbox: Telegram asked to wait %s s", e.retry_after)
                break
        return sent

    async def _send_one(self, message_id: int, now: datetime) -> bool:
        async with self._sessions() as s:
            async with s.begin():
                if not await OutboxRepo(s).claim(message_id, now, now + timedelta(seconds=CLAIM_SECONDS)):
                    return False  # another process has it
                message = await s.get(OutboxMessage, message_id)
                assert message is not None
                texts = await self._render(s, message)
            try:
                for text in texts:
                    await self._bot.send_message(message.chat_id, text, reply_markup=_open_order(message))
            except TelegramRetryAfter as e:
                async with s.begin():
                    await OutboxRepo(s).retry_at(message_id, now + timedelta(seconds=e.retry_after), "429")
                raise
            except TelegramForbiddenError:
                async with s.begin():
                    await OutboxRepo(s).finish(message_id, OutboxStatus.failed, now, "blocked by the user")
                    await UserRepo(s).set_blocked_bot(message.chat_id, True)
                    await self._delivery_failed(s, message, "blocked by the user")
                return False
            except Exception as e:  # network trouble, Telegram 5xx: retry with backoff
                log.warning("outbox %s (%s) failed: %s", message_id, message.kind, type(e).__name__)
                async with s.begin():
                    if message.attempts >= MAX_ATTEMPTS or isinstance(e, TelegramBadRequest):
                        await OutboxRepo(s).finish(message_id, OutboxStatus.failed, now, type(e).__name__)
                        await self._delivery_failed(s, message, type(e).__name__)
                    else:
                        await OutboxRepo(s).retry_at(
                            message_id, now + timedelta(seconds=2**message.attempts), type(e).__name__
                        )
                return False
            async with s.begin():
                await OutboxRepo(s).finish(message_id, OutboxStatus.sent, utcnow())
                if message.kind == "paid" and message.order_id is not None:
                    await s.execute(
                        update(Order)
                        .where(Order.id == message.order_id, Order.delivered_at.is_(None))
                        .values(delivered_at=utcnow())
                    )
            return True

    async def _delivery_failed(self, s: AsyncSession, message: OutboxMessage, error: str) -> None:
        """The outbox gave up on a delivery: the order goes to the admins' problem queue."""
        if (
            message.kind == "paid"
            and message.order_id is not None
            and await OrderRepo(s).flag(message.order_id, OrderProblem.delivery_failed)
        ):
            await notify_admins(s, self._admin_ids, "admin.delivery_failed", message.order_id, error=error)

    async def _render(self, s: AsyncSession, message: OutboxMessage) -> list[str]:
        language = (await s.execute(select(User.language).where(User.telegram_id == message.chat_id))).scalar()
        l10n = self._translator(language or self._default_language)
        params: dict[str, Any] = {"order_id": message.order_id, **message.params}
        invoice = None
        if message.order_id is not None:
            invoice = await OrderRepo(s).invoice(message.order_id)
        if invoice is not None:
            params["coin"] = invoice.chain.upper()
            for key in ("remainder", "received"):
                if key in params:
                    params[key] = format_amount(invoice.chain, int(params[key]))
            params.setdefault("address", invoice.address)
        if "problem" in params:  # stored as the enum value; admins read it in their language
            params["problem"] = l10n(f"admin.problems.kind.{params['problem']}")
        text = l10n(f"notify.{message.kind}", **params)
        if message.kind != "paid" or message.order_id is None:
            return [text]
        goods = (
            [escape(self._goods.open(blob)) for blob in await StockRepo(s).sold_payloads(message.order_id)]
            if self._goods
            else []
        )
        if message.params.get("overpaid"):
            text += "\n\n" + l10n("notify.overpaid_note")
        return _chunks([text, *(f"<code>{g}</code>" for g in goods)] if goods else [text, l10n("notify.ship_soon")])


def _open_order(message: OutboxMessage) -> Any:
    """A button to the order: the buyer's own view, or for an admin notice the admin order view."""
    if message.order_id is None:
        return None
    kb = InlineKeyboardBuilder()
    kb.button(
        text=f"#{message.order_id}",
        callback_data=open_order(message.order_id)
        if message.kind.startswith("admin.")
        else OrderCb(action=OrderAction.view, id=message.order_id),
    )
    return kb.as_markup()


def _chunks(parts: list[str]) -> list[str]:
    """Join parts into as few messages as fit Telegram's length limit."""
    messages: list[str] = []
    for part in parts:
        if messages and len(messages[-1]) + 1 + len(part) <= MESSAGE_LIMIT:
            messages[-1] += "\n" + part
        else:
            messages.append(part[:MESSAGE_LIMIT])
    return messages
