"""Users: find one by Telegram id or @username, list those with expired unpaid orders, ban, unban,
reset the timeout count, and see their orders and their store credit (handlers.admin.credit)."""

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
from handlers.admin.order_views import open_order
from handlers.admin.panel import actor, answer, rows, to_menu
from handlers.callbacks import Id, Page, Quantity
from handlers.keyboards import button, paged
from handlers.render import alert
from l10n import L10n
from services.admin.users import AdminUsersService, UserCard, UserOrder
from services.dto import NamedItem
from services.money import format_fiat
from services.shop.catalog import NotFound


class UserAction(StrEnum):
    menu = "m"
    search = "f"
    card = "c"
    ban = "b"
    unban = "u"
    reset = "r"
    orders = "o"
    timeouts = "t"
    reseller = "s"  # into the reseller group
    no_reseller = "x"  # out of it


class UsersCb(CallbackData, prefix="au"):
    action: UserAction
    id: Id = 0
    n: Quantity = 0  # timeouts: the least count listed
    page: Page = 0


class CreditAction(StrEnum):
    ledger = "l"
    adjust = "a"


class AdminCreditCb(CallbackData, prefix="acr"):
    """A buyer's store credit (handlers.admin.credit)."""

    action: CreditAction
    id: Id  # the buyer (users.id)
    page: Page = 0


class UsersForm(StatesGroup):
    query = State()


def users_menu(settings: Settings, l10n: L10n) -> InlineKeyboardMarkup:
    limits = sorted({1, settings.max_user_timeouts})
    return rows(
        [button(l10n("admin.users.search"), UsersCb(action=UserAction.search))],
        [button(l10n("admin.users.timeouts", n=n), UsersCb(action=UserAction.timeouts, n=n)) for n in limits],
        [to_menu(l10n)],
    )


def card_view(card: UserCard, currency: str, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    def yes_no(flag: bool) -> str:
        return l10n("admin.users.yes" if flag else "admin.users.no")

    text = l10n(
        "admin.users.card",
        id=card.id,
        telegram_id=card.telegram_id,
        username=f"@{escape(card.username)}" if card.username else "—",
        language=card.language,
        joined=card.created_at.strftime("%Y-%m-%d"),
        orders=card.orders,
        timeouts=card.timeout_count,
        banned=yes_no(card.is_banned),
        blocked=yes_no(card.blocked_bot),
    )
    text += "\n" + l10n("admin.users.reseller_line", reseller=yes_no(card.is_reseller))
    text += "\n" + l10n("admin.users.credit_line", balance=format_fiat(card.credit, currency))
    ban = UserAction.unban if card.is_banned else UserAction.ban
    group = UserAction.no_reseller if card.is_reseller else UserAction.reseller
    return text, rows(
        [button(l10n(f"admin.users.{ban.name}"), UsersCb(action=ban, id=card.id))],
        [button(l10n(f"admin.users.{group.name}"), UsersCb(action=group, id=card.id))],
        [button(l10n("admin.users.reset"), UsersCb(action=UserAction.reset, id=card.id))] if card.timeout_count else [],
        [button(l10n("admin.users.orders"), UsersCb(action=UserAction.orders, id=card.id))],
        [button(l10n("admin.credit.open"), AdminCreditCb(action=CreditAction.ledger, id=card.id))],
        [button(l10n("nav.back"), UsersCb(action=UserAction.menu))],
    )


def order_line(order: UserOrder, l10n: L10n) -> str:
    return l10n(
        "admin.users.order_row",
        order_id=order.id,
        date=order.created_at.strftime("%Y-%m-%d %H:%M"),
        status=l10n(f"status.{order.status}"),
        total=format_fiat(order.total, order.currency),
    )


async def open_section(query: CallbackQuery, state: FSMContext, settings: Settings, l10n: L10n) -> None:
    await state.clear()
    await show_menu(query, settings, l10n)


async def show_menu(event: Message | CallbackQuery, settings: Settings, l10n: L10n) -> None:
    await answer(event, l10n("admin.users.title"), users_menu(settings, l10n))


async def ask_query(query: CallbackQuery, state: FSMContext, l10n: L10n) -> None:
    await state.set_state(UsersForm.query)
    await answer(
        query, l10n("admin.users.ask"), rows([button(l10n("admin.users.cancel"), UsersCb(action=UserAction.menu))])
    )


async def got_query(
    message: Message, state: FSMContext, admin_users: AdminUsersService, settings: Settings, l10n: L10n
) -> None:
    try:
        card = await admin_users.find(message.text or "")
    except NotFound:
        await message.answer(
            l10n("admin.users.not_found"),
            reply_markup=rows([button(l10n("admin.users.cancel"), UsersCb(action=UserAction.menu))]),
        )
        return
    await state.clear()
    await answer(message, *card_view(card, settings.fiat_currency, l10n))


async def act(
    query: CallbackQuery,
    callback_data: UsersCb,
    state: FSMContext,
    admin_users: AdminUsersService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """Show a user's card, after banning, unbanning or resetting the timeout count if that was pressed."""
    await state.clear()
    action, who = callback_data.action, actor(query)
    try:
        if action in (UserAction.ban, UserAction.unban):
            card = await admin_users.set_banned(who, callback_data.id, action is UserAction.ban)
        elif action is UserAction.reset:
            card = await admin_users.reset_timeouts(who, callback_data.id)
        elif action in (UserAction.reseller, UserAction.no_reseller):
            card = await admin_users.set_reseller(who, callback_data.id, action is UserAction.reseller)
        else:
            card = await admin_users.card(callback_data.id)
    except NotFound:
        alert(callback_answer, l10n("admin.users.gone"))
        await show_menu(query, settings, l10n)
        return
    if action is not UserAction.card:
        callback_answer.text = l10n(f"admin.users.done_{action.name}")
    await answer(query, *card_view(card, settings.fiat_currency, l10n))


async def with_timeouts(
    query: CallbackQuery, callback_data: UsersCb, state: FSMContext, admin_users: AdminUsersService, l10n: L10n
) -> None:
    await state.clear()
    page, at_least = max(callback_data.page, 0), max(callback_data.n, 1)
    cards, more = await admin_users.with_timeouts(at_least, page)
    items = [
        NamedItem(
            c.id,
            l10n(
                "admin.users.timeout_row",
                telegram_id=c.telegram_id,
                timeouts=c.timeout_count,
                username=f"@{c.username}" if c.username else "—",
            ),
        )
        for c in cards
    ]
    await answer(
        query,
        l10n("admin.users.timeouts_title" if items else "admin.users.timeouts_none", n=at_least),
        paged(
            items,
            page,
            more,
            lambda i: UsersCb(action=UserAction.card, id=i),
            lambda p: UsersCb(action=UserAction.timeouts, n=at_least, page=p),
            UsersCb(action=UserAction.menu),
            l10n,
        ),
    )


async def orders(
    query: CallbackQuery,
    callback_data: UsersCb,
    state: FSMContext,
    admin_users: AdminUsersService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    await state.clear()
    page = max(callback_data.page, 0)
    try:
        rows_, more = await admin_users.orders(callback_data.id, page)
    except NotFound:
        alert(callback_answer, l10n("admin.users.gone"))
        await show_menu(query, settings, l10n)
        return
    markup = paged(
        [NamedItem(o.id, order_line(o, l10n)) for o in rows_],
        page,
        more,
        open_order,
        lambda p: UsersCb(action=UserAction.orders, id=callback_data.id, page=p),
        UsersCb(action=UserAction.card, id=callback_data.id),
        l10n,
    )
    title = l10n("admin.users.orders_title", id=callback_data.id)
    await answer(query, title if rows_ else "\n".join([title, l10n("admin.users.no_orders")]), markup)


def build() -> Router:
    router = Router(name="admin-users")
    router.callback_query.register(open_section, AdminCb.filter(F.section == AdminSection.users))
    router.callback_query.register(open_section, UsersCb.filter(F.action == UserAction.menu))
    router.callback_query.register(ask_query, UsersCb.filter(F.action == UserAction.search))
    router.callback_query.register(
        act,
        UsersCb.filter(
            F.action.in_(
                {
                    UserAction.card,
                    UserAction.ban,
                    UserAction.unban,
                    UserAction.reset,
                    UserAction.reseller,
                    UserAction.no_reseller,
                }
            )
        ),
    )
    router.callback_query.register(with_timeouts, UsersCb.filter(F.action == UserAction.timeouts))
    router.callback_query.register(orders, UsersCb.filter(F.action == UserAction.orders))
    router.message.register(got_query, UsersForm.query, F.text, ~F.text.startswith("/"))
    return router
