"""Admin: the shipping options buyers choose from at checkout: add, change name and price, stop offering or
offer again. Adding and changing ask for one text message ("Standard 4.90"); any button, /admin or /start
leaves that prompt."""

from enum import StrEnum
from html import escape

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.panel import actor, answer, rows, to_menu
from handlers.keyboards import button
from handlers.prompts import COMMAND, waiting_router
from handlers.render import alert
from l10n import L10n
from services.admin.shipping import NAME_LIMIT, AdminShippingService, OptionRefused
from services.money import format_fiat
from services.shop.catalog import NotFound
from services.shop.shipping import ShippingOptionView


class ShipOptAction(StrEnum):
    list = "l"
    view = "v"
    new = "n"
    edit = "e"
    disable = "d"
    enable = "a"


class ShipOptCb(CallbackData, prefix="asp"):
    action: ShipOptAction
    id: int = 0


class ShippingInput(StatesGroup):
    option = State()  # data: option_id (0: a new one)


def label(option: ShippingOptionView, currency: str, l10n: L10n) -> str:
    key = "admin.shipping.row" if option.is_active else "admin.shipping.row_disabled"
    return l10n(key, name=option.name, price=format_fiat(option.price, currency))


def list_view(options: list[ShippingOptionView], settings: Settings, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    text = l10n("admin.shipping.title", days=settings.address_retention_days)
    return text, rows(
        *(
            [button(label(o, settings.fiat_currency, l10n), ShipOptCb(action=ShipOptAction.view, id=o.id))]
            for o in options
        ),
        [button(l10n("admin.shipping.new"), ShipOptCb(action=ShipOptAction.new))],
        [to_menu(l10n)],
    )


def option_view(option: ShippingOptionView, settings: Settings, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    text = l10n(
        "admin.shipping.option",
        name=escape(option.name),
        price=format_fiat(option.price, settings.fiat_currency),
        status=l10n("admin.shipping.enabled" if option.is_active else "admin.shipping.disabled"),
    )
    toggle = ShipOptAction.disable if option.is_active else ShipOptAction.enable
    return text, rows(
        [button(l10n("admin.shipping.edit"), ShipOptCb(action=ShipOptAction.edit, id=option.id))],
        [button(l10n(f"admin.shipping.{toggle.name}"), ShipOptCb(action=toggle, id=option.id))],
        [button(l10n("nav.back"), ShipOptCb(action=ShipOptAction.list))],
    )


def cancel(option_id: int, l10n: L10n) -> InlineKeyboardMarkup:
    back = ShipOptCb(action=ShipOptAction.view, id=option_id) if option_id else ShipOptCb(action=ShipOptAction.list)
    return rows([button(l10n("admin.shipping.cancel"), back)])


async def show_list(
    event: Message | CallbackQuery, admin_shipping: AdminShippingService, settings: Settings, l10n: L10n
) -> None:
    await answer(event, *list_view(await admin_shipping.options(), settings, l10n))


async def open_option(
    query: CallbackQuery,
    callback_data: ShipOptCb,
    admin_shipping: AdminShippingService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """The option; offered or withdrawn first when that button was pressed."""
    try:
        if callback_data.action is ShipOptAction.view:
            option = await admin_shipping.option(callback_data.id)
        else:
            active = callback_data.action is ShipOptAction.enable
            option = await admin_shipping.set_active(actor(query), callback_data.id, active)
    except NotFound:
        alert(callback_answer, l10n("admin.shipping.gone"))
        await show_list(query, admin_shipping, settings, l10n)
        return
    await answer(query, *option_view(option, settings, l10n))


async def ask(
    query: CallbackQuery, callback_data: ShipOptCb, state: FSMContext, settings: Settings, l10n: L10n
) -> None:
    option_id = callback_data.id if callback_data.action is ShipOptAction.edit else 0
    await state.set_state(ShippingInput.option)
    await state.update_data(option_id=option_id)
    await answer(query, l10n("admin.shipping.ask", currency=settings.fiat_currency), cancel(option_id, l10n))


async def got_text(
    message: Message, state: FSMContext, admin_shipping: AdminShippingService, settings: Settings, l10n: L10n
) -> None:
    option_id = int((await state.get_data()).get("option_id", 0))
    try:
        if option_id:
            option = await admin_shipping.update(actor(message), option_id, message.text or "")
        else:
            option = await admin_shipping.create(actor(message), message.text or "")
    except OptionRefused:
        await message.answer(l10n("admin.shipping.refused", limit=NAME_LIMIT), reply_markup=cancel(option_id, l10n))
        return
    except NotFound:
        await state.clear()
        await message.answer(l10n("admin.shipping.gone"))
        await show_list(message, admin_shipping, settings, l10n)
        return
    await state.clear()
    text, markup = option_view(option, settings, l10n)
    await message.answer(l10n("admin.shipping.saved") + "\n\n" + text, reply_markup=markup)


async def open_section(
    query: CallbackQuery, admin_shipping: AdminShippingService, settings: Settings, l10n: L10n
) -> None:
    await show_list(query, admin_shipping, settings, l10n)


def build() -> Router:
    """Goes before the other sections in the admin router, so that any of their buttons first ends a prompt."""
    router, waiting = waiting_router("admin-shipping", ShippingInput)
    router.message.register(got_text, waiting, F.text & ~COMMAND)
    router.callback_query.register(open_section, AdminCb.filter(F.section == AdminSection.shipping))
    router.callback_query.register(open_section, ShipOptCb.filter(F.action == ShipOptAction.list))
    router.callback_query.register(ask, ShipOptCb.filter(F.action.in_({ShipOptAction.new, ShipOptAction.edit})))
    router.callback_query.register(open_option, ShipOptCb.filter())
    return router
