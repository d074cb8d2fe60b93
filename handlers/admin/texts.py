"""Admin: the shop's own texts (welcome, /terms, /paysupport) per language: see one as buyers see it, write
it (the next message), or go back to the built-in text."""

from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from config import Settings
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.panel import actor, answer, rows, to_menu
from handlers.keyboards import LANGUAGE_NAMES, button
from handlers.prompts import COMMAND, waiting_router
from handlers.start import shop_text
from l10n import LANGUAGES, L10n, Translator
from services.admin.texts import AdminTextsService, TextRefused, TextState
from services.shop.texts import TEXT_LIMIT, ShopText


class TextAction(StrEnum):
    list = "l"
    view = "v"
    edit = "e"
    reset = "r"


class Language(StrEnum):
    en = "en"
    de = "de"


class TextCb(CallbackData, prefix="atx"):
    action: TextAction
    kind: ShopText = ShopText.welcome
    language: Language = Language.en


class TextInput(StatesGroup):
    text = State()  # data: kind, language


def list_view(states: list[TextState], l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    def label(state: TextState) -> str:
        own = l10n("admin.texts.own" if state.custom else "admin.texts.builtin")
        return f"{l10n(f'admin.texts.kind.{state.kind}')} · {LANGUAGE_NAMES[state.language]} · {own}"

    return l10n("admin.texts.title"), rows(
        *(
            [button(label(s), TextCb(action=TextAction.view, kind=s.kind, language=Language(s.language)))]
            for s in states
        ),
        [to_menu(l10n)],
    )


async def show_list(event: Message | CallbackQuery, admin_texts: AdminTextsService, l10n: L10n) -> None:
    await answer(event, *list_view(await admin_texts.all(), l10n))


async def open_section(query: CallbackQuery, admin_texts: AdminTextsService, l10n: L10n) -> None:
    await show_list(query, admin_texts, l10n)


async def view(
    event: Message | CallbackQuery,
    kind: ShopText,
    language: Language,
    admin_texts: AdminTextsService,
    translator: Translator,
    settings: Settings,
    l10n: L10n,
) -> None:
    """The text as a buyer in that language reads it, the built-in one included."""
    (state,) = [s for s in await admin_texts.all() if s.kind is kind and s.language == language]
    shown = shop_text(kind, state.custom, settings, translator(language), "{name}")
    head = l10n(
        "admin.texts.view",
        kind=l10n(f"admin.texts.kind.{kind}"),
        language=LANGUAGE_NAMES[language],
        source=l10n("admin.texts.own" if state.custom else "admin.texts.builtin"),
    )
    markup = rows(
        [button(l10n("admin.texts.edit"), TextCb(action=TextAction.edit, kind=kind, language=language))],
        [button(l10n("admin.texts.reset"), TextCb(action=TextAction.reset, kind=kind, language=language))]
        if state.custom
        else [],
        [button(l10n("nav.back"), TextCb(action=TextAction.list))],
    )
    await answer(event, f"{head}\n\n{shown}", markup)


async def act(
    query: CallbackQuery,
    callback_data: TextCb,
    admin_texts: AdminTextsService,
    translator: Translator,
    settings: Settings,
    l10n: L10n,
) -> None:
    """Show a text; back to the built-in one first when that button was pressed."""
    kind, language = callback_data.kind, callback_data.language
    if callback_data.action is TextAction.reset:
        await admin_texts.reset(actor(query), kind, language)
    await view(query, kind, language, admin_texts, translator, settings, l10n)


async def ask(query: CallbackQuery, callback_data: TextCb, state: FSMContext, l10n: L10n) -> None:
    await state.set_state(TextInput.text)
    await state.update_data(kind=callback_data.kind.value, language=callback_data.language.value)
    back = TextCb(action=TextAction.view, kind=callback_data.kind, language=callback_data.language)
    await answer(
        query,
        l10n("admin.texts.ask", limit=TEXT_LIMIT),
        rows([button(l10n("admin.texts.cancel"), back)]),
    )


async def got_text(
    message: Message,
    state: FSMContext,
    admin_texts: AdminTextsService,
    translator: Translator,
    settings: Settings,
    l10n: L10n,
) -> None:
    data = await state.get_data()
    kind, language = ShopText(data["kind"]), Language(data["language"])
    try:
        await admin_texts.set(actor(message), kind, language, message.text or "")
    except TextRefused:
        await message.answer(l10n("admin.texts.refused", limit=TEXT_LIMIT))
        return
    await state.clear()
    await view(message, kind, language, admin_texts, translator, settings, l10n)


def build() -> Router:
    """Goes before the other sections in the admin router, so that any of their buttons first ends the prompt."""
    assert set(LANGUAGES) == set(Language)  # a new language needs its button value here
    router, waiting = waiting_router("admin-texts", TextInput)
    router.message.register(got_text, waiting, F.text & ~COMMAND)
    router.callback_query.register(open_section, AdminCb.filter(F.section == AdminSection.texts))
    router.callback_query.register(open_section, TextCb.filter(F.action == TextAction.list))
    router.callback_query.register(ask, TextCb.filter(F.action == TextAction.edit))
    router.callback_query.register(act, TextCb.filter())
    return router
