"""Sending the outbox after commit: claim, render, send, record; Telegram's limits decide the pace.

The database side is services.outbox.OutboxDelivery, rendering is injected by the composition root
(handlers.notices.NoticeRenderer), so this loop knows neither SQL nor handlers.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup

from models.types import utcnow
from services.delivery import Notice, OutboxDelivery

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BLOCKED = "blocked by the user"
# Telegram's answers to an edit of a message that is gone, too old, or not one to edit: a new message instead.
NOT_EDITABLE = (
    "message to edit not found",
    "message can't be edited",
    "there is no caption in the message",
    "MESSAGE_ID_INVALID",
)


class Rendered(Protocol):
    """A notice as Telegram will show it (handlers.notices.RenderedNotice)."""

    @property
    def text(self) -> str: ...
    @property
    def markup(self) -> InlineKeyboardMarkup | None: ...
    @property
    def documents(self) -> tuple[BufferedInputFile, ...]: ...


Render = Callable[[Notice], Rendered]


class OutboxSender:
    def __init__(self, delivery: OutboxDelivery, bot: Bot, render: Render) -> None:
        self._delivery = delivery
        self._bot = bot
        self._render = render
        self._flood_until = utcnow()  # after a 429, nothing is sent before Telegram's retry_after has passed

    async def send_due(self, limit: int = 50) -> int:
        """Send what is due; returns how many were sent. Safe to run in several processes at once."""
        now = utcnow()
        if now < self._flood_until:
            return 0
        sent = 0
        for message_id in await self._delivery.due(now, limit):
            try:
                sent += await self._send_one(message_id, now)
            except TelegramRetryAfter as e:  # flood control: stop the batch, the rest stays due
                self._flood_until = now + timedelta(seconds=e.retry_after)
                log.warning("outbox: Telegram asked to wait %s s", e.retry_after)
                break
        return sent

    async def _send_one(self, message_id: int, now: datetime) -> bool:
        notice = await self._delivery.claim(message_id, now)
        if notice is None:
            return False  # another process has it
        try:
            rendered = self._render(await self._delivery.with_goods(notice))
            if notice.edits is None or not await self._edited(notice.chat_id, notice.edits, rendered):
                await self._bot.send_message(notice.chat_id, rendered.text, reply_markup=rendered.markup)
            for document in rendered.documents:
                await self._bot.send_document(notice.chat_id, document)
        except TelegramRetryAfter as e:
            await self._delivery.retry(notice, now + timedelta(seconds=e.retry_after), "429")
            raise
        except TelegramForbiddenError:
            await self._delivery.give_up(notice, now, BLOCKED, recipient_blocked=True)
            return False
        except Exception as e:  # network trouble, Telegram 5xx, or goods or a text that cannot be made: retry
            # with backoff, then give up; the messages behind this one go out meanwhile
            log.warning("outbox %s (%s) failed: %s", notice.id, notice.kind, type(e).__name__)
            if notice.attempts >= MAX_ATTEMPTS or isinstance(e, TelegramBadRequest):
                await self._delivery.give_up(notice, now, type(e).__name__)
            else:
                await self._delivery.retry(notice, now + timedelta(seconds=2**notice.attempts), type(e).__name__)
            return False
        await self._delivery.sent(notice, utcnow())
        return True

    async def _edited(self, chat_id: int, message_id: int, rendered: Rendered) -> bool:
        """Rewrite the caption of a message the chat holds (an invoice photo), taking its buttons away; False
        when Telegram will not edit it (deleted, or not a captioned message of this bot): then the caller
        sends the text as a new message. Editing it twice is no error."""
        try:
            await self._bot.edit_message_caption(
                chat_id=chat_id, message_id=message_id, caption=rendered.text, reply_markup=rendered.markup
            )
        except TelegramBadRequest as e:
            if "message is not modified" in e.message:
                return True
            if any(reason in e.message for reason in NOT_EDITABLE):
                return False
            raise
        return True
