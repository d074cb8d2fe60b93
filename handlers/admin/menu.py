"""/admin and its menu."""

from enum import StrEnum

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.render import show
from l10n import L10n


class AdminSection(StrEnum):
    home = "home"
    orders = "orders"
    problems = "problems"
    inventory = "inventory"
    shipping = "shipping"
    vouchers = "vouchers"
    loyalty = "loyalty"
    texts = "texts"
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
    await state.clear()
    await message.answer(l10n("admin.menu.title"), reply_markup=admin_menu(l10n))


async def admin_home(query: CallbackQuery, state: FSMContext, l10n: L10n) -> None:
    await state.clear()
    await show(query, l10n("admin.menu.title"), admin_menu(l10n))


def build() -> Router:
    router = Router(name="admin-menu")
    router.message.register(open_admin, Command("admin"))
    router.callback_query.register(admin_home, AdminCb.filter(F.section == AdminSection.home))
    return router
