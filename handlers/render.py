"""Showing a view in place of the message a button belongs to, or in answer to a typed one; passing on what a
person wrote."""

from html import escape

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

MESSAGE_LIMIT, CAPTION_LIMIT = 4096, 1024


async def show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Edit the pressed message into `text`, or send a new one when it cannot be edited
    (too old, a photo, or deleted). bot.replies.AnswerPressInReply answers the query afterwards."""
    message = query.message
    edited = False
    if message is not None and not isinstance(message, InaccessibleMessage) and message.text is not None:
        try:
            await message.edit_text(text, reply_markup=markup)
            edited = True
        except TelegramBadRequest as e:
            edited = "message is not modified" in e.message
    if not edited:
        await send_below(query, text, markup)


async def send_below(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """A new message for whoever pressed the button; the message the button belongs to stays as it is
    (what someone wrote, for one)."""
    if query.from_user is not None and query.bot is not None:
        await query.bot.send_message(query.from_user.id, text, reply_markup=markup)


def alert(callback_answer: CallbackAnswer, text: str) -> None:
    """The pop-up the buyer sees when the pressed button's query is answered."""
    callback_answer.text = text
    callback_answer.show_alert = True


async def answer(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace the pressed message with the view, or answer a typed message with a new one."""
    if isinstance(event, CallbackQuery):
        await show(event, text, markup)
    else:
        await event.answer(text, reply_markup=markup)


def fit(header: str, body: str | None, limit: int) -> str:
    """Header and the escaped body within Telegram's limit (which counts text without HTML tags)."""
    room = max(limit - len(header) - 2, 0)
    return f"{header}\n\n{escape((body or '')[:room])}" if body else header


async def relay(bot: Bot, chat_id: int, message: Message, header: str, markup: InlineKeyboardMarkup | None) -> Message:
    """What someone wrote, text or a photo (its largest size) with its caption, sent on to `chat_id` below
    `header`. Raises aiogram.exceptions.TelegramAPIError."""
    if message.photo:
        caption = fit(header, message.caption, CAPTION_LIMIT)
        return await bot.send_photo(chat_id, message.photo[-1].file_id, caption=caption, reply_markup=markup)
    return await bot.send_message(chat_id, fit(header, message.text, MESSAGE_LIMIT), reply_markup=markup)
