"""Waiting for a typed answer (an address, a message, a name and price): any button or command ends the wait,
then does what it always does. The conversation's data stays (an address typed at checkout, for one)."""

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import StatesGroup
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswer

COMMAND = F.text.startswith("/")


class Waiting(Filter):
    """The conversation is in one of these groups' states: aiogram's StateFilter(*groups) as one set lookup
    (that one makes an instance of each group per check), and the states on show for handlers.gates."""

    def __init__(self, *groups: type[StatesGroup]) -> None:
        self.states = frozenset(name for group in groups for name in group.__all_states_names__)

    async def __call__(self, event: TelegramObject, raw_state: str | None = None) -> bool:
        return raw_state in self.states


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
    waiting = Waiting(*groups)
    router.callback_query.register(leave, waiting)
    router.message.register(leave_on_command, waiting, COMMAND)
    return router


def waiting_router(name: str, *groups: type[StatesGroup]) -> tuple[Router, Waiting]:
    """A router that first leaves these states on any button or command, and the filter for its handlers of
    the typed answer. Those still see the state as it was when the update came in, so they must leave
    commands alone themselves (`~COMMAND`)."""
    return leaving_router(name, *groups), Waiting(*groups)
