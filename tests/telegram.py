"""Feeding Telegram-shaped updates to the real Dispatcher and reading what the bot answered."""

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageCaption,
    EditMessageMedia,
    EditMessageText,
    SendDocument,
    SendMessage,
    SendPhoto,
    SendVideo,
    TelegramMethod,
)
from aiogram.types import ErrorEvent, InlineKeyboardMarkup, TelegramObject, Update

from tests.recording import RecordingSession


@dataclass(frozen=True)
class Person:
    id: int
    first_name: str = "Alice"
    username: str | None = "alice"
    language_code: str | None = "en"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": False,
            "first_name": self.first_name,
            "username": self.username,
            "language_code": self.language_code,
        }


@dataclass
class Telegram:
    """One chat-side view of the bot: send text, press buttons, see the calls each one caused."""

    dp: Dispatcher
    bot: Bot
    session: RecordingSession
    _update_ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    _message_ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    raised: list[BaseException] = field(default_factory=list)  # what handlers raised, though aiogram swallowed it

    def __post_init__(self) -> None:
        async def record(handler: Any, event: TelegramObject, data: dict[str, Any]) -> Any:
            if isinstance(event, ErrorEvent):
                self.raised.append(event.exception)
            return await handler(event, data)

        self.dp.errors.outer_middleware(record)

    async def feed(self, payload: dict[str, Any]) -> list[TelegramMethod[Any]]:
        """Feed one update as polling does: a method the update returns (its last call, see bot.replies) is
        then called. A handler that raised fails the caller, even though the shop's error handler (and, for a
        button, its callback answer) would hide it from the user."""
        before, errors = len(self.session.calls), len(self.raised)
        update = Update.model_validate({"update_id": next(self._update_ids), **payload}, context={"bot": self.bot})
        result = await self.dp.feed_update(self.bot, update)
        if isinstance(result, TelegramMethod):
            await self.dp.silent_call_request(self.bot, result)
        if len(self.raised) > errors:
            raise self.raised[-1]
        return self.session.calls[before:]

    async def send(self, person: Person, text: str) -> list[TelegramMethod[Any]]:
        command = (
            {"entities": [{"type": "bot_command", "offset": 0, "length": len(text.split(maxsplit=1)[0])}]}
            if text.startswith("/")
            else {}
        )
        return await self.send_content(person, text=text, **command)

    async def send_content(self, person: Person, **content: Any) -> list[TelegramMethod[Any]]:
        """A message with any content as Telegram describes it: `photo=[...sizes]`, `video={...}`,
        `document={...}`, `sticker={...}`, with or without `caption`."""
        return await self.feed(
            {
                "message": {
                    "message_id": next(self._message_ids),
                    "date": int(time.time()),
                    "chat": {"id": person.id, "type": "private", "first_name": person.first_name},
                    "from": person.as_json(),
                    **content,
                }
            }
        )

    async def bot_status(
        self, person: Person, old: str, new: str, chat: dict[str, Any] | None = None
    ) -> list[TelegramMethod[Any]]:
        """A my_chat_member update: in a private chat "kicked" is the person blocking the bot, "member" unblocking."""
        bot = {"id": 4242, "is_bot": True, "first_name": "Shop"}

        def member(status: str) -> dict[str, Any]:
            return {"status": status, "user": bot, **({"until_date": 0} if status == "kicked" else {})}

        return await self.feed(
            {
                "my_chat_member": {
                    "chat": chat or {"id": person.id, "type": "private", "first_name": person.first_name},
                    "from": person.as_json(),
                    "date": int(time.time()),
                    "old_chat_member": member(old),
                    "new_chat_member": member(new),
                }
            }
        )

    async def press(
        self, person: Person, data: str | CallbackData, message_id: int = 1, text: str = "…", photo: str | None = None
    ) -> list[TelegramMethod[Any]]:
        """Press a button under a text message, or under a photo (`photo`: its file_unique_id) captioned `text`."""
        raw = data.pack() if isinstance(data, CallbackData) else data
        shown: dict[str, Any] = {"text": text}
        if photo is not None:
            shown = {"caption": text, "photo": [{"file_id": photo, "file_unique_id": photo, "width": 8, "height": 8}]}
        return await self.feed(
            {
                "callback_query": {
                    "id": str(next(self._update_ids)),
                    "from": person.as_json(),
                    "chat_instance": "-1234567890",
                    "data": raw,
                    "message": {
                        "message_id": message_id,
                        "date": int(time.time()),
                        "chat": {"id": person.id, "type": "private", "first_name": person.first_name},
                        "from": {"id": 4242, "is_bot": True, "first_name": "Shop"},
                        **shown,
                    },
                }
            }
        )


def texts(calls: list[TelegramMethod[Any]]) -> list[str]:
    """What the person would read: sent and edited texts, captions and callback alerts."""
    out: list[str] = []
    for call in calls:
        if isinstance(call, SendMessage | EditMessageText) and call.text:
            out.append(call.text)
        elif isinstance(call, SendPhoto | SendVideo | SendDocument | EditMessageCaption) and call.caption:
            out.append(call.caption)
        elif isinstance(call, EditMessageMedia) and call.media.caption:
            out.append(call.media.caption)
        elif isinstance(call, AnswerCallbackQuery) and call.text:
            out.append(call.text)
    return out


def last_markup(calls: list[TelegramMethod[Any]]) -> InlineKeyboardMarkup:
    for call in reversed(calls):
        markup = getattr(call, "reply_markup", None)
        if isinstance(markup, InlineKeyboardMarkup):
            return markup
    raise AssertionError("the bot showed no inline keyboard")


def buttons(calls: list[TelegramMethod[Any]]) -> dict[str, str]:
    """Button text -> callback data of the last keyboard shown."""
    return {b.text: b.callback_data or "" for row in last_markup(calls).inline_keyboard for b in row}
