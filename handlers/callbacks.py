"""Every CallbackData class: short unique prefixes, ids and enums only (Telegram allows 64 bytes)."""

from enum import StrEnum
from typing import Annotated, Any, Self

from aiogram.filters.callback_data import CallbackData
from pydantic import ConfigDict, Field

from models.enums import Chain

# Numbers in callback data are bounded: a forged button with an id or page beyond what a database column
# holds fails the filter (and gets the "stale button" answer) instead of an overflow inside a query.
Id = Annotated[int, Field(ge=0, le=2**31 - 1)]
Page = Annotated[int, Field(ge=0, le=100_000)]
Quantity = Annotated[int, Field(ge=0, le=100_000)]

# Presses unpacked before, by class and data. aiogram's CallbackData filter unpacks the data again for each
# handler it checks (about 25 µs each, pydantic validation), and buyers press the same buttons. Shared by
# every update that presses the same button, so they are frozen. Emptied when full, so that forged data
# cannot make it grow.
_unpacked: dict[tuple[type, str], Any] = {}
UNPACKED_KEPT = 4096


class UnpackedOnce:
    """Mixed into a CallbackData before it: `unpack` validates each distinct data string once. Data that does
    not unpack raises as before and is not kept. Frozen (pydantic reads the mixin's model_config): one
    update's callback_data is another's."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def unpack(cls, value: str) -> Self:
        key = (cls, value)
        made = _unpacked.get(key)
        if made is None:
            made = super().unpack(value)  # type: ignore[misc]
            if len(_unpacked) >= UNPACKED_KEPT:
                _unpacked.clear()
            _unpacked[key] = made
        return made  # type: ignore[no-any-return]


class MenuAction(StrEnum):
    main = "main"
    shop = "shop"
    cart = "cart"
    orders = "orders"
    support = "support"
    language = "lang"
    search = "find"
    best_sellers = "best"
    account = "acct"


class MenuCb(UnpackedOnce, CallbackData, prefix="m"):
    action: MenuAction


class LanguageCb(UnpackedOnce, CallbackData, prefix="lg"):
    code: str


class CatalogLevel(StrEnum):
    categories = "c"
    subcategories = "s"
    products = "p"


class CatalogCb(UnpackedOnce, CallbackData, prefix="ct"):
    level: CatalogLevel
    id: Id = 0  # the parent: category id for subcategories, subcategory id for products
    page: Page = 0


class ProductAction(StrEnum):
    view = "v"
    add = "a"


class Via(StrEnum):
    """Where the buyer opened a product card from: its Back button returns there."""

    catalog = "c"  # the subcategory's list (page)
    search = "s"  # the search results (page)
    best_sellers = "b"  # the best sellers (page)


class ProductCb(UnpackedOnce, CallbackData, prefix="pr"):
    action: ProductAction
    id: Id
    qty: Quantity = 1
    via: Via = Via.catalog
    page: Page = 0  # of the list in `via`
    var: Id = 0  # the variant chosen on the card (0: a plain product's only one, or none chosen yet)


class SearchCb(UnpackedOnce, CallbackData, prefix="fs"):
    """A page of the results of the buyer's last search (the text is kept in their conversation state)."""

    page: Page = 0


class BestSellersCb(UnpackedOnce, CallbackData, prefix="fb"):
    page: Page = 0


class StockCb(UnpackedOnce, CallbackData, prefix="fk"):
    page: Page = 0


class ReviewAction(StrEnum):
    start = "s"  # offer the stars
    stars = "r"  # stars chosen: ask for a text
    save = "w"  # store without a text


class ReviewCb(UnpackedOnce, CallbackData, prefix="rv"):
    action: ReviewAction
    product: Id
    stars: int = 0


class PrivacyAction(StrEnum):
    erase = "e"  # /deleteme, confirmed
    keep = "k"  # /deleteme, cancelled


class PrivacyCb(UnpackedOnce, CallbackData, prefix="pd"):
    action: PrivacyAction


class CartAction(StrEnum):
    view = "v"
    inc = "i"
    dec = "d"
    remove = "r"
    clear = "c"
    checkout = "k"
    code = "o"  # enter a voucher code
    drop_code = "u"  # take the code off the cart


class CartCb(UnpackedOnce, CallbackData, prefix="ca"):
    action: CartAction
    item: Id = 0


class PayCb(UnpackedOnce, CallbackData, prefix="pay"):
    chain: Chain | None  # None: the store credit applied pays it all
    token: str = ""  # a token's symbol (ETH_TOKENS, SOL_TOKENS); empty: the chain's own coin
    ship: Id = 0  # the shipping option chosen for a cart with something physical (0: none offered)
    trim: bool = False  # take what is left first: the cart was short at the last try
    credit: bool = False  # the buyer's store credit pays what it can first


class AccountAction(StrEnum):
    credit = "c"  # the store credit history (page)


class AccountCb(UnpackedOnce, CallbackData, prefix="ac"):
    action: AccountAction
    page: Page = 0


class ShipAction(StrEnum):
    address = "a"  # ask where to ship (again)
    reuse = "r"  # ship to the address given before
    option = "o"  # this option (id)


class ShipCb(UnpackedOnce, CallbackData, prefix="sp"):
    action: ShipAction
    id: Id = 0
    credit: bool = False  # option: the price and coins with the buyer's store credit applied


class OrderAction(StrEnum):
    list = "l"
    view = "v"
    check = "k"
    cancel = "x"  # asks first
    cancel_confirmed = "X"
    address = "a"  # change where an unpaid order is shipped
    reply = "r"  # answer the shop's message about the order
    problem = "p"  # report a problem with an order under warranty


class OrderCb(UnpackedOnce, CallbackData, prefix="od"):
    action: OrderAction
    id: Id = 0
    page: Page = 0


class RefundAction(StrEnum):
    address = "a"  # give the address the refund goes to
    credit = "c"  # take it as store credit instead: asks to confirm
    credit_yes = "y"  # confirmed: take it as store credit


class RefundCb(UnpackedOnce, CallbackData, prefix="rb"):
    action: RefundAction
    id: Id  # the refund
