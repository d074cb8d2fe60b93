"""Admin: vouchers. The list (newest first), one voucher with its deep link, disable and enable; a new code or
a batch of random ones from one line of text (a batch comes back as a .txt file of codes and links)."""

from enum import StrEnum
from html import escape

from aiogram import Bot, F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers.account import VOUCHER_PREFIX, deep_link
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.panel import actor, answer, rows
from handlers.callbacks import Id, Page
from handlers.keyboards import before_last_row, button, paged
from handlers.prompts import COMMAND, waiting_router
from handlers.render import alert
from l10n import L10n
from services.admin.vouchers import MAX_BATCH, AdminVouchersService, SpecRefused
from services.dto import NamedItem
from services.money import format_fiat
from services.shop.catalog import NotFound
from services.shop.vouchers import VoucherInfo, value_text


class VoucherAction(StrEnum):
    list = "l"
    view = "v"
    new = "n"
    disable = "d"
    enable = "a"


class VoucherCb(CallbackData, prefix="av"):
    action: VoucherAction
    id: Id = 0
    page: Page = 0


class VoucherInput(StatesGroup):
    spec = State()


def row_label(v: VoucherInfo, currency: str, l10n: L10n) -> str:
    used = f"{v.uses}/{v.max_uses}" if v.max_uses is not None else str(v.uses)
    label = l10n("admin.vouchers.row", code=v.code, value=value_text(v.kind, v.value, currency), used=used)
    return label if v.is_active else f"🚫 {label}"


def voucher_text(v: VoucherInfo, bot_username: str, currency: str, l10n: L10n) -> str:
    valid = " ".join(
        [
            *([l10n("admin.vouchers.from", date=f"{v.valid_from:%Y-%m-%d}")] if v.valid_from else []),
            *([l10n("admin.vouchers.until", date=f"{v.last_day:%Y-%m-%d}")] if v.last_day else []),
        ]
    )
    return l10n(
        "admin.vouchers.voucher",
        code=v.code,
        status=l10n("admin.vouchers.active" if v.is_active else "admin.vouchers.disabled"),
        value=value_text(v.kind, v.value, currency),
        scope=escape(v.scope) if v.scope else l10n("admin.vouchers.everything"),
        min_order=format_fiat(v.min_order, currency),
        valid=valid or l10n("admin.vouchers.always"),
        uses=v.uses,
        max_uses=v.max_uses if v.max_uses is not None else "∞",
        per_buyer=v.per_buyer if v.per_buyer is not None else "∞",
        link=deep_link(bot_username, f"{VOUCHER_PREFIX}{v.code}"),
    )


def voucher_keyboard(v: VoucherInfo, l10n: L10n) -> InlineKeyboardMarkup:
    toggle = VoucherAction.disable if v.is_active else VoucherAction.enable
    return rows(
        [button(l10n(f"admin.vouchers.{toggle.name}"), VoucherCb(action=toggle, id=v.id))],
        [button(l10n("nav.back"), VoucherCb(action=VoucherAction.list))],
    )


async def show_list(
    event: Message | CallbackQuery, page: int, admin_vouchers: AdminVouchersService, settings: Settings, l10n: L10n
) -> None:
    vouchers, more = await admin_vouchers.page(page)
    items = [NamedItem(v.id, row_label(v, settings.fiat_currency, l10n)) for v in vouchers]
    markup = paged(
        items,
        page,
        more,
        lambda i: VoucherCb(action=VoucherAction.view, id=i),
        lambda p: VoucherCb(action=VoucherAction.list, page=p),
        AdminCb(section=AdminSection.home),
        l10n,
    )
    new = [button(l10n("admin.vouchers.new"), VoucherCb(action=VoucherAction.new))]
    text = l10n("admin.vouchers.title" if items or page else "admin.vouchers.none")
    await answer(event, text, before_last_row(markup, new))


async def open_list(
    query: CallbackQuery,
    callback_data: VoucherCb | None,
    admin_vouchers: AdminVouchersService,
    settings: Settings,
    l10n: L10n,
) -> None:
    await show_list(query, callback_data.page if callback_data else 0, admin_vouchers, settings, l10n)


async def open_section(
    query: CallbackQuery, admin_vouchers: AdminVouchersService, settings: Settings, l10n: L10n
) -> None:
    await show_list(query, 0, admin_vouchers, settings, l10n)


async def open_voucher(
    query: CallbackQuery,
    callback_data: VoucherCb,
    bot: Bot,
    admin_vouchers: AdminVouchersService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """The voucher; disabled or enabled first when that button was pressed."""
    try:
        if callback_data.action is VoucherAction.view:
            voucher = await admin_vouchers.voucher(callback_data.id)
        else:
            active = callback_data.action is VoucherAction.enable
            voucher = await admin_vouchers.set_active(actor(query), callback_data.id, active)
    except NotFound:
        alert(callback_answer, l10n("admin.vouchers.gone"))
        await show_list(query, 0, admin_vouchers, settings, l10n)
        return
    me = await bot.me()
    text = voucher_text(voucher, me.username or "", settings.fiat_currency, l10n)
    await answer(query, text, voucher_keyboard(voucher, l10n))


def cancel(l10n: L10n) -> InlineKeyboardMarkup:
    return rows([button(l10n("admin.vouchers.cancel"), VoucherCb(action=VoucherAction.list))])


async def ask(query: CallbackQuery, state: FSMContext, settings: Settings, l10n: L10n) -> None:
    await state.set_state(VoucherInput.spec)
    await answer(query, l10n("admin.vouchers.ask", currency=settings.fiat_currency, batch=MAX_BATCH), cancel(l10n))


async def got_spec(
    message: Message,
    bot: Bot,
    state: FSMContext,
    admin_vouchers: AdminVouchersService,
    settings: Settings,
    l10n: L10n,
) -> None:
    """One line: a new voucher (shown), or a batch (sent as a file); a bad line is explained, the prompt stays."""
    try:
        created = await admin_vouchers.create(actor(message), message.text or "")
    except SpecRefused as e:
        problem = l10n(f"admin.vouchers.bad.{e.problem}", token=escape(e.token))
        await message.answer(l10n("admin.vouchers.refused", problem=problem), reply_markup=cancel(l10n))
        return
    await state.clear()
    username = (await bot.me()).username or ""
    if created.batch is None:
        (voucher,) = created.vouchers
        text = voucher_text(voucher, username, settings.fiat_currency, l10n)
        await message.answer(l10n("admin.vouchers.saved") + "\n\n" + text, reply_markup=voucher_keyboard(voucher, l10n))
        return
    lines = [f"{v.code}\t{deep_link(username, VOUCHER_PREFIX + v.code)}" for v in created.vouchers]
    document = BufferedInputFile(("\n".join(lines) + "\n").encode(), f"vouchers-{created.batch}.txt")
    first = created.vouchers[0]
    caption = l10n(
        "admin.vouchers.batch_saved",
        count=len(lines),
        value=value_text(first.kind, first.value, settings.fiat_currency),
        batch=created.batch,
    )
    await message.answer_document(document, caption=caption)
    await show_list(message, 0, admin_vouchers, settings, l10n)


def build() -> Router:
    """Goes before the other sections in the admin router, so that any of their buttons first ends the prompt."""
    router, waiting = waiting_router("admin-vouchers", VoucherInput)
    router.message.register(got_spec, waiting, F.text & ~COMMAND)
    router.callback_query.register(open_section, AdminCb.filter(F.section == AdminSection.vouchers))
    router.callback_query.register(open_list, VoucherCb.filter(F.action == VoucherAction.list))
    router.callback_query.register(ask, VoucherCb.filter(F.action == VoucherAction.new))
    router.callback_query.register(open_voucher, VoucherCb.filter())
    return router
