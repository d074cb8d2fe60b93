"""👤 My account: lifetime spend, tier and the distance to the next, reseller prices, the buyer's own vouchers,
their referral link, and their store credit with its history (paged)."""

from html import escape

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from config import Settings
from handlers.callbacks import AccountAction, AccountCb, MenuAction, MenuCb
from handlers.credit import history_text
from handlers.keyboards import paged
from handlers.render import show
from l10n import L10n
from services.credit.account import CreditService
from services.dto import UserDTO
from services.money import format_fiat, format_percent
from services.shop.loyalty import AccountView, LoyaltyService, TierView
from services.shop.vouchers import value_text

REFERRAL_PREFIX = "r_"  # t.me/<bot>?start=r_<user id>
VOUCHER_PREFIX = "v_"  # t.me/<bot>?start=v_<code>


def deep_link(bot_username: str, payload: str) -> str:
    return f"https://t.me/{bot_username}?start={payload}"


def tier_text(tier: TierView, l10n: L10n) -> str:
    where = escape(tier.category) if tier.category else l10n("account.everywhere")
    return l10n("account.tier_terms", tier=escape(tier.name), percent=format_percent(tier.percent_bp), where=where)


def account_text(view: AccountView, bot_username: str, currency: str, l10n: L10n) -> str:
    parts = [l10n("account.title", spend=format_fiat(view.spend, currency))]
    parts.append(l10n("account.tier", tier=tier_text(view.tier, l10n)) if view.tier else l10n("account.no_tier"))
    if view.next_tier is not None and view.to_next is not None:
        parts.append(
            l10n(
                "account.next_tier",
                tier=tier_text(view.next_tier, l10n),
                threshold=format_fiat(view.next_tier.threshold, currency),
                missing=format_fiat(view.to_next, currency),
            )
        )
    if view.reseller:
        parts.append(l10n("account.reseller"))
    if view.credit or view.credit_history:
        parts.append(l10n("account.credit", balance=format_fiat(view.credit, currency)))
    if view.vouchers:
        parts.append(
            "\n".join(
                [
                    l10n("account.vouchers"),
                    *(
                        l10n(
                            "account.voucher",
                            code=v.code,
                            value=value_text(v.kind, v.value, currency),
                            until=f"{v.last_day:%Y-%m-%d}" if v.last_day else "—",
                        )
                        for v in view.vouchers
                    ),
                ]
            )
        )
    link = deep_link(bot_username, f"{REFERRAL_PREFIX}{view.user_id}")
    invite = l10n("account.invite_reward", value=view.reward) if view.reward else l10n("account.invite")
    parts.append(l10n("account.referral", invite=invite, link=link, invited=view.invited, bought=view.invited_bought))
    return "\n\n".join(parts)


def account_keyboard(view: AccountView, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if view.credit_history:
        kb.button(text=l10n("account.credit_history"), callback_data=AccountCb(action=AccountAction.credit))
    kb.button(text=l10n("menu.shop"), callback_data=MenuCb(action=MenuAction.shop))
    kb.button(text=l10n("menu.main"), callback_data=MenuCb(action=MenuAction.main))
    kb.adjust(*([1] if view.credit_history else []), 2)
    return kb.as_markup()


async def account(
    query: CallbackQuery, bot: Bot, user: UserDTO, loyalty: LoyaltyService, settings: Settings, l10n: L10n
) -> None:
    view = await loyalty.account(user.id)
    me = await bot.me()
    text = account_text(view, me.username or "", settings.fiat_currency, l10n)
    await show(query, text, account_keyboard(view, l10n))


async def credit_history(
    query: CallbackQuery, callback_data: AccountCb, user: UserDTO, credit: CreditService, settings: Settings, l10n: L10n
) -> None:
    """The buyer's store credit and its entries, newest first, a page at a time."""
    page = callback_data.page
    history = await credit.history(user.id, page)
    markup = paged(
        [],
        page,
        history.more,
        lambda _: MenuCb(action=MenuAction.account),
        lambda p: AccountCb(action=AccountAction.credit, page=p),
        MenuCb(action=MenuAction.account),
        l10n,
    )
    await show(query, history_text(l10n("credit.history_title"), history, settings.fiat_currency, l10n), markup)


def build() -> Router:
    router = Router(name="account")
    router.callback_query.register(account, MenuCb.filter(F.action == MenuAction.account))
    router.callback_query.register(credit_history, AccountCb.filter(F.action == AccountAction.credit))
    return router
