"""Admin: order lists by status, one order in full, and shipping, cancelling, expiring and confirming it.

Actions that need words (tracking, a reason) ask for one text message in an FSM state; pressing any
button, /admin or /start leaves that state, so an admin is never stuck in it.
"""

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from handlers.admin import order_views as views
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.order_views import AdminOrderCb, AoAction
from handlers.render import alert, show
from l10n import L10n
from services.admin.dto import AdminAction, OrderMovedOn
from services.admin.orders import AdminOrdersService
from services.shop.catalog import NotFound

TEXT_LIMIT = 500


class OrderInput(StatesGroup):
    tracking = State()
    cancel_reason = State()
    confirm_reason = State()


class ProblemInput(StatesGroup):
    refund_note = State()
    close_note = State()


class RefundInput(StatesGroup):
    txid = State()  # data: order_id, refund_id


ASKS = {
    AoAction.ship: (AdminAction.ship, OrderInput.tracking, "admin.orders.ask_tracking"),
    AoAction.cancel: (AdminAction.cancel, OrderInput.cancel_reason, "admin.orders.ask_cancel"),
    AoAction.confirm: (AdminAction.confirm, OrderInput.confirm_reason, "admin.orders.ask_confirm"),
}


def sender(event: Message | CallbackQuery) -> int:
    assert event.from_user is not None  # the admin router's filter let only known users in
    return event.from_user.id


async def leave_input(query: CallbackQuery, state: FSMContext, callback_answer: CallbackAnswer) -> None:
    """Any button ends a pending text prompt, then does what it always does."""
    callback_answer.disable()  # the handler that takes the button answers it
    await state.clear()
    raise SkipHandler


async def orders_menu(query: CallbackQuery, admin_orders: AdminOrdersService, l10n: L10n) -> None:
    await show(query, l10n("admin.orders.title"), views.buckets(await admin_orders.counts(), l10n))


async def order_list(
    query: CallbackQuery, callback_data: AdminOrderCb, admin_orders: AdminOrdersService, l10n: L10n
) -> None:
    text, markup = views.order_list(await admin_orders.page(callback_data.bucket, callback_data.page), l10n)
    await show(query, text, markup)


async def order_view(
    query: CallbackQuery,
    callback_data: AdminOrderCb,
    admin_orders: AdminOrdersService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        view = await admin_orders.view(callback_data.id)
    except NotFound:
        alert(callback_answer, l10n("admin.orders.not_found", order_id=callback_data.id))
        return
    await show(query, views.order_text(view, l10n), views.order_keyboard(view, l10n))


async def order_command(message: Message, command: CommandObject, admin_orders: AdminOrdersService, l10n: L10n) -> None:
    """/order 42: jump straight to an order."""
    arg = (command.args or "").strip().lstrip("#")
    try:
        view = await admin_orders.view(int(arg))
    except (ValueError, NotFound):
        await message.answer(l10n("admin.orders.not_found", order_id=arg or "?"))
        return
    await message.answer(views.order_text(view, l10n), reply_markup=views.order_keyboard(view, l10n))


async def ask_text(
    query: CallbackQuery,
    callback_data: AdminOrderCb,
    state: FSMContext,
    admin_orders: AdminOrdersService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    action, waiting, prompt = ASKS[callback_data.action]
    try:
        await admin_orders.check(callback_data.id, action)
    except (NotFound, OrderMovedOn) as e:
        alert(callback_answer, views.refusal(e, callback_data.id, l10n))
        return
    await state.set_state(waiting)
    await state.update_data(order_id=callback_data.id)
    await show(query, l10n(prompt, order_id=callback_data.id), views.back_to_order(callback_data.id, l10n))


async def got_text(message: Message, state: FSMContext, admin_orders: AdminOrdersService, l10n: L10n) -> None:
    text = (message.text or "").strip()
    data, waiting = await state.get_data(), await state.get_state()
    order_id = int(data["order_id"])
    if not text or text.startswith("/") or len(text) > TEXT_LIMIT:
        await message.answer(
            l10n("admin.orders.need_text", limit=TEXT_LIMIT), reply_markup=views.back_to_order(order_id, l10n)
        )
        return
    await state.clear()
    admin = sender(message)
    try:
        if waiting == OrderInput.tracking.state:
            view, done = await admin_orders.ship(order_id, admin, text), "admin.orders.shipped"
        elif waiting == OrderInput.cancel_reason.state:
            view, done = await admin_orders.cancel(order_id, admin, text), "admin.orders.cancelled"
        else:
            view, done = await admin_orders.confirm(order_id, admin, text), "admin.orders.confirmed"
    except (NotFound, OrderMovedOn) as e:
        await message.answer(views.refusal(e, order_id, l10n), reply_markup=views.back_to_order(order_id, l10n))
        return
    await message.answer(
        l10n(done, order_id=order_id) + "\n\n" + views.order_text(view, l10n),
        reply_markup=views.order_keyboard(view, l10n),
    )


async def ask_expire(
    query: CallbackQuery,
    callback_data: AdminOrderCb,
    admin_orders: AdminOrdersService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        await admin_orders.check(callback_data.id, AdminAction.expire)
    except (NotFound, OrderMovedOn) as e:
        alert(callback_answer, views.refusal(e, callback_data.id, l10n))
        return
    await show(
        query, l10n("admin.orders.ask_expire", order_id=callback_data.id), views.confirm_expire(callback_data.id, l10n)
    )


async def expire(
    query: CallbackQuery,
    callback_data: AdminOrderCb,
    admin_orders: AdminOrdersService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        view = await admin_orders.expire(callback_data.id, sender(query))
    except (NotFound, OrderMovedOn) as e:
        alert(callback_answer, views.refusal(e, callback_data.id, l10n))
        return
    callback_answer.text = l10n("admin.orders.expired", order_id=callback_data.id)
    await show(query, views.order_text(view, l10n), views.order_keyboard(view, l10n))


def build() -> Router:
    router = Router(name="admin-orders")
    router.callback_query.register(leave_input, StateFilter(OrderInput, ProblemInput, RefundInput))
    router.callback_query.register(orders_menu, AdminCb.filter(F.section == AdminSection.orders))
    router.callback_query.register(order_list, AdminOrderCb.filter(F.action == AoAction.list))
    router.callback_query.register(order_view, AdminOrderCb.filter(F.action == AoAction.view))
    router.callback_query.register(ask_text, AdminOrderCb.filter(F.action.in_(set(ASKS))))
    router.callback_query.register(ask_expire, AdminOrderCb.filter(F.action == AoAction.expire))
    router.callback_query.register(expire, AdminOrderCb.filter(F.action == AoAction.expire_now))
    router.message.register(order_command, Command("order"))
    router.message.register(got_text, StateFilter(OrderInput))
    return router
