"""Admin: the problem queue and its resolutions (fulfil, refunded off-bot, close, resend delivery)."""

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from handlers.admin import order_views, problem_views
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.order_views import ApAction, ProblemCb
from handlers.admin.orders import TEXT_LIMIT, ProblemInput, sender
from handlers.render import alert, show
from l10n import L10n
from models.enums import OrderProblem
from services.admin.dto import OrderMovedOn, ProblemPage, Resolution
from services.admin.problems import AdminProblemsService
from services.orders.lifecycle import OutOfStock
from services.shop.catalog import NotFound

ALERT_LIMIT = 200  # Telegram's limit for a callback answer
NOTES = {
    ApAction.refund: (Resolution.refund, ProblemInput.refund_note),
    ApAction.close: (Resolution.close, ProblemInput.close_note),
}


async def show_queue(query: CallbackQuery, page: ProblemPage, l10n: L10n) -> None:
    text, markup = problem_views.queue(page, l10n)
    await show(query, text, markup)


async def open_queue(query: CallbackQuery, admin_problems: AdminProblemsService, l10n: L10n) -> None:
    await show_queue(query, await admin_problems.page(0), l10n)


async def queue_page(
    query: CallbackQuery, callback_data: ProblemCb, admin_problems: AdminProblemsService, l10n: L10n
) -> None:
    await show_queue(query, await admin_problems.page(callback_data.page), l10n)


async def problem_view(
    query: CallbackQuery,
    callback_data: ProblemCb,
    admin_problems: AdminProblemsService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """The problem, or for the fulfil button the question that comes before acting."""
    try:
        row = await admin_problems.view(callback_data.id)
    except (NotFound, OrderMovedOn) as e:
        alert(callback_answer, order_views.refusal(e, callback_data.id, l10n))
        return
    if callback_data.action is ApAction.view:
        await show(query, problem_views.problem_text(row, l10n), problem_views.problem_keyboard(row, l10n))
    elif row.problem is not callback_data.problem or Resolution.fulfil not in row.resolutions:
        alert(callback_answer, order_views.moved_on(OrderMovedOn(row.status, row.problem), l10n))
    else:
        await show(query, l10n("admin.problems.ask_fulfil", order_id=row.id), problem_views.confirm_fulfil(row, l10n))


async def ask_note(query: CallbackQuery, callback_data: ProblemCb, state: FSMContext, l10n: L10n) -> None:
    resolution, waiting = NOTES[callback_data.action]
    await state.set_state(waiting)
    await state.update_data(order_id=callback_data.id, problem=callback_data.problem)
    await show(
        query,
        l10n(f"admin.problems.ask_{resolution}", order_id=callback_data.id),
        problem_views.back_to_problem(callback_data.id, l10n),
    )


async def got_note(message: Message, state: FSMContext, admin_problems: AdminProblemsService, l10n: L10n) -> None:
    note = (message.text or "").strip()
    data, waiting = await state.get_data(), await state.get_state()
    order_id = int(data["order_id"])
    if not note or note.startswith("/") or len(note) > TEXT_LIMIT:
        await message.answer(
            l10n("admin.orders.need_text", limit=TEXT_LIMIT), reply_markup=problem_views.back_to_problem(order_id, l10n)
        )
        return
    await state.clear()
    problem, admin = OrderProblem(data["problem"]), sender(message)
    try:
        if waiting == ProblemInput.refund_note.state:
            page, done = await admin_problems.refund(order_id, admin, problem, note), "admin.problems.refunded"
        else:
            page, done = await admin_problems.close(order_id, admin, problem, note), "admin.problems.closed"
    except (NotFound, OrderMovedOn) as e:
        await message.answer(order_views.refusal(e, order_id, l10n))
        return
    text, markup = problem_views.queue(page, l10n)
    await message.answer(l10n(done, order_id=order_id) + "\n\n" + text, reply_markup=markup)


async def resolve(
    query: CallbackQuery,
    callback_data: ProblemCb,
    admin_problems: AdminProblemsService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """Fulfil (after its confirmation) and resend: one press acts."""
    order_id, admin, problem = callback_data.id, sender(query), callback_data.problem
    try:
        if callback_data.action is ApAction.resend or problem is None:
            page, done = await admin_problems.resend(order_id, admin), "admin.problems.resent"
        else:
            page, done = await admin_problems.fulfil(order_id, admin, problem), "admin.problems.fulfilled"
    except (NotFound, OrderMovedOn) as e:
        alert(callback_answer, order_views.refusal(e, order_id, l10n))
        return
    except OutOfStock as e:
        short = ", ".join(l10n("checkout.left", name=name, available=left) for name, left in e.shortages)
        alert(callback_answer, l10n("admin.problems.stock_gone", shortages=short)[:ALERT_LIMIT])
        return
    callback_answer.text = l10n(done, order_id=order_id)
    await show_queue(query, page, l10n)


def build() -> Router:
    router = Router(name="admin-problems")
    router.callback_query.register(open_queue, AdminCb.filter(F.section == AdminSection.problems))
    router.callback_query.register(queue_page, ProblemCb.filter(F.action == ApAction.list))
    router.callback_query.register(problem_view, ProblemCb.filter(F.action.in_({ApAction.view, ApAction.fulfil})))
    router.callback_query.register(ask_note, ProblemCb.filter(F.action.in_(set(NOTES)) & F.problem))
    router.callback_query.register(
        resolve, ProblemCb.filter(F.action.in_({ApAction.fulfil_now, ApAction.resend}) & F.problem)
    )
    router.message.register(got_note, StateFilter(ProblemInput))
    return router
