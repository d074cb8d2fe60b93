"""/admin and its menu."""

from enum import StrEnum

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.render import show
from l10n import L10n


class AdminSection(StrEnum):
    home = "home"
    orders = "orders"
    problems = "problems"
    inventory = "inventory"
    reviews = "reviews"
    shipping = "shipping"
    users = "users"
    broadcast = "broadcast"
    stats = "stats"
    wallet = "wallet"


class AdminCb(CallbackData, prefix="adm"):
    section: AdminSection


def admin_menu(l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for section in AdminSection:
        if section is not AdminSection.home:
            kb.button(text=l10n(f"admin.menu.{section}"), callback_data=AdminCb(section=section))
    kb.adjust(2)
    return kb.as_markup()


async def open_admin(message: Message, state: FSMContext, l10n: L10n) -> None:
    """/admin: the menu, and no prompt left waiting for text."""
    await state.clear()
    await message.answer(l10n("admin.menu.title"), reply_markup=admin_menu(l10n))


async def leave_prompt(query: CallbackQuery, state: FSMContext, callback_answer: CallbackAnswer) -> None:
    """Any section button (the menu's, or a screen's way back to it) ends a prompt that waits for text, so
    the next message is never taken as the answer to a question the admin has left; then the button does
    what it always does."""
    callback_answer.disable()  # the handler that takes the button answers it
    await state.clear()
    raise SkipHandler


async def admin_home(query: CallbackQuery, l10n: L10n) -> None:
    await show(query, l10n("admin.menu.title"), admin_menu(l10n))


def build() -> Router:
    """The admin router's first: /admin and the section buttons end pending prompts here, for every section."""
    router = Router(name="admin-menu")
    router.message.register(open_admin, Command("admin"))
    router.callback_query.register(leave_prompt, AdminCb.filter(), ~StateFilter(None))
    router.callback_query.register(admin_home, AdminCb.filter(F.section == AdminSection.home))
    return router
