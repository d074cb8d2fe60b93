"""Finding things: search by name (the buyer types after pressing Search), the best sellers, and /stock.

The last search's text is kept in the buyer's conversation state, so its result pages can be turned and a card
opened from them leads back; /start and the main menu forget it. While the bot waits for the text, any button
or command ends the wait.
"""

from html import escape

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers import keyboards
from handlers.callbacks import BestSellersCb, MenuAction, MenuCb, SearchCb, StockCb
from handlers.card import show_card
from handlers.keyboards import button
from handlers.kinds import product_row
from handlers.prompts import COMMAND, waiting_router
from handlers.render import alert
from l10n import L10n
from services.dto import Page, ProductRow, StockLine
from services.shop.catalog import SEARCH_MAX, SEARCH_MIN, CatalogService, SearchRefused

SEARCH = "search"  # the state data key of the last search's text
PLACE_CHARS, NAME_CHARS = 60, 48  # /stock shortens names so a page always fits one message


class SearchForm(StatesGroup):
    text = State()


def _home(l10n: L10n) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[button(l10n("menu.main"), MenuCb(action=MenuAction.main))]])


async def ask(query: CallbackQuery, state: FSMContext, l10n: L10n) -> None:
    await state.set_state(SearchForm.text)
    await show_card(query, l10n("search.ask", min=SEARCH_MIN, max=SEARCH_MAX), _home(l10n), None)


def results_text(view: Page[ProductRow], l10n: L10n) -> str:
    key = "search.results" if view.items or view.page else "search.nothing"
    return l10n(key, text=escape(view.title))


async def search(message: Message, state: FSMContext, catalog: CatalogService, settings: Settings, l10n: L10n) -> None:
    try:
        view = await catalog.search(message.text or "", 0)
    except SearchRefused:
        await message.answer(l10n("search.bad_length", min=SEARCH_MIN, max=SEARCH_MAX), reply_markup=_home(l10n))
        return
    await state.set_state(None)
    await state.update_data({SEARCH: view.title})
    await message.answer(
        results_text(view, l10n), reply_markup=keyboards.search_results(view, settings.fiat_currency, l10n)
    )


async def not_text(message: Message, l10n: L10n) -> None:
    await message.answer(l10n("search.bad_length", min=SEARCH_MIN, max=SEARCH_MAX), reply_markup=_home(l10n))


async def results_page(
    query: CallbackQuery,
    callback_data: SearchCb,
    state: FSMContext,
    catalog: CatalogService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    text = (await state.get_data()).get(SEARCH)
    try:
        view = await catalog.search(str(text or ""), max(callback_data.page, 0))
    except SearchRefused:  # forgotten (/start, the main menu, a restart): search again
        alert(callback_answer, l10n("error.stale"))
        await ask(query, state, l10n)
        return
    await show_card(query, results_text(view, l10n), keyboards.search_results(view, settings.fiat_currency, l10n), None)


async def best_sellers(
    query: CallbackQuery, catalog: CatalogService, settings: Settings, l10n: L10n, page: int = 0
) -> None:
    view = await catalog.best_sellers(page)
    text = l10n("best_sellers.title" if view.items or page else "best_sellers.none")
    await show_card(query, text, keyboards.best_sellers(view, settings.fiat_currency, l10n), None)


async def best_sellers_page(
    query: CallbackQuery, callback_data: BestSellersCb, catalog: CatalogService, settings: Settings, l10n: L10n
) -> None:
    await best_sellers(query, catalog, settings, l10n, max(callback_data.page, 0))


def stock_view(view: Page[StockLine], currency: str, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    """Products under their "Category / Subcategory" headings, names shortened so the page fits a message."""
    lines = [l10n("stock.title") if view.items or view.page else l10n("catalog.empty")]
    place = None
    for line in view.items:
        if line.place != place:
            place = line.place
            lines.append(f"\n<b>{escape(_short(place, PLACE_CHARS))}</b>")
        row = product_row(
            escape(_short(line.name, NAME_CHARS)), line.price, line.price_varies, line.available, currency, l10n
        )
        lines.append(f"• {row}")
    markup = keyboards.paged(
        [],
        view.page,
        view.has_next,
        lambda _: StockCb(),
        lambda p: StockCb(page=p),
        MenuCb(action=MenuAction.main),
        l10n,
    )
    return "\n".join(lines), markup


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def stock_command(message: Message, catalog: CatalogService, settings: Settings, l10n: L10n) -> None:
    text, markup = stock_view(await catalog.stock(0), settings.fiat_currency, l10n)
    await message.answer(text, reply_markup=markup)


async def stock_page(
    query: CallbackQuery, callback_data: StockCb, catalog: CatalogService, settings: Settings, l10n: L10n
) -> None:
    text, markup = stock_view(await catalog.stock(max(callback_data.page, 0)), settings.fiat_currency, l10n)
    await show_card(query, text, markup, None)


async def open_best_sellers(query: CallbackQuery, catalog: CatalogService, settings: Settings, l10n: L10n) -> None:
    await best_sellers(query, catalog, settings, l10n)


def build() -> Router:
    router, waiting = waiting_router("find", SearchForm)
    router.message.register(search, waiting, F.text, ~COMMAND)
    router.message.register(not_text, waiting, ~COMMAND)
    router.callback_query.register(ask, MenuCb.filter(F.action == MenuAction.search))
    router.callback_query.register(results_page, SearchCb.filter())
    router.callback_query.register(open_best_sellers, MenuCb.filter(F.action == MenuAction.best_sellers))
    router.callback_query.register(best_sellers_page, BestSellersCb.filter())
    router.message.register(stock_command, Command("stock"))
    router.callback_query.register(stock_page, StockCb.filter())
    return router
