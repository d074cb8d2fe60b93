"""A Bot API session that records every call and answers with Telegram-shaped results,
so the real Dispatcher runs end to end inside one test process."""

import itertools
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import (
    DeleteMessage,
    EditMessageCaption,
    EditMessageMedia,
    EditMessageReplyMarkup,
    EditMessageText,
    GetChat,
    GetChatMember,
    GetFile,
    GetMe,
    SendDocument,
    SendPhoto,
    SendVideo,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    AcceptedGiftTypes,
    BufferedInputFile,
    Chat,
    ChatFullInfo,
    ChatMember,
    Document,
    File,
    InputFile,
    InputMediaVideo,
    Message,
    PhotoSize,
    User,
    Video,
)

BOT_USER = User(id=4242, is_bot=True, first_name="Shop", username="shop_test_bot")
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses larger files: "Bad Request: file is too big"


EDITS = EditMessageText | EditMessageCaption | EditMessageReplyMarkup | EditMessageMedia


class RecordingSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self.deleted: set[int] = set()  # message ids the user deleted: editing them fails as on Telegram
        self.files: dict[str, bytes] = {}  # file_id -> the bytes a person uploaded (see `upload`)
        self._paths: dict[str, bytes] = {}  # file_path (getFile) -> bytes, for the download URL
        self._ids = itertools.count(1000)
        # Groups and channels by id and by "@username": what getChat answers, and the bot's ChatMember there.
        self.groups: dict[int | str, tuple[ChatFullInfo, ChatMember]] = {}

    def upload(self, file_id: str, data: bytes) -> dict[str, Any]:
        """Keep `data` as Telegram keeps an uploaded file; returns the fields a message's "document" carries
        (without file_name and mime_type, which the caller adds)."""
        self.files[file_id] = data
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(data)}

    async def close(self) -> None:
        pass

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        """GET {base}/file/bot{token}/{file_path}: the bytes of a file getFile gave that path."""
        path = url.split("/file/bot", 1)[1].split("/", 1)[1]
        data = self._paths[path]
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.calls.append(method)
        if isinstance(method, EDITS) and method.message_id in self.deleted:
            raise TelegramBadRequest(method=method, message="Bad Request: message to edit not found")
        return self._result(bot, method)  # type: ignore[no-any-return]

    def _group(self, method: TelegramMethod[Any], chat_id: int | str) -> tuple[ChatFullInfo, ChatMember]:
        if chat_id not in self.groups:  # never added: Telegram cannot tell it from a chat that does not exist
            raise TelegramBadRequest(method=method, message="Bad Request: chat not found")
        return self.groups[chat_id]

    def _result(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        """What Telegram answers: getChat a ChatFullInfo, a send or an edit the message as it now is (an
        edit of a caption: the photo with it; a document: with its file)."""
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, GetChatMember):
            return self._group(method, method.chat_id)[1]
        if isinstance(method, GetChat) and (isinstance(method.chat_id, str) or method.chat_id < 0):
            return self._group(method, method.chat_id)[0]
        if isinstance(method, GetChat):
            gifts = AcceptedGiftTypes(
                unlimited_gifts=True,
                limited_gifts=True,
                unique_gifts=True,
                premium_subscription=True,
                gifts_from_channels=True,
            )
            return ChatFullInfo(
                id=int(method.chat_id),
                type="private",
                accent_color_id=0,
                max_reaction_count=11,
                accepted_gift_types=gifts,
            )
        if isinstance(method, GetFile):  # {"file_id", "file_unique_id", "file_size", "file_path"}, as Telegram's
            if method.file_id not in self.files:
                raise TelegramBadRequest(method=method, message="Bad Request: invalid file_id")
            data = self.files[method.file_id]
            if len(data) > DOWNLOAD_LIMIT:
                raise TelegramBadRequest(method=method, message="Bad Request: file is too big")
            path = f"documents/file_{len(self._paths)}"
            self._paths[path] = data
            return File(
                file_id=method.file_id, file_unique_id=f"u-{method.file_id}", file_size=len(data), file_path=path
            )
        if not hasattr(method, "chat_id") or isinstance(method, DeleteMessage):
            return True  # answerCallbackQuery, deleteMessage, setMyCommands, ...
        message_id = getattr(method, "message_id", 0) if isinstance(method, EDITS) else next(self._ids)
        # A file sent by file_id keeps it, as Telegram's do; an upload gets a made-up one.
        media = method.media if isinstance(method, EditMessageMedia) else None
        source = media.media if media else getattr(method, "photo", None) or getattr(method, "video", None)
        file_id = "uploaded" if source is None or isinstance(source, InputFile) else str(source)
        photo = video = document = None
        if isinstance(method, SendVideo) or isinstance(media, InputMediaVideo):
            video = Video(file_id=file_id, file_unique_id=file_id, width=640, height=360, duration=10)
        elif isinstance(method, SendPhoto | EditMessageCaption) or media is not None:
            photo = [PhotoSize(file_id=file_id, file_unique_id=file_id, width=800, height=800)]
        elif isinstance(method, SendDocument):
            name = method.document.filename if isinstance(method.document, BufferedInputFile) else None
            document = Document(file_id="document", file_unique_id="d", file_name=name)
        return Message(
            message_id=message_id,
            date=datetime.now(UTC),
            edit_date=int(datetime.now(UTC).timestamp()) if isinstance(method, EDITS) else None,
            chat=Chat(id=method.chat_id, type="private"),
            from_user=BOT_USER,
            text=getattr(method, "text", None),
            caption=media.caption if media else getattr(method, "caption", None),
            photo=photo,
            video=video,
            document=document,
            reply_markup=getattr(method, "reply_markup", None),
        ).as_(bot)


def add_group(session: RecordingSession, chat_id: int, title: str, username: str, bot_member: ChatMember) -> None:
    """A channel the bot sees, by id and by @username, where it has `bot_member`'s status and rights."""
    gifts = AcceptedGiftTypes(
        unlimited_gifts=False,
        limited_gifts=False,
        unique_gifts=False,
        premium_subscription=False,
        gifts_from_channels=False,
    )
    info = ChatFullInfo(
        id=chat_id,
        type="channel",
        title=title,
        username=username,
        accent_color_id=0,
        max_reaction_count=11,
        accepted_gift_types=gifts,
    )
    session.groups[chat_id] = session.groups[f"@{username}"] = (info, bot_member)


class BlockedBy(RecordingSession):
    """A Bot API where one user has blocked the bot."""

    def __init__(self, chat_id: int) -> None:
        super().__init__()
        self._blocked = chat_id

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        if getattr(method, "chat_id", None) == self._blocked:
            raise TelegramForbiddenError(method=method, message="Forbidden: bot was blocked by the user")
        return await super().make_request(bot, method, timeout)
