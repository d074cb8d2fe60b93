"""A buyer reviews a product they received: offered from their order, stars first, then an optional text.

Every step asks services.shop.reviews whether the buyer received the product, so a forged button changes
nothing. While the bot waits for the text, any button (Skip too: it carries the stars) or command ends the wait.
"""

from html import escape

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from handlers.callbacks import MenuAction, MenuCb, OrderAction, OrderCb, ReviewAction, ReviewCb
from handlers.card import show_card
from handlers.keyboards import button
from handlers.prompts import COMMAND, waiting_router
from handlers.render import alert
from l10n import L10n
from services.dto import UserDTO
from services.shop.reviews import (
    MAX_REVIEW_TEXT,
    STARS,
    AlreadyReviewed,
    NotReceived,
    ReviewService,
    ReviewTooLong,
)

REVIEW = "review"  # the state data key: {"product": id, "stars": n}


class ReviewForm(StatesGroup):
    text = State()


def _done(l10n: L10n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                button(l10n("menu.orders"), OrderCb(action=OrderAction.list)),
                button(l10n("menu.main"), MenuCb(action=MenuAction.main)),
            ]
        ]
    )


def _refusal(e: Exception, l10n: L10n) -> str:
    return l10n("review.already" if isinstance(e, AlreadyReviewed) else "review.not_received")


async def offer_stars(
    query: CallbackQuery,
    callback_data: ReviewCb,
    user: UserDTO,
    reviews: ReviewService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        product = await reviews.reviewable(user.id, callback_data.product)
    except (NotReceived, AlreadyReviewed) as e:
        alert(callback_answer, _refusal(e, l10n))
        return
    stars = [button("★" * n, ReviewCb(action=ReviewAction.stars, product=product.id, stars=n)) for n in STARS]
    markup = InlineKeyboardMarkup(
        inline_keyboard=[stars[:3], stars[3:], [button(l10n("nav.back"), OrderCb(action=OrderAction.list))]]
    )
    await show_card(query, l10n("review.ask_stars", name=escape(product.name)), markup, None)


async def ask_text(
    query: CallbackQuery,
    callback_data: ReviewCb,
    state: FSMContext,
    user: UserDTO,
    reviews: ReviewService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    if callback_data.stars not in STARS:
        alert(callback_answer, l10n("error.stale"))
        return
    try:
        product = await reviews.reviewable(user.id, callback_data.product)
    except (NotReceived, AlreadyReviewed) as e:
        alert(callback_answer, _refusal(e, l10n))
        return
    await state.set_state(ReviewForm.text)
    await state.update_data({REVIEW: {"product": product.id, "stars": callback_data.stars}})
    skip = ReviewCb(action=ReviewAction.save, product=product.id, stars=callback_data.stars)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [button(l10n("review.skip"), skip)],
            [button(l10n("nav.back"), OrderCb(action=OrderAction.list))],
        ]
    )
    text = l10n("review.ask_text", name=escape(product.name), stars="★" * callback_data.stars, max=MAX_REVIEW_TEXT)
    await show_card(query, text, markup, None)


async def save_without_text(
    query: CallbackQuery,
    callback_data: ReviewCb,
    user: UserDTO,
    reviews: ReviewService,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        await reviews.submit(user.id, callback_data.product, callback_data.stars, None)
    except ValueError:
        alert(callback_answer, l10n("error.stale"))
        return
    except (NotReceived, AlreadyReviewed) as e:
        alert(callback_answer, _refusal(e, l10n))
        return
    await show_card(query, l10n("review.thanks"), _done(l10n), None)


async def save_with_text(
    message: Message, state: FSMContext, user: UserDTO, reviews: ReviewService, l10n: L10n
) -> None:
    draft = (await state.get_data()).get(REVIEW) or {}
    try:
        await reviews.submit(user.id, int(draft.get("product", 0)), int(draft.get("stars", 0)), message.text)
    except ReviewTooLong as e:  # the wait goes on: a shorter text, or Skip
        await message.answer(l10n("review.too_long", max=MAX_REVIEW_TEXT, length=e.length))
        return
    except (ValueError, NotReceived, AlreadyReviewed) as e:
        await state.clear()
        text = l10n("error.stale") if isinstance(e, ValueError) else _refusal(e, l10n)
        await message.answer(text, reply_markup=_done(l10n))
        return
    await state.clear()
    await message.answer(l10n("review.thanks"), reply_markup=_done(l10n))


async def not_text(message: Message, l10n: L10n) -> None:
    await message.answer(l10n("review.text_only", max=MAX_REVIEW_TEXT))


def build() -> Router:
    router, waiting = waiting_router("reviews", ReviewForm)
    router.message.register(save_with_text, waiting, F.text, ~COMMAND)
    router.message.register(not_text, waiting, ~COMMAND)
    router.callback_query.register(offer_stars, ReviewCb.filter(F.action == ReviewAction.start))
    router.callback_query.register(ask_text, ReviewCb.filter(F.action == ReviewAction.stars))
    router.callback_query.register(save_without_text, ReviewCb.filter(F.action == ReviewAction.save))
    return router
