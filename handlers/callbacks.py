"""Every CallbackData class: short unique prefixes, ids and enums only (Telegram allows 64 bytes)."""

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData

from models.enums import Chain


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


class CatalogLevel(StrEnum):
    categories = "c"
    subcategories = "s"
    products = "p"


class CatalogCb(CallbackData, prefix="ct"):
    level: CatalogLevel
    id: int = 0  # the parent: category id for subcategories, subcategory id for products
    page: int = 0


class ProductAction(StrEnum):
    view = "v"
    add = "a"


class ProductCb(CallbackData, prefix="pr"):
    action: ProductAction
    id: int
    qty: int = 1


class CartAction(StrEnum):
    view = "v"
    inc = "i"
    dec = "d"
    remove = "r"
    clear = "c"
    checkout = "k"


class CartCb(CallbackData, prefix="ca"):
    action: CartAction
    item: int = 0


class PayCb(CallbackData, prefix="pay"):
    chain: Chain
    token: str = ""  # a token's symbol (ETH_TOKENS, SOL_TOKENS); empty: the chain's own coin


class OrderAction(StrEnum):
    list = "l"
    view = "v"
    check = "k"
    cancel = "x"


class OrderCb(CallbackData, prefix="od"):
    action: OrderAction
    id: int = 0
    page: int = 0
