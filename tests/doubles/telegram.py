"""An HTTP double of the Telegram Bot API, spoken to by a real aiogram bot.

    async with TelegramDouble() as tg:
        bot = tg.make_bot()             # or a bot subprocess with tg.env(): TELEGRAM_API_URL, BOT_TOKEN
        ...dp.start_polling(bot, handle_signals=False) in a task...
        await tg.user_sends_text(alice, "/start")
        menu = await tg.next_sent(alice.id)
        await tg.user_presses(alice, menu, find_button(menu, text="Catalog")["callback_data"])

It answers like Telegram does (shared/WIRE-FORMATS.md): Message JSON with per-chat message ids, long
polling with offset acknowledgement, HTML parse errors, length limits, "message is not modified", and
injected faults (403 blocked, 429 retry_after, any other error). In webhook mode ``post_update`` POSTs an
update as Telegram does and performs the call the bot put in its response. Only ``parse_mode=HTML`` is parsed;
other text is stored as sent and no ``entities`` are produced for bot messages.
"""

from __future__ import annotations

import asyncio
import copy
import html
import itertools
import json
import mimetypes
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qsl

import aiohttp
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

Json = dict[str, Any]
T = TypeVar("T")

DEFAULT_TOKEN = "5000000001:AAE-test-double-token-0123456789abcdef"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendVideo", "sendDocument", "copyMessage", "forwardMessage"})
# Clients send these as plain strings; every other field is JSON-encoded (numbers, bools, markup, lists).
_TEXT_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "file_id",
        "photo",
        "video",
        "document",
        "url",
        "secret_token",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
    }
)
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_TAG = re.compile(r"<(/?)([A-Za-z][\w-]*)?[^<>]*>")


@dataclass(frozen=True)
class FakeUser:
    id: int
    first_name: str = "Alice"
    username: str | None = None
    language_code: str | None = "en"

    def to_json(self) -> Json:
        user: Json = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user


class ApiCall(NamedTuple):
    method: str
    params: Json  # decoded: numbers, bools and markup parsed back; uploaded files as Upload bytes


class Upload(bytes):
    """An uploaded file: equal to its bytes, and remembers the name it was uploaded under."""

    filename: str

    def __new__(cls, content: bytes, filename: str) -> Upload:
        upload = super().__new__(cls, content)
        upload.filename = filename
        return upload


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: Json | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def body(self) -> Json:
        body: Json = {"ok": False, "error_code": self.code, "description": self.description}
        return body | {"parameters": self.parameters} if self.parameters else body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class FakeGroup:
    """A channel or supergroup the bot may be in, with the bot's rights there and who is in it."""

    id: int
    title: str
    username: str | None = None
    type: str = "channel"
    bot_status: str | None = "administrator"  # None: the bot was never added (Telegram: "chat not found")
    can_invite_users: bool = True
    can_restrict_members: bool = True
    members: set[int] | None = None
    banned: set[int] | None = None


@dataclass
class InviteLink:
    link: Json  # the ChatInviteLink as returned
    chat_id: int
    joined: list[int]


@dataclass
class _Fault:
    error: ApiError
    times: int
    methods: frozenset[str]
    chat_id: int | None


def buttons(message: Json) -> list[Json]:
    """The inline buttons of a message, row by row."""
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def find_button(message: Json, *, text: str | None = None, data_prefix: str | None = None) -> Json:
    """The first inline button with exactly this text and callback_data starting with data_prefix."""
    for button in buttons(message):
        if (text is None or button["text"] == text) and (
            data_prefix is None or button.get("callback_data", "").startswith(data_prefix)
        ):
            return button
    raise LookupError(f"no button text={text!r} data_prefix={data_prefix!r}; {_shown(message)}")


def _shown(message: Json) -> str:
    return f"the message shows {[(b['text'], b.get('callback_data')) for b in buttons(message)]}"


def _plain_text(text: str) -> str:
    """What Telegram keeps of an HTML-formatted text, or its 400 for markup it rejects."""
    out: list[str] = []
    open_tags: list[tuple[str, int]] = []
    pos = 0
    while (start := text.find("<", pos)) != -1:
        out.append(text[pos:start])
        offset = len(text[:start].encode())
        match = _TAG.match(text, start)
        name = (match.group(2) or "").lower() if match else ""
        if not match or name not in _HTML_TAGS:
            raise _bad(f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}')
        if not match.group(1):
            open_tags.append((name, offset))
        elif not open_tags or open_tags[-1][0] != name:
            expected = open_tags[-1][0] if open_tags else ""
            raise _bad(
                f"can't parse entities: Unmatched end tag at byte offset {offset}, "
                f'expected "</{expected}>", found "</{name}>"'
            )
        else:
            open_tags.pop()
        pos = match.end()
    if open_tags:
        offset = open_tags[-1][1]
        raise _bad(f"can't parse entities: Can't find end of the entity starting at byte offset {offset}")
    return html.unescape("".join(out) + text[pos:])


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def _read_params(request: web.Request) -> Json:
    if request.content_type == "application/json":
        return dict(await request.json())
    raw = {**request.query, **await request.post()}
    files = {k: Upload(v.file.read(), v.filename) for k, v in raw.items() if isinstance(v, web.FileField)}
    fields = {
        k: v if isinstance(v, str) else bytes(v).decode() for k, v in raw.items() if not isinstance(v, web.FileField)
    }
    return _decode(fields, files)


async def _read_reply(response: aiohttp.ClientResponse) -> Json:
    """The parameters a webhook response carries: JSON, a form or multipart/form-data (aiogram's), as Telegram
    reads them; "method" among them names the call."""
    if response.content_type == "application/json":
        return dict(await response.json())
    if response.content_type == "application/x-www-form-urlencoded":
        return _decode(dict(parse_qsl(await response.text())), {})
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    reader = aiohttp.MultipartReader.from_response(response)
    while (part := await reader.next()) is not None:
        assert isinstance(part, aiohttp.BodyPartReader) and part.name is not None
        if part.filename is None:
            fields[part.name] = await part.text()
        else:
            files[part.name] = Upload(await part.read(), part.filename)
    return _decode(fields, files)


def _decode(fields: dict[str, str], files: dict[str, Upload]) -> Json:
    """Form fields as the Bot API reads them: JSON values parsed back, `attach://name` replaced by that file."""
    params: Json = {}
    for key, text in fields.items():
        params[key] = text
        if text.startswith("attach://"):
            params[key] = files.pop(text.removeprefix("attach://"))
        elif key not in _TEXT_FIELDS:
            with suppress(ValueError):
                params[key] = json.loads(text)
    return params | files


class TelegramDouble:
    """The Bot API on 127.0.0.1:<free port>; one bot token, private chats with FakeUsers."""

    def __init__(
        self, token: str = DEFAULT_TOKEN, *, first_name: str = "Shop Bot", username: str = "shop_test_bot"
    ) -> None:
        self.token = token
        self.url = ""
        self.me: Json = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self.calls: list[ApiCall] = []  # every request, in arrival order
        self.webhook_replies: list[ApiCall] = []  # calls carried in webhook responses (post_update), not requests
        self.errors: list[tuple[str, Json]] = []  # (method, error body) of every non-ok answer
        self.delivered: list[int] = []  # update_ids handed out by getUpdates, in order
        self.callback_answers: dict[str, Json] = {}  # callback query id -> answerCallbackQuery params
        self.commands: dict[str, list[Json]] = {}  # language_code ("" = default) -> setMyCommands list
        self.webhook_url = ""
        self._pending: list[Json] = []
        self._allowed: set[str] = set()
        self._update_ids = itertools.count(100_001)
        self._query_ids = itertools.count(4_000_000_001)
        self._file_numbers = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], Json] = {}  # current state, user and bot messages
        self._outbox: list[tuple[int, Json]] = []  # snapshots of every bot send and edit
        self._read: dict[int, int] = {}
        self._files: dict[str, tuple[Json, bytes]] = {}
        self._contents: dict[str, tuple[str, Any]] = {}  # file_id -> (message field, its value): photo, video
        self._paths: dict[str, bytes] = {}
        self._users: dict[int, FakeUser] = {}
        self._keyboards: dict[int, Json] = {}
        self._open_queries: set[str] = set()
        self._blocked: set[int] = set()
        self._faults: list[_Fault] = []
        self.groups: dict[int, FakeGroup] = {}
        self.invite_links: list[InviteLink] = []
        self._pollers = 0
        self._poll_generation = 0
        self._closing = False
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        impls: dict[str, Callable[[Json], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendVideo": self._send_video,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageMedia": self._edit_message_media,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "getFile": self._get_file,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "createChatInviteLink": self._create_chat_invite_link,
            "banChatMember": self._ban_chat_member,
            "unbanChatMember": self._unban_chat_member,
        }
        self._methods = {name.lower(): (name, impl) for name, impl in impls.items()}  # names are case-blind
        self._app = web.Application()
        self._app.router.add_route("*", "/bot{token}/{method}", self._api)
        self._app.router.add_get("/file/bot{token}/{path:.+}", self._download)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> TelegramDouble:
        # handler_cancellation: a poller whose client went away stops holding its getUpdates.
        self._runner = web.AppRunner(self._app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def close(self) -> None:
        self._closing = True  # releases held getUpdates so cleanup does not wait for their timeout
        self._notify()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> TelegramDouble:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def make_bot(self, default: DefaultBotProperties | None = None) -> Bot:
        """An aiogram Bot for this double; start_polling closes its session, else ``bot.session.close()``."""
        session = AiohttpSession(api=TelegramAPIServer.from_base(self.url))
        return Bot(self.token, session=session, default=default)

    def env(self) -> dict[str, str]:
        """Environment for a bot subprocess."""
        return {"BOT_TOKEN": self.token, "TELEGRAM_API_URL": self.url}

    # -- the user side -----------------------------------------------------------------------------

    async def user_sends_text(self, user: FakeUser, text: str) -> Json:
        message = self._user_message(user, text=text)
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]
        return self._push("message", message)

    async def user_sends_photo(self, user: FakeUser, content: bytes, caption: str | None = None) -> Json:
        message = self._user_message(user, photo=self._photo_sizes(content), caption=caption)
        return self._push("message", message)

    async def user_sends_video(
        self, user: FakeUser, content: bytes, *, duration: int = 10, caption: str | None = None
    ) -> Json:
        return self._push("message", self._user_message(user, video=self._video(content, duration), caption=caption))

    async def user_sends_document(
        self, user: FakeUser, filename: str, content: bytes, caption: str | None = None
    ) -> Json:
        document = self._document(filename, content)
        return self._push("message", self._user_message(user, document=document, caption=caption))

    async def reply_to(self, user: FakeUser, message: Json, text: str) -> Json:
        reply = self._user_message(user, text=text, reply_to_message=self._current(message))
        return self._push("message", reply)

    async def user_presses(
        self, user: FakeUser, message: Json, callback_data: str | Json, *, strict: bool = True
    ) -> Json:
        """Press a button of the message as it is now. ``strict=False`` sends data no button carries."""
        data = callback_data if isinstance(callback_data, str) else callback_data["callback_data"]
        current = self._current(message)
        if strict and data not in {b.get("callback_data") for b in buttons(current)}:
            raise LookupError(f"no button carries callback_data {data!r}; {_shown(current)}")
        self._users[user.id] = user
        query_id = str(next(self._query_ids))
        self._open_queries.add(query_id)
        return self._push(
            "callback_query",
            {
                "id": query_id,
                "from": user.to_json(),
                "chat_instance": str(current["chat"]["id"] * 7919),
                "data": data,
                "message": current,
            },
        )

    def user_deletes(self, message: Json) -> None:
        """The user deletes a message from their chat: the bot can no longer edit it ("message to edit not
        found")."""
        del self._messages[message["chat"]["id"], message["message_id"]]

    def add_group(self, group: FakeGroup) -> FakeGroup:
        """A channel or supergroup (negative id) the bot is in with the group's rights."""
        group.members, group.banned = group.members or set(), group.banned or set()
        self.groups[group.id] = group
        return group

    def user_joins(self, user: FakeUser, link: str) -> bool:
        """The user opens an invite link: False when it is unknown, revoked, expired or used up (member_limit
        counts the members who joined through it and are still in the chat)."""
        found = next((i for i in self.invite_links if i.link["invite_link"] == link), None)
        if found is None:
            return False
        group = self.groups[found.chat_id]
        assert group.members is not None and group.banned is not None
        limit, expires = found.link.get("member_limit"), found.link.get("expire_date")
        inside = [u for u in found.joined if u in group.members]
        if (expires is not None and expires <= time.time()) or (limit is not None and len(inside) >= limit):
            return False
        if user.id in group.banned:
            return False
        group.members.add(user.id)
        found.joined.append(user.id)
        return True

    # -- faults ------------------------------------------------------------------------------------

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: anything aimed at the chat answers 403."""
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def rate_limit(self, times: int = 1, retry_after: int = 1, chat_id: int | None = None) -> None:
        """The next ``times`` sends (to ``chat_id``, or any chat) answer 429 with ``retry_after``."""
        self.fail(
            429,
            f"Too Many Requests: retry after {retry_after}",
            times=times,
            chat_id=chat_id,
            parameters={"retry_after": retry_after},
        )

    def fail(
        self,
        error_code: int,
        description: str,
        *,
        times: int = 1,
        methods: Iterable[str] = SEND_METHODS,
        chat_id: int | None = None,
        parameters: Json | None = None,
    ) -> None:
        """The next ``times`` matching calls answer this error instead of doing anything."""
        error = ApiError(error_code, description, parameters)
        self._faults.append(_Fault(error, times, frozenset(methods), chat_id))

    # -- what the bot did --------------------------------------------------------------------------

    def calls_of(self, method: str) -> list[Json]:
        return [call.params for call in self.calls if call.method == method]

    def sent_to(self, chat_id: int) -> list[Json]:
        """Snapshots of every message the bot sent or edited in the chat, in order."""
        return [message for chat, message in self._outbox if chat == chat_id]

    def message(self, chat_id: int, message_id: int) -> Json | None:
        """The message as it is now (after edits), or None once deleted."""
        return self._messages.get((chat_id, message_id))

    def reply_keyboard(self, chat_id: int) -> Json | None:
        """The reply keyboard the user currently sees, if the bot set one."""
        return self._keyboards.get(chat_id)

    def callback_answer(self, update: Json) -> Json | None:
        return self.callback_answers.get(update["callback_query"]["id"])

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id][1]

    def photo_bytes(self, message: Json) -> bytes:
        return self.file_bytes(message["photo"][-1]["file_id"])

    @property
    def polling(self) -> bool:
        """A getUpdates is being held open right now."""
        return self._pollers > 0

    @property
    def pending_updates(self) -> list[Json]:
        """Updates not yet acknowledged by an offset."""
        return list(self._pending)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 2.0) -> T:
        """Await a truthy ``predicate()``; rechecked on every request and every 50 ms."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            if result := predicate():
                return result
            if (remaining := deadline - loop.time()) <= 0:
                recent = [f"{c.method} {c.params!s:.200}" for c in self.calls if c.method != "getUpdates"]
                raise TimeoutError(f"condition not met within {timeout}s; last calls: {recent[-5:]}")
            with suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.05))

    async def next_sent(self, chat_id: int, timeout: float = 2.0) -> Json:
        """The next send or edit in the chat that this method has not returned yet."""
        seen = self._read.get(chat_id, 0)
        fresh = await self.wait_for(lambda: self.sent_to(chat_id)[seen:], timeout)
        self._read[chat_id] = seen + 1
        return fresh[0]

    # -- HTTP --------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        try:
            result = await self._perform(request.match_info["method"], await _read_params(request), self.calls)
        except ApiError as e:
            return web.json_response(e.body(), status=e.code)
        return web.json_response({"ok": True, "result": result})

    async def _perform(self, name: str, params: Json, record: list[ApiCall]) -> Any:
        """Run a call, noted in `record`; a refusal is raised as ApiError and kept in `errors`."""
        method, impl = self._methods.get(name.lower(), (name, None))
        record.append(ApiCall(method, params))
        try:
            if impl is None:
                raise ApiError(404, "Not Found: method not found")
            self._inject_faults(method, params)
            return await impl(params)
        except ApiError as e:
            self.errors.append((method, e.body()))
            raise
        finally:
            self._notify()

    async def post_update(self, url: str, update: Json, secret_token: str) -> int:
        """Deliver an update to a webhook as Telegram does: POST it with the secret token header, then perform
        the call the response may carry (its "method"), noted in `webhook_replies`. As on Telegram, nobody
        learns that call's result or error (the error is kept in `errors`). Returns the HTTP status."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret_token}
        async with aiohttp.ClientSession() as http, http.post(url, json=update, headers=headers) as response:
            if response.status != 200:
                return response.status
            params = await _read_reply(response)
        if "method" in params:
            name = params.pop("method")
            with suppress(ApiError):
                await self._perform(name, params, self.webhook_replies)
        return 200

    async def _download(self, request: web.Request) -> web.Response:
        content = self._paths.get(request.match_info["path"])
        if request.match_info["token"] != self.token or content is None:
            raise web.HTTPNotFound()
        return web.Response(body=content, content_type="application/octet-stream")

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _inject_faults(self, method: str, params: Json) -> None:
        if params.get("chat_id") in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        for fault in self._faults:
            if fault.times > 0 and method in fault.methods and fault.chat_id in (None, params.get("chat_id")):
                fault.times -= 1
                raise fault.error

    # -- updates -----------------------------------------------------------------------------------

    def _push(self, kind: str, payload: Json) -> Json:
        update = {"update_id": next(self._update_ids), kind: payload}
        self._pending.append(update)
        self._notify()
        return update

    async def _get_updates(self, p: Json) -> list[Json]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = p.get("offset")
        if isinstance(offset, int):  # acknowledges every update below it; negative keeps the last -offset
            self._pending = (
                self._pending[offset:] if offset < 0 else [u for u in self._pending if u["update_id"] >= offset]
            )
        if p.get("allowed_updates") is not None:
            self._allowed = set(p["allowed_updates"])
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # an older getUpdates still held gets its 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + p.get("timeout", 0)
        self._pollers += 1
        try:
            while True:
                changed = self._changed
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                # Telegram never creates updates of types the bot did not ask for.
                if self._allowed:
                    self._pending = [u for u in self._pending if self._kind(u) in self._allowed]
                batch = self._pending[: p.get("limit", 100)]
                if batch or self._closing or (remaining := deadline - loop.time()) <= 0:
                    break
                with suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)
        finally:
            self._pollers -= 1
            self._notify()
        self.delivered.extend(u["update_id"] for u in batch)
        return batch

    @staticmethod
    def _kind(update: Json) -> str:
        return next(key for key in update if key != "update_id")

    async def _get_me(self, p: Json) -> Json:
        return self.me | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _set_webhook(self, p: Json) -> bool:
        self.webhook_url = p["url"]
        return True

    async def _delete_webhook(self, p: Json) -> bool:
        self.webhook_url = ""
        if p.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _get_webhook_info(self, p: Json) -> Json:
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": len(self._pending)}

    async def _set_my_commands(self, p: Json) -> bool:
        self.commands[p.get("language_code", "")] = p["commands"]
        return True

    # -- messages ----------------------------------------------------------------------------------

    def _chat(self, chat_id: int) -> Json:
        if chat_id < 0:
            return {"id": chat_id, "type": "supergroup", "title": "Group"}
        user = self._users.get(chat_id)
        chat: Json = {"id": chat_id, "type": "private", "first_name": user.first_name if user else "User"}
        return chat | {"username": user.username} if user and user.username else chat

    def _new_message(self, chat_id: Any, sender: Json, **content: Any) -> Json:
        """A message without its id yet: a send that fails validation must not use one up."""
        if not isinstance(chat_id, int):
            raise _bad("chat not found")
        message = {"from": sender, "chat": self._chat(chat_id), "date": int(time.time())}
        return message | {k: v for k, v in content.items() if v is not None}

    def _store(self, message: Json) -> Json:
        chat_id = message["chat"]["id"]
        if "message_id" not in message:
            ids = self._message_ids.setdefault(chat_id, itertools.count(1))  # per chat, user and bot alike
            message = {"message_id": next(ids)} | message
        self._messages[chat_id, message["message_id"]] = message
        return message

    def _save(self, message: Json) -> Json:
        """Store a bot send or edit, and keep a snapshot for sent_to."""
        message = self._store(message)
        self._outbox.append((message["chat"]["id"], copy.deepcopy(message)))
        return message

    def _user_message(self, user: FakeUser, **content: Any) -> Json:
        self._users[user.id] = user
        return self._store(self._new_message(user.id, user.to_json(), **content))

    def _current(self, message: Json) -> Json:
        current = self.message(message["chat"]["id"], message["message_id"])
        if current is None:
            raise LookupError(f"message {message['message_id']} was deleted")
        return current

    def _find(self, chat_id: Any, message_id: Any, missing: str) -> Json:
        if (found := self._messages.get((chat_id, message_id))) is None:
            raise _bad(missing)
        return found

    def _set_markup(self, message: Json, markup: Json | None) -> None:
        message.pop("reply_markup", None)  # an edit without reply_markup removes the inline keyboard
        chat_id = message["chat"]["id"]
        if not markup:
            return
        if "inline_keyboard" in markup:
            if any(len(b.get("callback_data", "").encode()) > 64 for b in buttons({"reply_markup": markup})):
                raise _bad("BUTTON_DATA_INVALID")
            message["reply_markup"] = markup
        elif "keyboard" in markup:
            self._keyboards[chat_id] = markup
        elif markup.get("remove_keyboard"):
            self._keyboards.pop(chat_id, None)

    def _text(self, p: Json, key: str, limit: int, *, required: bool) -> str | None:
        raw = p.get(key) or ""
        text = _plain_text(raw) if str(p.get("parse_mode", "")).upper() == "HTML" else raw
        if not text.strip():
            if required:
                raise _bad("message text is empty")
            return None
        if _utf16_len(text) > limit:
            raise _bad("message is too long" if key == "text" else "message caption is too long")
        return text

    def _bot_sends(self, p: Json, **content: Any) -> Json:
        message = self._new_message(p.get("chat_id"), self.me, **content)
        reply = p.get("reply_parameters") or (
            {"message_id": p["reply_to_message_id"]} if "reply_to_message_id" in p else None
        )
        if reply:
            message["reply_to_message"] = self._find(
                message["chat"]["id"], reply["message_id"], "message to be replied not found"
            )
        self._set_markup(message, p.get("reply_markup"))
        return self._save(message)

    async def _send_message(self, p: Json) -> Json:
        return self._bot_sends(p, text=self._text(p, "text", 4096, required=True))

    async def _send_photo(self, p: Json) -> Json:
        photo = self._media("photo", p.get("photo"), p)
        return self._bot_sends(p, photo=photo, caption=self._text(p, "caption", 1024, required=False))

    async def _send_video(self, p: Json) -> Json:
        video = self._media("video", p.get("video"), p)
        return self._bot_sends(p, video=video, caption=self._text(p, "caption", 1024, required=False))

    def _media(self, kind: str, ref: Any, p: Json) -> Any:
        """What a sent photo (its sizes) or video becomes in the message: a file sent before keeps its ids, as
        Telegram's do; an upload or a URL is a new file. Another kind's file_id is Telegram's type mismatch."""
        if isinstance(ref, str) and ref.startswith("attach://"):
            ref = p.get(ref.removeprefix("attach://"))
        if isinstance(ref, str) and ref in self._contents:
            field, value = self._contents[ref]
            if field != kind:
                raise _bad("type of file mismatch")
            return value
        if isinstance(ref, str) and ref.startswith(("http://", "https://")):
            ref = b""  # Telegram would fetch it; nothing to fetch here
        if not isinstance(ref, bytes):
            raise _bad("wrong file identifier/HTTP URL specified")
        return self._photo_sizes(ref) if kind == "photo" else self._video(ref, 0)

    async def _send_document(self, p: Json) -> Json:
        content, filename = self._upload(p, "document")
        caption = self._text(p, "caption", 1024, required=False)
        return self._bot_sends(p, document=self._document(filename, content), caption=caption)

    def _upload(self, p: Json, key: str) -> tuple[bytes, str]:
        value = p.get(key)
        if isinstance(value, Upload):
            return value, value.filename
        if isinstance(value, str) and value in self._files:
            info, content = self._files[value]
            return content, info["file_path"].rsplit("/", 1)[-1]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return b"", value.rsplit("/", 1)[-1]  # Telegram would fetch it; nothing to fetch here
        raise _bad("wrong file identifier/HTTP URL specified")

    def _store_file(self, content: bytes, folder: str, suffix: str) -> Json:
        n = next(self._file_numbers)
        info: Json = {
            "file_id": f"{folder[:2].upper()}AC{n:08d}",
            "file_unique_id": f"AQAD{n:08d}",
            "file_size": len(content),
        }
        path = f"{folder}/file_{n}{suffix}"
        self._files[info["file_id"]] = (info | {"file_path": path}, bytes(content))
        self._paths[path] = bytes(content)
        return info

    def _photo_sizes(self, content: bytes) -> list[Json]:
        # A thumbnail and the full size, smallest first, as Telegram lists them.
        sizes = [self._store_file(content, "photos", ".jpg") | {"width": n, "height": n} for n in (90, 800)]
        for size in sizes:
            self._contents[size["file_id"]] = ("photo", sizes)
        return sizes

    def _video(self, content: bytes, duration: int) -> Json:
        video = self._store_file(content, "videos", ".mp4") | {
            "width": 640,
            "height": 360,
            "duration": duration,
            "mime_type": "video/mp4",
        }
        self._contents[video["file_id"]] = ("video", video)
        return video

    def _document(self, filename: str, content: bytes) -> Json:
        mime_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        suffix = "." + filename.rsplit(".", 1)[-1] if "." in filename else ""
        info = self._store_file(content, "documents", suffix)
        return info | {"file_name": filename, "mime_type": mime_type}

    async def _get_chat(self, p: Json) -> Json:
        """ChatFullInfo of a private chat; a user who never wrote to the bot has none: "chat not found". A group
        or channel by id or @username, when the bot is in it."""
        chat_id = p.get("chat_id")
        extra = {"accent_color_id": 0, "max_reaction_count": 11}
        if (group := self._group(chat_id)) is not None:
            chat = {"id": group.id, "type": group.type, "title": group.title}
            accepted = dict.fromkeys(
                ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription"), False
            )
            return (
                chat
                | ({"username": group.username} if group.username else {})
                | extra
                | {"accepted_gift_types": accepted | {"gifts_from_channels": False}}
            )
        if not isinstance(chat_id, int) or chat_id not in self._users:
            raise _bad("chat not found")
        gifts = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels")
        return self._chat(chat_id) | {
            "accent_color_id": chat_id % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(gifts, True),
        }

    def _group(self, chat_id: Any) -> FakeGroup | None:
        """The group or channel by id or "@username" that the bot can see (it was added to it)."""
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            group = next((g for g in self.groups.values() if g.username == chat_id[1:]), None)
        else:
            group = self.groups.get(chat_id) if isinstance(chat_id, int) else None
        return group if group is not None and group.bot_status is not None else None

    def _seen_group(self, p: Json) -> FakeGroup:
        if (group := self._group(p.get("chat_id"))) is None:
            raise _bad("chat not found")
        return group

    async def _get_chat_member(self, p: Json) -> Json:
        """ChatMember: for the bot its status and rights (ChatMemberAdministrator has every can_* field), for a
        user member, left or kicked."""
        group, user_id = self._seen_group(p), p.get("user_id")
        assert group.members is not None and group.banned is not None
        if user_id == self.me["id"]:
            member: Json = {"status": group.bot_status, "user": self.me}
            if group.bot_status == "administrator":
                rights = dict.fromkeys(
                    (
                        "can_manage_chat",
                        "can_delete_messages",
                        "can_manage_video_chats",
                        "can_promote_members",
                        "can_change_info",
                        "can_post_stories",
                        "can_edit_stories",
                        "can_delete_stories",
                    ),
                    True,
                )
                member |= rights | {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_invite_users": group.can_invite_users,
                    "can_restrict_members": group.can_restrict_members,
                }
            return member
        if not isinstance(user_id, int):
            raise _bad("PARTICIPANT_ID_INVALID")
        user = {"id": user_id, "is_bot": False, "first_name": "User"}
        if user_id in group.banned:
            return {"status": "kicked", "user": user, "until_date": 0}
        return {"status": "member" if user_id in group.members else "left", "user": user}

    def _admin_may(self, group: FakeGroup, right: bool, refusal: str) -> None:
        if group.bot_status != "administrator" or not right:
            raise _bad(refusal)

    async def _create_chat_invite_link(self, p: Json) -> Json:
        group = self._seen_group(p)
        self._admin_may(group, group.can_invite_users, "not enough rights to manage chat invite links")
        limit, expires = p.get("member_limit"), p.get("expire_date")
        if limit is not None and not (isinstance(limit, int) and 1 <= limit <= 99999):
            raise _bad("member limit must be between 1 and 99999")
        if p.get("creates_join_request") and limit is not None:
            raise _bad("can't use member_limit with creates_join_request")
        link: Json = {
            "invite_link": f"https://t.me/+Inv{len(self.invite_links) + 1:04d}AbCdEf",
            "creator": self.me,
            "creates_join_request": bool(p.get("creates_join_request", False)),
            "is_primary": False,
            "is_revoked": False,
        }
        link |= {k: p[k] for k in ("name", "expire_date", "member_limit") if p.get(k) is not None}
        if expires is not None and not isinstance(expires, int):
            raise _bad("wrong expire date")
        self.invite_links.append(InviteLink(link, group.id, []))
        return link

    async def _ban_chat_member(self, p: Json) -> bool:
        group = self._seen_group(p)
        self._admin_may(group, group.can_restrict_members, "not enough rights to restrict/unrestrict chat member")
        user_id = p.get("user_id")
        if not isinstance(user_id, int):
            raise _bad("PARTICIPANT_ID_INVALID")
        assert group.members is not None and group.banned is not None
        group.members.discard(user_id)
        group.banned.add(user_id)
        return True

    async def _unban_chat_member(self, p: Json) -> bool:
        group = self._seen_group(p)
        self._admin_may(group, group.can_restrict_members, "not enough rights to restrict/unrestrict chat member")
        user_id = p.get("user_id")
        assert group.banned is not None
        if p.get("only_if_banned") and user_id not in group.banned:
            return True  # nothing to lift: the user is neither let in nor out
        group.banned.discard(user_id)
        return True

    async def _get_file(self, p: Json) -> Json:
        if p.get("file_id") not in self._files:
            raise _bad("invalid file_id")
        return self._files[p["file_id"]][0]

    def _editable(self, p: Json) -> Json:
        if "inline_message_id" in p:
            raise _bad("inline messages are not supported by this double")
        message = self._find(p.get("chat_id"), p.get("message_id"), "message to edit not found")
        if message["from"]["id"] != self.me["id"]:
            raise _bad("message can't be edited")
        return message

    def _edit(self, old: Json, p: Json, **changes: Any) -> Json:
        new = {k: v for k, v in (old | changes).items() if v is not None}
        self._set_markup(new, p.get("reply_markup"))
        if all(new.get(k) == old.get(k) for k in ("text", "caption", "photo", "video", "reply_markup")):
            raise ApiError(400, NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        return self._save(new)

    async def _edit_message_text(self, p: Json) -> Json:
        old = self._editable(p)
        if "text" not in old:
            raise _bad("there is no text in the message to edit")
        return self._edit(old, p, text=self._text(p, "text", 4096, required=True))

    async def _edit_message_caption(self, p: Json) -> Json:
        old = self._editable(p)
        if "text" in old:
            raise _bad("there is no caption in the message to edit")
        return self._edit(old, p, caption=self._text(p, "caption", 1024, required=False))

    async def _edit_message_media(self, p: Json) -> Json:
        """A photo or video in place of the message's media, or added to a text message (its text goes)."""
        old = self._editable(p)
        media = p.get("media")
        if not isinstance(media, dict) or media.get("type") not in ("photo", "video"):
            raise _bad("can't parse InputMedia: media type is not specified or unsupported by this double")
        kind = media["type"]
        content = {key: None for key in ("text", "entities", "link_preview_options", "photo", "video", "document")}
        content[kind] = self._media(kind, media.get("media"), p)
        return self._edit(old, p, **content, caption=self._text(media, "caption", 1024, required=False))

    async def _edit_message_reply_markup(self, p: Json) -> Json:
        return self._edit(self._editable(p), p)

    async def _delete_message(self, p: Json) -> bool:
        message = self._find(p.get("chat_id"), p.get("message_id"), "message to delete not found")
        del self._messages[message["chat"]["id"], message["message_id"]]
        return True

    async def _answer_callback_query(self, p: Json) -> bool:
        query_id = p.get("callback_query_id", "")
        if query_id not in self._open_queries:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(query_id)
        self.callback_answers[query_id] = p
        return True

    def _content_of(self, p: Json, missing: str) -> Json:
        source = self._find(p.get("from_chat_id"), p.get("message_id"), missing)
        return {k: source[k] for k in ("text", "entities", "photo", "video", "document", "caption") if k in source}

    async def _copy_message(self, p: Json) -> Json:
        content = self._content_of(p, "message to copy not found")
        if "caption" in p:
            content["caption"] = self._text(p, "caption", 1024, required=False)
        return {"message_id": self._bot_sends(p, **content)["message_id"]}

    async def _forward_message(self, p: Json) -> Json:
        source = self._find(p.get("from_chat_id"), p.get("message_id"), "message to forward not found")
        origin = {"type": "user", "sender_user": source["from"], "date": source["date"]}
        content = self._content_of(p, "message to forward not found")
        return self._bot_sends({"chat_id": p.get("chat_id")}, forward_origin=origin, **content)
