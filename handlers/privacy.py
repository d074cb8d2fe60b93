"""A buyer's data requests: /mydata sends everything the shop keeps about them as a JSON document; /deleteme
erases their personal data after a confirmation (see services.shop.privacy for what goes and what stays)."""

import json

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from handlers import keyboards
from handlers.callbacks import PrivacyAction, PrivacyCb
from handlers.card import show_card
from handlers.keyboards import button
from handlers.render import alert
from l10n import L10n
from services.dto import UserDTO
from services.shop.privacy import OrderStillNeeds, PrivacyService


async def my_data(message: Message, user: UserDTO, privacy: PrivacyService, l10n: L10n) -> None:
    data = json.dumps(await privacy.export(user.id), ensure_ascii=False, indent=2).encode()
    document = BufferedInputFile(data, filename=f"my-data-{user.telegram_id}.json")
    await message.answer_document(document, caption=l10n("privacy.export"))


async def delete_me(message: Message, l10n: L10n) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [button(l10n("privacy.erase"), PrivacyCb(action=PrivacyAction.erase))],
            [button(l10n("privacy.keep"), PrivacyCb(action=PrivacyAction.keep))],
        ]
    )
    await message.answer(l10n("privacy.confirm"), reply_markup=markup)


async def erase(
    query: CallbackQuery,
    state: FSMContext,
    user: UserDTO,
    privacy: PrivacyService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        erased = await privacy.erase(user.id)
    except OrderStillNeeds as e:
        alert(callback_answer, l10n("privacy.unshipped" if e.shipping else "privacy.unpaid", order_id=e.order_id))
        return
    await state.clear()  # the conversation may hold a sealed address typed at checkout
    text = l10n("privacy.erased", addresses=erased.addresses, reviews=erased.review_texts)
    await show_card(query, text, keyboards.main_menu(l10n), None)


async def keep(query: CallbackQuery, l10n: L10n) -> None:
    await show_card(query, l10n("privacy.kept"), keyboards.main_menu(l10n), None)


def build() -> Router:
    router = Router(name="privacy")
    router.message.register(my_data, Command("mydata"))
    router.message.register(delete_me, Command("deleteme"))
    router.callback_query.register(erase, PrivacyCb.filter(F.action == PrivacyAction.erase))
    router.callback_query.register(keep, PrivacyCb.filter(F.action == PrivacyAction.keep))
    return router
