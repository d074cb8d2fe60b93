"""Admin: tiers and referrals. The spend tiers (add from one line, delete), whether reseller prices and tiers
stack, what a referral earns, and the top referrers."""

from enum import StrEnum
from html import escape

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers.account import tier_text
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.panel import actor, answer, rows, to_menu
from handlers.callbacks import Id
from handlers.keyboards import button
from handlers.prompts import COMMAND, waiting_router
from handlers.render import alert
from l10n import L10n
from services.admin.loyalty import AdminLoyaltyService, LoyaltyRefused, LoyaltySettings
from services.money import format_fiat
from services.shop.catalog import NotFound
from services.shop.vouchers import value_text


class LoyaltyAction(StrEnum):
    home = "h"
    new_tier = "n"
    delete_tier = "d"
    stack = "s"
    no_stack = "u"
    reward = "r"
    referrers = "t"


class LoyaltyCb(CallbackData, prefix="al"):
    action: LoyaltyAction
    id: Id = 0


class LoyaltyInput(StatesGroup):
    tier = State()
    reward = State()


def home_view(view: LoyaltySettings, settings: Settings, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    currency = settings.fiat_currency
    tiers = [
        l10n("admin.loyalty.tier", threshold=format_fiat(t.threshold, currency), terms=tier_text(t, l10n))
        for t in view.tiers
    ]
    reward = value_text(*view.reward, currency) if view.reward else None
    text = l10n(
        "admin.loyalty.title",
        tiers="\n".join(tiers) or l10n("admin.loyalty.no_tiers"),
        stack=l10n("admin.loyalty.stacked" if view.stack else "admin.loyalty.not_stacked"),
        reward=l10n("admin.loyalty.reward", value=reward) if reward else l10n("admin.loyalty.no_reward"),
    )
    stack = LoyaltyAction.no_stack if view.stack else LoyaltyAction.stack
    return text, rows(
        [button(l10n("admin.loyalty.new_tier"), LoyaltyCb(action=LoyaltyAction.new_tier))],
        *(
            [
                button(
                    l10n("admin.loyalty.delete_tier", name=t.name), LoyaltyCb(action=LoyaltyAction.delete_tier, id=t.id)
                )
            ]
            for t in view.tiers
        ),
        [button(l10n(f"admin.loyalty.{stack.name}"), LoyaltyCb(action=stack))],
        [button(l10n("admin.loyalty.set_reward"), LoyaltyCb(action=LoyaltyAction.reward))],
        [button(l10n("admin.loyalty.referrers"), LoyaltyCb(action=LoyaltyAction.referrers))],
        [to_menu(l10n)],
    )


async def show_home(
    event: Message | CallbackQuery, admin_loyalty: AdminLoyaltyService, settings: Settings, l10n: L10n
) -> None:
    await answer(event, *home_view(await admin_loyalty.overview(), settings, l10n))


async def open_section(
    query: CallbackQuery, admin_loyalty: AdminLoyaltyService, settings: Settings, l10n: L10n
) -> None:
    await show_home(query, admin_loyalty, settings, l10n)


async def act(
    query: CallbackQuery,
    callback_data: LoyaltyCb,
    admin_loyalty: AdminLoyaltyService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """Delete a tier, or stack or unstack, then the section again."""
    action, who = callback_data.action, actor(query)
    try:
        if action is LoyaltyAction.delete_tier:
            await admin_loyalty.delete_tier(who, callback_data.id)
        elif action in (LoyaltyAction.stack, LoyaltyAction.no_stack):
            await admin_loyalty.set_stack(who, action is LoyaltyAction.stack)
    except NotFound:
        alert(callback_answer, l10n("admin.loyalty.gone"))
    else:
        if action is not LoyaltyAction.home:
            callback_answer.text = l10n("admin.loyalty.done")
    await show_home(query, admin_loyalty, settings, l10n)


async def referrers(query: CallbackQuery, admin_loyalty: AdminLoyaltyService, l10n: L10n) -> None:
    rows_ = [
        l10n(
            "admin.loyalty.referrer",
            who=escape(f"@{r.username}") if r.username else r.telegram_id,
            telegram_id=r.telegram_id,
            invited=r.invited,
            bought=r.bought,
        )
        for r in await admin_loyalty.top_referrers()
    ]
    text = "\n".join([l10n("admin.loyalty.referrers_title"), *rows_]) if rows_ else l10n("admin.loyalty.no_referrers")
    await answer(query, text, rows([button(l10n("nav.back"), LoyaltyCb(action=LoyaltyAction.home))]))


def cancel(l10n: L10n) -> InlineKeyboardMarkup:
    return rows([button(l10n("admin.loyalty.cancel"), LoyaltyCb(action=LoyaltyAction.home))])


async def ask(
    query: CallbackQuery, callback_data: LoyaltyCb, state: FSMContext, settings: Settings, l10n: L10n
) -> None:
    tier = callback_data.action is LoyaltyAction.new_tier
    await state.set_state(LoyaltyInput.tier if tier else LoyaltyInput.reward)
    key = "admin.loyalty.ask_tier" if tier else "admin.loyalty.ask_reward"
    await answer(query, l10n(key, currency=settings.fiat_currency), cancel(l10n))


async def got_text(
    message: Message, state: FSMContext, admin_loyalty: AdminLoyaltyService, settings: Settings, l10n: L10n
) -> None:
    try:
        if await state.get_state() == LoyaltyInput.tier.state:
            await admin_loyalty.add_tier(actor(message), message.text or "")
        else:
            await admin_loyalty.set_reward(actor(message), message.text or "")
    except LoyaltyRefused as e:
        await message.answer(l10n(f"admin.loyalty.bad.{e.problem}"), reply_markup=cancel(l10n))
        return
    await state.clear()
    text, markup = home_view(await admin_loyalty.overview(), settings, l10n)
    await message.answer(l10n("admin.loyalty.saved") + "\n\n" + text, reply_markup=markup)


def build() -> Router:
    """Goes before the other sections in the admin router, so that any of their buttons first ends a prompt."""
    router, waiting = waiting_router("admin-loyalty", LoyaltyInput)
    router.message.register(got_text, waiting, F.text & ~COMMAND)
    router.callback_query.register(open_section, AdminCb.filter(F.section == AdminSection.loyalty))
    router.callback_query.register(ask, LoyaltyCb.filter(F.action.in_({LoyaltyAction.new_tier, LoyaltyAction.reward})))
    router.callback_query.register(referrers, LoyaltyCb.filter(F.action == LoyaltyAction.referrers))
    router.callback_query.register(act, LoyaltyCb.filter())
    return router
