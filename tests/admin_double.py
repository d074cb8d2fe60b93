"""The real Dispatcher polling the HTTP Bot API double, for admin flows that need real HTTP:
document downloads (getFile + file URL), and 403/429 answers while broadcasting."""

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.fsm.storage.memory import MemoryStorage

from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from tests.conftest import ADMIN_ID, TOKEN
from tests.doubles.telegram import FakeUser, TelegramDouble, find_button

ADMIN = FakeUser(id=ADMIN_ID, first_name="Ada", username="ada")


@dataclass
class PolledShop:
    double: TelegramDouble
    bot: Bot
    container: Container
    last_press: dict[str, Any] = dataclasses.field(default_factory=dict)

    async def press(self, message: dict[str, Any], text: str) -> dict[str, Any]:
        """The admin presses the button labelled `text`; returns the bot's next message or edit."""
        seen = len(self.double.sent_to(ADMIN.id))
        self.last_press = await self.double.user_presses(ADMIN, message, find_button(message, text=text))
        return (await self.replies(seen, 1))[0]

    async def say(self, text: str, replies: int = 1) -> list[dict[str, Any]]:
        seen = len(self.double.sent_to(ADMIN.id))
        await self.double.user_sends_text(ADMIN, text)
        return await self.replies(seen, replies)

    async def upload(self, filename: str, content: bytes) -> dict[str, Any]:
        seen = len(self.double.sent_to(ADMIN.id))
        await self.double.user_sends_document(ADMIN, filename, content)
        return (await self.replies(seen, 1))[0]

    async def replies(self, seen: int, count: int) -> list[dict[str, Any]]:
        """The first `count` messages or edits in the admin's chat after the first `seen` ones."""

        def arrived() -> list[dict[str, Any]] | None:
            fresh = self.double.sent_to(ADMIN.id)[seen:]
            return fresh[:count] if len(fresh) >= count else None

        return await self.double.wait_for(arrived, timeout=10)

    async def answer_text(self) -> str:
        """The pop-up text that answered the last press."""
        answer = await self.double.wait_for(lambda: self.double.callback_answer(self.last_press), timeout=10)
        return str(answer.get("text", ""))


@asynccontextmanager
async def polled_shop(container: Container) -> AsyncIterator[PolledShop]:
    """The shop's dispatcher long-polling a fresh double, as `python -m bot` runs it."""
    async with TelegramDouble(token=TOKEN) as double:
        settings = container.settings.model_copy(update={"telegram_api_url": double.url})
        shop = dataclasses.replace(container, settings=settings)
        bot = create_bot(settings)
        dp = create_dispatcher(shop, MemoryStorage())
        polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
        await double.wait_for(lambda: double.polling, timeout=10)
        try:
            yield PolledShop(double, bot, shop)
        finally:
            await dp.stop_polling()
            await polling
