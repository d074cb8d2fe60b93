"""Waiting for a typed answer (an address, a message, a name and price): any button or command ends the wait,
then does what it always does. The conversation's data stays (an address typed at checkout, for one)."""

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

COMMAND = F.text.startswith("/")


async def leave(query: CallbackQuery, state: FSMContext, callback_answer: CallbackAnswer) -> None:
    callback_answer.disable()  # the handler that takes the button answers it
    await state.set_state(None)
    raise SkipHandler


async def leave_on_command(message: Message, state: FSMContext) -> None:
    await state.set_state(None)
    raise SkipHandler


def leaving_router(name: str, *groups: type[StatesGroup]) -> Router:
    """A router that leaves these states on any button or command, and lets the update go on. A wait ends
    only on the buttons and commands of the routers after it: one such router before all of them (see
    handlers.build_routers) ends every wait, whichever router takes the press."""
    router = Router(name=name)
    waiting = StateFilter(*groups)
    router.callback_query.register(leave, waiting)
    router.message.register(leave_on_command, waiting, COMMAND)
    return router


def waiting_router(name: str, *groups: type[StatesGroup]) -> tuple[Router, StateFilter]:
    """A router that first leaves these states on any button or command, and the filter for its handlers of
    the typed answer. Those still see the state as it was when the update came in, so they must leave
    commands alone themselves (`~COMMAND`)."""
    return leaving_router(name, *groups), StateFilter(*groups)
