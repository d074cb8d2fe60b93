"""Broadcast: type the text, see it as users will, confirm; a progress message follows the sending."""

from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from handlers.admin.menu import AdminCb, AdminSection, admin_menu
from handlers.admin.panel import actor, answer, rows
from handlers.keyboards import button
from handlers.render import alert
from l10n import L10n
from services.admin.broadcast import AdminBroadcastService


class BroadcastAction(StrEnum):
    send = "s"
    edit = "e"
    cancel = "x"


class BroadcastCb(CallbackData, prefix="ab"):
    action: BroadcastAction


class BroadcastForm(StatesGroup):
    text = State()
    confirm = State()


def cancel_only(l10n: L10n) -> InlineKeyboardMarkup:
    return rows([button(l10n("admin.broadcast.cancel"), BroadcastCb(action=BroadcastAction.cancel))])


async def ask_text(query: CallbackQuery, state: FSMContext, admin_broadcast: AdminBroadcastService, l10n: L10n) -> None:
    await state.clear()
    await state.set_state(BroadcastForm.text)
    await answer(query, l10n("admin.broadcast.ask", count=await admin_broadcast.recipients()), cancel_only(l10n))


async def got_text(message: Message, state: FSMContext, admin_broadcast: AdminBroadcastService, l10n: L10n) -> None:
    """Show the text exactly as it will be sent (the admin's formatting kept), then ask to confirm."""
    text = message.html_text
    await state.update_data(text=text)
    await state.set_state(BroadcastForm.confirm)
    await message.answer(text)
    await message.answer(
        l10n("admin.broadcast.confirm", count=await admin_broadcast.recipients()),
        reply_markup=rows(
            [button(l10n("admin.broadcast.send"), BroadcastCb(action=BroadcastAction.send))],
            [
                button(l10n("admin.broadcast.edit"), BroadcastCb(action=BroadcastAction.edit)),
                button(l10n("admin.broadcast.cancel"), BroadcastCb(action=BroadcastAction.cancel)),
            ],
        ),
    )


async def send(
    query: CallbackQuery,
    state: FSMContext,
    admin_broadcast: AdminBroadcastService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    text = (await state.get_data()).get("text")
    message = query.message
    if not text or message is None or isinstance(message, InaccessibleMessage):
        alert(callback_answer, l10n("error.stale"))
        return
    await state.clear()
    status = await admin_broadcast.start(actor(query), text, l10n.language, message.chat.id, message.message_id)
    callback_answer.text = l10n("admin.broadcast.started")
    await answer(
        query,
        l10n("admin.broadcast.progress", id=status.id, sent=status.sent, total=status.total, failed=status.failed),
    )


async def edit(query: CallbackQuery, state: FSMContext, admin_broadcast: AdminBroadcastService, l10n: L10n) -> None:
    await ask_text(query, state, admin_broadcast, l10n)


async def cancel(query: CallbackQuery, state: FSMContext, l10n: L10n) -> None:
    await state.clear()
    await answer(query, l10n("admin.menu.title"), admin_menu(l10n))


async def not_text(message: Message, l10n: L10n) -> None:
    await message.answer(l10n("admin.broadcast.text_only"), reply_markup=cancel_only(l10n))


def build() -> Router:
    router = Router(name="admin-broadcast")
    router.callback_query.register(ask_text, AdminCb.filter(F.section == AdminSection.broadcast))
    router.callback_query.register(send, BroadcastCb.filter(F.action == BroadcastAction.send), BroadcastForm.confirm)
    router.callback_query.register(edit, BroadcastCb.filter(F.action == BroadcastAction.edit))
    router.callback_query.register(cancel, BroadcastCb.filter(F.action == BroadcastAction.cancel))
    router.message.register(got_text, BroadcastForm.text, F.text, ~F.text.startswith("/"))
    router.message.register(not_text, BroadcastForm.text)
    return router
