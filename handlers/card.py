"""The buyer's browsing message: one message that changes in place as they browse, a photo or video when the
view has a picture (a product's, or the category's above the lists inside it) and text when it has none.

Telegram edits a text message into a picture (editMessageMedia adds media to text), one picture into another
(editMessageMedia) and a caption with its buttons (editMessageCaption), but never a picture back into text: then
the view is sent anew and the old message deleted, so the chat still holds one browsing message.
"""

import logging
from contextlib import suppress

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
)

from handlers.render import show
from models.enums import MediaType
from services.dto import Media

log = logging.getLogger(__name__)
CAPTION_LIMIT = 1024  # characters of a caption after entity parsing


def shown_media(message: Message) -> str | None:
    """The file_unique_id of the photo (its largest size) or video the message shows."""
    if message.photo:
        return message.photo[-1].file_unique_id
    return message.video.file_unique_id if message.video else None


async def show_card(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup, media: Media | None) -> None:
    """Show the view in place of the pressed message: `text` as a caption (at most CAPTION_LIMIT characters) under
    `media`, or as a text message without it. A picture Telegram refuses (say a file_id of another bot's) leaves
    the view as text."""
    message = query.message
    if not isinstance(message, Message):  # too old to edit, or deleted: a fresh card
        await _send(query, text, markup, media)
        return
    current = shown_media(message)
    if media is None and current is None:
        await show(query, text, markup)
        return
    if media is not None:
        try:
            if media.unique_id == current:
                await message.edit_caption(caption=text, reply_markup=markup)
            else:
                await message.edit_media(_input(media, text), reply_markup=markup)
            return
        except TelegramBadRequest as e:
            if "message is not modified" in e.message:
                return
            log.warning("media %s of a card was refused: %s", media.unique_id, e.message)
            if current is None:  # still the text it was
                await show(query, text, markup)
                return
    await _send(query, text, markup, None)
    with suppress(TelegramBadRequest):  # older than 48 hours: it stays, harmless
        await message.delete()


async def _send(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup, media: Media | None) -> None:
    if query.bot is None or query.from_user is None:
        return
    chat = query.from_user.id
    if media is not None:
        try:
            if media.type is MediaType.video:
                await query.bot.send_video(chat, media.file_id, caption=text, reply_markup=markup)
            else:
                await query.bot.send_photo(chat, media.file_id, caption=text, reply_markup=markup)
            return
        except TelegramBadRequest as e:
            log.warning("media %s of a card was refused: %s", media.unique_id, e.message)
    await query.bot.send_message(chat, text, reply_markup=markup)


def _input(media: Media, caption: str) -> InputMediaPhoto | InputMediaVideo:
    if media.type is MediaType.video:
        return InputMediaVideo(media=media.file_id, caption=caption)
    return InputMediaPhoto(media=media.file_id, caption=caption)
