"""/start (with its deep links: a voucher code, a referral), the main menu, the language switch, and the shop's
own texts: /terms and /paysupport."""

from html import escape

from aiogram import F, Router
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers import keyboards
from handlers.account import REFERRAL_PREFIX, VOUCHER_PREFIX
from handlers.callbacks import LanguageCb, MenuAction, MenuCb
from handlers.prices import problem_text
from handlers.render import show
from l10n import LANGUAGES, L10n, Translator
from services.dto import UserDTO
from services.shop.cart import CartService
from services.shop.loyalty import LoyaltyService
from services.shop.texts import ShopText, ShopTextService
from services.shop.users import UserService
from services.shop.vouchers import VoucherRefused


def shop_text(kind: ShopText, custom: str | None, settings: Settings, l10n: L10n, name: str = "") -> str:
    """The admin's text (plain text; "{name}" becomes the buyer's first name), else the built-in one."""
    if custom is not None:
        return escape(custom).replace("{name}", escape(name))
    shop = escape(settings.shop_name) if settings.shop_name else l10n("identity.the_shop")
    contact = escape(settings.support_contact) if settings.support_contact else l10n("identity.support_button")
    if kind is ShopText.welcome:
        key = "start.welcome_named" if settings.shop_name else "start.welcome"
        return l10n(key, name=escape(name), shop=shop)
    return l10n(f"identity.{kind}", shop=shop, contact=contact)


async def start(
    message: Message,
    command: CommandObject,
    user: UserDTO,
    cart: CartService,
    loyalty: LoyaltyService,
    shop_texts: ShopTextService,
    state: FSMContext,
    settings: Settings,
    l10n: L10n,
) -> SendMessage:
    """Home, whatever the buyer was doing. A deep link's voucher code goes on the cart (or is explained); a
    referral is attributed if it may be; any other payload is ignored. The menu is the update's last call
    (bot.replies)."""
    await state.clear()
    name = message.from_user.first_name if message.from_user else ""
    custom = await shop_texts.text(ShopText.welcome, l10n.language)
    await message.answer(shop_text(ShopText.welcome, custom, settings, l10n, name))
    payload = command.args or ""
    if payload.startswith(VOUCHER_PREFIX):
        try:
            view = await cart.apply_code(user.id, payload.removeprefix(VOUCHER_PREFIX))
        except VoucherRefused as e:
            await message.answer(problem_text(e.problem, settings.fiat_currency, l10n))
        else:
            await message.answer(l10n("start.code_applied" if view.lines else "start.code_saved", code=view.code))
    elif payload.startswith(REFERRAL_PREFIX):
        await loyalty.refer(user.id, payload.removeprefix(REFERRAL_PREFIX))
    return message.answer(l10n("menu.title"), reply_markup=keyboards.main_menu(l10n))


async def own_text(
    message: Message, command: CommandObject, shop_texts: ShopTextService, settings: Settings, l10n: L10n
) -> SendMessage:
    """/terms and /paysupport, as the update's last call (bot.replies)."""
    kind = ShopText(command.command.lower())
    text = shop_text(kind, await shop_texts.text(kind, l10n.language), settings, l10n)
    return message.answer(text, reply_markup=keyboards.main_menu(l10n))


async def main_menu(query: CallbackQuery, state: FSMContext, l10n: L10n) -> None:
    await state.clear()
    await show(query, l10n("menu.title"), keyboards.main_menu(l10n))


async def choose_language(query: CallbackQuery, l10n: L10n) -> None:
    await show(query, l10n("language.choose"), keyboards.languages(l10n))


async def set_language(
    query: CallbackQuery,
    callback_data: LanguageCb,
    user: UserDTO,
    users: UserService,
    translator: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    await users.set_language(user.id, callback_data.code)
    l10n = translator(callback_data.code)
    callback_answer.text = l10n("language.changed")
    await show(query, l10n("menu.title"), keyboards.main_menu(l10n))


async def bot_blocked_or_unblocked(event: ChatMemberUpdated, users: UserService) -> None:
    """Telegram tells the bot when a buyer blocks it (kicked) and when they come back (member)."""
    await users.set_blocked_bot(event.chat.id, event.new_chat_member.status == ChatMemberStatus.KICKED)


def build() -> Router:
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.message.register(own_text, Command(ShopText.terms, ShopText.paysupport))
    router.my_chat_member.register(bot_blocked_or_unblocked, F.chat.type == ChatType.PRIVATE)
    router.callback_query.register(main_menu, MenuCb.filter(F.action == MenuAction.main))
    router.callback_query.register(choose_language, MenuCb.filter(F.action == MenuAction.language))
    router.callback_query.register(set_language, LanguageCb.filter(F.code.in_(LANGUAGES)))
    return router
