"""Pure functions from data and strings to inline keyboards."""

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.callbacks import LanguageCb, MenuAction, MenuCb
from l10n import LANGUAGES, L10n

LANGUAGE_NAMES = {"en": "🇬🇧 English", "de": "🇩🇪 Deutsch"}


def main_menu(l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=l10n("menu.shop"), callback_data=MenuCb(action=MenuAction.shop))
    kb.button(text=l10n("menu.cart"), callback_data=MenuCb(action=MenuAction.cart))
    kb.button(text=l10n("menu.orders"), callback_data=MenuCb(action=MenuAction.orders))
    kb.button(text=l10n("menu.support"), callback_data=MenuCb(action=MenuAction.support))
    kb.button(text=l10n("menu.language"), callback_data=MenuCb(action=MenuAction.language))
    kb.adjust(2, 2, 1)
    return kb.as_markup()


def languages(l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for code in LANGUAGES:
        kb.button(text=LANGUAGE_NAMES[code], callback_data=LanguageCb(code=code))
    kb.button(text=l10n("menu.main"), callback_data=MenuCb(action=MenuAction.main))
    kb.adjust(len(LANGUAGES), 1)
    return kb.as_markup()
