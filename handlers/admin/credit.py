"""Admin: a buyer's store credit (Users → a buyer → 💳 Store credit): the ledger, newest first, and adjusting
the credit with a reason. Adjusting asks for one text message ("+5.00 goodwill", "-2.50 correction"); any
button, /admin or /start leaves that prompt."""

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers.admin.panel import actor, answer, rows
from handlers.admin.users import AdminCreditCb, CreditAction, UserAction, UsersCb, show_menu
from handlers.credit import history_text
from handlers.keyboards import button, paged
from handlers.prompts import COMMAND, waiting_router
from handlers.render import alert
from l10n import L10n
from services.admin.credit import REASON_LIMIT, AdjustmentRefused, AdminCreditService, parse_adjustment
from services.credit.account import CreditHistory
from services.money import format_fiat
from services.shop.catalog import NotFound


class CreditForm(StatesGroup):
    adjustment = State()  # data: user_id


def ledger_view(
    user_id: int, history: CreditHistory, page: int, settings: Settings, l10n: L10n
) -> tuple[str, InlineKeyboardMarkup]:
    text = history_text(l10n("admin.credit.title", id=user_id), history, settings.fiat_currency, l10n, admin=True)
    nav = paged(
        [],
        page,
        history.more,
        lambda _: AdminCreditCb(action=CreditAction.ledger, id=user_id),
        lambda p: AdminCreditCb(action=CreditAction.ledger, id=user_id, page=p),
        UsersCb(action=UserAction.card, id=user_id),
        l10n,
    )
    adjust = [button(l10n("admin.credit.adjust"), AdminCreditCb(action=CreditAction.adjust, id=user_id))]
    return text, InlineKeyboardMarkup(inline_keyboard=[adjust, *nav.inline_keyboard])


async def history_or_menu(
    query: CallbackQuery,
    user_id: int,
    page: int,
    admin_credit: AdminCreditService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> CreditHistory | None:
    """The buyer's credit history; for a missing buyer (a forged or stale button) None, after an alert and the
    Users menu."""
    try:
        return await admin_credit.ledger(user_id, page)
    except NotFound:
        alert(callback_answer, l10n("admin.users.gone"))
        await show_menu(query, settings, l10n)
        return None


async def ledger(
    query: CallbackQuery,
    callback_data: AdminCreditCb,
    state: FSMContext,
    admin_credit: AdminCreditService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    await state.clear()
    page = callback_data.page
    history = await history_or_menu(query, callback_data.id, page, admin_credit, settings, l10n, callback_answer)
    if history is not None:
        await answer(query, *ledger_view(callback_data.id, history, page, settings, l10n))


async def ask_adjustment(
    query: CallbackQuery,
    callback_data: AdminCreditCb,
    state: FSMContext,
    admin_credit: AdminCreditService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    history = await history_or_menu(query, callback_data.id, 0, admin_credit, settings, l10n, callback_answer)
    if history is None:
        return
    await state.set_state(CreditForm.adjustment)
    await state.update_data(user_id=callback_data.id)
    balance = format_fiat(history.balance, settings.fiat_currency)
    await answer(
        query,
        l10n("admin.credit.ask", balance=balance, currency=settings.fiat_currency, limit=REASON_LIMIT),
        rows([button(l10n("admin.credit.cancel"), AdminCreditCb(action=CreditAction.ledger, id=callback_data.id))]),
    )


async def got_adjustment(
    message: Message, state: FSMContext, admin_credit: AdminCreditService, settings: Settings, l10n: L10n
) -> None:
    user_id = int((await state.get_data())["user_id"])
    back = rows([button(l10n("admin.credit.cancel"), AdminCreditCb(action=CreditAction.ledger, id=user_id))])
    try:
        amount, reason = parse_adjustment(message.text or "")
    except ValueError:
        await message.answer(l10n("admin.credit.bad_input", limit=REASON_LIMIT), reply_markup=back)
        return
    key = f"adjust:{message.chat.id}:{message.message_id}"  # the same message delivered twice adjusts once
    try:
        line = await admin_credit.adjust(actor(message), user_id, amount, reason, key)
    except AdjustmentRefused as e:
        balance = format_fiat(e.balance, settings.fiat_currency)
        await message.answer(l10n("admin.credit.below_zero", balance=balance), reply_markup=back)
        return
    except NotFound:
        await state.clear()
        await message.answer(l10n("admin.users.gone"))
        return
    await state.clear()
    history = await admin_credit.ledger(user_id, 0)
    text, markup = ledger_view(user_id, history, 0, settings, l10n)
    done = l10n("admin.credit.done", balance=format_fiat(line.balance_after, settings.fiat_currency))
    await answer(message, done + "\n\n" + text, markup)


def build() -> Router:
    """Goes before the other sections in the admin router, so that any of their buttons first ends the prompt."""
    router, waiting = waiting_router("admin-credit", CreditForm)
    router.message.register(got_adjustment, waiting, F.text & ~COMMAND)
    router.callback_query.register(ledger, AdminCreditCb.filter(F.action == CreditAction.ledger))
    router.callback_query.register(ask_adjustment, AdminCreditCb.filter(F.action == CreditAction.adjust))
    return router
