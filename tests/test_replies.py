"""An update's last call as its result (bot.replies): in Telegram webhook mode it rides in the HTTP response to
Telegram's POST, one request to the Bot API fewer per update; in polling mode aiogram makes the same call as a
request of its own. The bot is a real aiogram bot talking HTTP to the Bot API double."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiogram import Bot
from aiogram.fsm.storage.memory import MemoryStorage
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from bot.app import serve_telegram_updates
from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from tests.doubles.telegram import ApiCall, FakeUser, TelegramDouble, find_button

SECRET = "replies-test-secret"
Deliver = Callable[[dict[str, Any]], Awaitable[None]]


def bot_for(tg: TelegramDouble, container: Container) -> Bot:
    return create_bot(
        container.settings.model_copy(update={"telegram_api_url": tg.url, "bot_token": SecretStr(tg.token)})
    )


@asynccontextmanager
async def pushed(tg: TelegramDouble, container: Container) -> AsyncIterator[Deliver]:
    """The shop in Telegram webhook mode: the double POSTs each update and performs what the response carries."""
    settings = container.settings.model_copy(
        update={"telegram_webhook_url": "https://shop.example", "telegram_webhook_secret": SecretStr(SECRET)}
    )
    app = web.Application()
    serve_telegram_updates(app, create_dispatcher(container, MemoryStorage()), bot_for(tg, container), settings)
    async with TestServer(app) as server:

        async def deliver(update: dict[str, Any]) -> None:
            assert await tg.post_update(str(server.make_url("/telegram/webhook")), update, SECRET) == 200

        yield deliver


@asynccontextmanager
async def polled(tg: TelegramDouble, container: Container) -> AsyncIterator[Deliver]:
    """The shop long-polling the double; an update counts as delivered once it is acknowledged and handled."""
    dp = create_dispatcher(container, MemoryStorage())
    task = asyncio.create_task(dp.start_polling(bot_for(tg, container), handle_signals=False))
    await tg.wait_for(lambda: tg.polling)

    async def deliver(update: dict[str, Any]) -> None:
        await tg.wait_for(lambda: handled(tg, update), timeout=10)

    yield deliver
    await dp.stop_polling()
    await task


def handled(tg: TelegramDouble, update: dict[str, Any]) -> bool:
    """The update's last call was made: a press is answered, /start ends with the menu's keyboard."""
    if "callback_query" in update:
        return tg.callback_answer(update) is not None
    sent = tg.sent_to(update["message"]["chat"]["id"])
    return bool(sent) and "reply_markup" in sent[-1]


def requests(tg: TelegramDouble) -> list[ApiCall]:
    """What the bot sent to the Bot API about the buyer's chat, polling and start-up aside."""
    return [c for c in tg.calls if c.method not in {"getMe", "getUpdates", "deleteWebhook"}]


async def walk(tg: TelegramDouble, deliver: Deliver) -> tuple[list[list[str]], list[str]]:
    """/start, then Shop: per update, the methods the bot requested; and what the buyer read, in order."""
    buyer = FakeUser(id=7301, first_name="Rhea")
    done = 0
    per_update: list[list[str]] = []

    async def step(update: dict[str, Any]) -> None:
        nonlocal done
        await deliver(update)
        per_update.append([c.method for c in requests(tg)[done:]])
        done = len(requests(tg))

    await step(await tg.user_sends_text(buyer, "/start"))
    menu = tg.sent_to(buyer.id)[-1]
    press = await tg.user_presses(buyer, menu, find_button(menu, text="🛍 Shop"))
    await step(press)
    assert tg.callback_answer(press) is not None  # the button stopped spinning either way
    assert not tg.errors
    return per_update, [m.get("text", "") for m in tg.sent_to(buyer.id)]


async def test_the_last_call_rides_in_the_webhook_response_and_is_a_request_when_polling(
    container: Container,
) -> None:
    async with TelegramDouble() as tg, pushed(tg, container) as deliver:
        webhook_requests, webhook_read = await walk(tg, deliver)
        webhook_replies = [c.method for c in tg.webhook_replies]
    async with TelegramDouble() as tg, polled(tg, container) as deliver:
        polling_requests, polling_read = await walk(tg, deliver)
        assert tg.webhook_replies == []

    assert webhook_read == polling_read and len(webhook_read) == 3  # welcome, menu, shop: the same screens
    assert polling_requests == [["sendMessage", "sendMessage"], ["editMessageText", "answerCallbackQuery"]]
    assert webhook_requests == [["sendMessage"], ["editMessageText"]]  # one request fewer per update
    assert webhook_replies == ["sendMessage", "answerCallbackQuery"]
