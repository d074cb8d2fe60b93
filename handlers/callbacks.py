"""Every CallbackData class: short unique prefixes, ids and enums only (Telegram allows 64 bytes)."""

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class MenuAction(StrEnum):
    main = "main"
    shop = "shop"
    cart = "cart"
    orders = "orders"
    support = "support"
    language = "lang"


class MenuCb(CallbackData, prefix="m"):
    action: MenuAction


class LanguageCb(CallbackData, prefix="lg"):
    code: str
