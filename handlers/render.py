"""Showing a view in place of the message a button belongs to."""

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer


async def show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Edit the pressed message into `text`, or send a new one when it cannot be edited
    (too old, a photo, or deleted). CallbackAnswerMiddleware answers the query afterwards."""
    message = query.message
    edited = False
    if message is not None and not isinstance(message, InaccessibleMessage) and message.text is not None:
        try:
            await message.edit_text(text, reply_markup=markup)
            edited = True
        except TelegramBadRequest as e:
            edited = "message is not modified" in e.message
    if not edited and query.from_user is not None and query.bot is not None:
        await query.bot.send_message(query.from_user.id, text, reply_markup=markup)


def alert(callback_answer: CallbackAnswer, text: str) -> None:
    """The pop-up the buyer sees when the pressed button's query is answered."""
    callback_answer.text = text
    callback_answer.show_alert = True
