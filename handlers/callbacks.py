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
    search = "find"
    best_sellers = "best"


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


class Via(StrEnum):
    """Where the buyer opened a product card from: its Back button returns there."""

    catalog = "c"  # the subcategory's list (page)
    search = "s"  # the search results (page)
    best_sellers = "b"  # the best sellers (page)


class ProductCb(CallbackData, prefix="pr"):
    action: ProductAction
    id: int
    qty: int = 1
    via: Via = Via.catalog
    page: int = 0  # of the list in `via`


class SearchCb(CallbackData, prefix="fs"):
    """A page of the results of the buyer's last search (the text is kept in their conversation state)."""

    page: int = 0


class BestSellersCb(CallbackData, prefix="fb"):
    page: int = 0


class StockCb(CallbackData, prefix="fk"):
    page: int = 0


class ReviewAction(StrEnum):
    start = "s"  # offer the stars
    stars = "r"  # stars chosen: ask for a text
    save = "w"  # store without a text


class ReviewCb(CallbackData, prefix="rv"):
    action: ReviewAction
    product: int
    stars: int = 0


class PrivacyAction(StrEnum):
    erase = "e"  # /deleteme, confirmed
    keep = "k"  # /deleteme, cancelled


class PrivacyCb(CallbackData, prefix="pd"):
    action: PrivacyAction


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


class OrderAction(StrEnum):
    list = "l"
    view = "v"
    check = "k"
    cancel = "x"


class OrderCb(CallbackData, prefix="od"):
    action: OrderAction
    id: int = 0
    page: int = 0
