"""Admin: refunds the bot prepares and watches. From a problem: choose what goes back (the coins, or their
value at today's rate), which asks the buyer for an address; then the payment link and QR for exactly that
amount, a transaction id to close it by hand (checked on chain), or cancelling it."""

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers.admin import order_views, problem_views
from handlers.admin.orders import TEXT_LIMIT, RefundInput, sender
from handlers.admin.refund_views import (
    ArAction,
    RefundAdminCb,
    checked,
    choice,
    confirm_cancel,
    pay_caption,
    pay_keyboard,
)
from handlers.render import alert, show
from l10n import L10n
from models.enums import RefundBasis
from services.admin.dto import OrderMovedOn
from services.admin.problems import AdminProblemsService
from services.admin.refunds import AdminRefundsService, NotRefundable
from services.payments.rates import RateUnavailable
from services.payments.refunds import RefundCheck
from services.payments.uri import qr_png
from services.shop.catalog import NotFound

BASES = {ArAction.coin: RefundBasis.coin, ArAction.fiat: RefundBasis.fiat}


async def choose(
    query: CallbackQuery,
    callback_data: RefundAdminCb,
    admin_refunds: AdminRefundsService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    assert callback_data.problem is not None  # the filter asks for it
    try:
        quote = await admin_refunds.quote(callback_data.id, callback_data.problem)
    except (NotFound, OrderMovedOn) as e:
        alert(callback_answer, order_views.refusal(e, callback_data.id, l10n))
        return
    except NotRefundable as e:
        alert(callback_answer, l10n(f"admin.refunds.refused.{e.reason}"))
        return
    await show(query, *choice(quote, l10n))


async def open_refund(
    query: CallbackQuery,
    callback_data: RefundAdminCb,
    admin_refunds: AdminRefundsService,
    admin_problems: AdminProblemsService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    order_id, problem = callback_data.id, callback_data.problem
    assert problem is not None  # the filter asks for it
    try:
        await admin_refunds.open(order_id, sender(query), problem, BASES[callback_data.action])
    except (NotFound, OrderMovedOn) as e:
        alert(callback_answer, order_views.refusal(e, order_id, l10n))
        return
    except NotRefundable as e:
        alert(callback_answer, l10n(f"admin.refunds.refused.{e.reason}"))
        return
    except RateUnavailable:
        alert(callback_answer, l10n("admin.refunds.no_rate"))
        return
    callback_answer.text = l10n("admin.refunds.opened", order_id=order_id)
    row = await admin_problems.view(order_id)
    await show(query, problem_views.problem_text(row, l10n), problem_views.problem_keyboard(row, l10n))


async def link(
    query: CallbackQuery,
    callback_data: RefundAdminCb,
    admin_refunds: AdminRefundsService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """The payment link for exactly the amount, as a QR photo with the link and address to copy."""
    try:
        refund = await admin_refunds.view(callback_data.id)
    except (NotFound, OrderMovedOn) as e:
        alert(callback_answer, order_views.refusal(e, callback_data.id, l10n))
        return
    if refund.id != callback_data.refund or refund.uri is None or query.bot is None:
        alert(callback_answer, l10n("error.stale"))
        return
    photo = BufferedInputFile(qr_png(refund.uri), filename=f"refund-{refund.order_id}.png")
    await query.bot.send_photo(
        sender(query),
        photo,
        caption=pay_caption(refund, settings.confirmations(refund.unit.chain), l10n),
        reply_markup=pay_keyboard(refund, l10n),
    )


async def ask_txid(query: CallbackQuery, callback_data: RefundAdminCb, state: FSMContext, l10n: L10n) -> None:
    await state.set_state(RefundInput.txid)
    await state.update_data(order_id=callback_data.id, refund_id=callback_data.refund)
    await show(
        query,
        l10n("admin.refunds.ask_txid", order_id=callback_data.id),
        problem_views.back_to_problem(callback_data.id, l10n),
    )


async def got_txid(
    message: Message,
    state: FSMContext,
    admin_refunds: AdminRefundsService,
    admin_problems: AdminProblemsService,
    settings: Settings,
    l10n: L10n,
) -> None:
    txid = (message.text or "").strip()
    data = await state.get_data()
    order_id, refund_id = int(data["order_id"]), int(data["refund_id"])
    back = problem_views.back_to_problem(order_id, l10n)
    if not txid or txid.startswith("/") or len(txid) > TEXT_LIMIT:
        await message.answer(l10n("admin.orders.need_text", limit=TEXT_LIMIT), reply_markup=back)
        return
    try:
        refund = await admin_refunds.view(order_id)
        result = await admin_refunds.check_txid(order_id, refund_id, sender(message), txid)
    except (NotFound, OrderMovedOn) as e:
        await state.clear()
        await message.answer(order_views.refusal(e, order_id, l10n))
        return
    text = checked(result, refund, settings.confirmations(refund.unit.chain), l10n)
    if result is not RefundCheck.refunded:  # the prompt stays: another transaction id may be the one
        await message.answer(text, reply_markup=back)
        return
    await state.clear()
    queue, markup = problem_views.queue(await admin_problems.page(0), l10n)
    await message.answer(text + "\n\n" + queue, reply_markup=markup)


async def ask_cancel(query: CallbackQuery, callback_data: RefundAdminCb, l10n: L10n) -> None:
    await show(
        query,
        l10n("admin.refunds.ask_cancel", order_id=callback_data.id),
        confirm_cancel(callback_data.id, callback_data.refund, l10n),
    )


async def cancel(
    query: CallbackQuery,
    callback_data: RefundAdminCb,
    admin_refunds: AdminRefundsService,
    admin_problems: AdminProblemsService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    order_id = callback_data.id
    try:
        await admin_refunds.cancel(order_id, callback_data.refund, sender(query))
        row = await admin_problems.view(order_id)
    except (NotFound, OrderMovedOn) as e:
        alert(callback_answer, order_views.refusal(e, order_id, l10n))
        return
    callback_answer.text = l10n("admin.refunds.cancelled", order_id=order_id)
    await show(query, problem_views.problem_text(row, l10n), problem_views.problem_keyboard(row, l10n))


def build() -> Router:
    router = Router(name="admin-refunds")
    router.callback_query.register(choose, RefundAdminCb.filter((F.action == ArAction.start) & F.problem))
    router.callback_query.register(open_refund, RefundAdminCb.filter(F.action.in_(set(BASES)) & F.problem))
    router.callback_query.register(link, RefundAdminCb.filter(F.action == ArAction.link))
    router.callback_query.register(ask_txid, RefundAdminCb.filter(F.action == ArAction.txid))
    router.callback_query.register(ask_cancel, RefundAdminCb.filter(F.action == ArAction.cancel))
    router.callback_query.register(cancel, RefundAdminCb.filter(F.action == ArAction.cancel_now))
    router.message.register(got_txid, StateFilter(RefundInput.txid))
    return router
