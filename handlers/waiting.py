"""Waiting for something typed (a search, a review's text): while the bot waits, any button or command first
ends the wait and then does what it always does, so the next message is not taken for the answer."""

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

COMMAND = F.text.startswith("/")


async def _leave_on_button(query: CallbackQuery, state: FSMContext, callback_answer: CallbackAnswer) -> None:
    callback_answer.disable()  # the handler that takes the button answers it
    await state.set_state(None)  # the data stays: a search's text still turns its result pages
    raise SkipHandler


async def _leave_on_command(message: Message, state: FSMContext) -> None:
    await state.set_state(None)
    raise SkipHandler


def end_wait_first(router: Router, waiting: State) -> None:
    """Register, before the router's other handlers, the ones that end `waiting` on any button or command.
    The router must come before the routers that take those buttons and commands."""
    router.callback_query.register(_leave_on_button, StateFilter(waiting))
    router.message.register(_leave_on_command, StateFilter(waiting), COMMAND)
