"""Pure functions from data and strings to inline keyboards."""

import functools
from collections.abc import Callable
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.callbacks import (
    BestSellersCb,
    CartAction,
    CartCb,
    CatalogCb,
    CatalogLevel,
    LanguageCb,
    MenuAction,
    MenuCb,
    OrderAction,
    OrderCb,
    PayCb,
    ProductAction,
    ProductCb,
    RefundAction,
    RefundCb,
    ReviewAction,
    ReviewCb,
    SearchCb,
    ShipAction,
    ShipCb,
    Via,
)
from handlers.kinds import product_row
from l10n import LANGUAGES, L10n
from models.enums import OrderStatus
from services.dto import CartView, NamedItem, OrderView, Page, ProductCard, ProductRow, VariantChoice
from services.money import format_fiat, format_percent
from services.shop.checkout import CoinPrice, Quote
from services.shop.shipping import ShippingOptionView

QUANTITY_STEPS = (1, 5, 10)  # the card's + buttons; − takes one away
# A keyboard made of nothing but strings is built once per L10n (the Translator keeps one per language) and
# shared by every update: callers must not change it.
per_language = functools.lru_cache(maxsize=64)


# Buttons made before, by text and callback data: packing the data and validating the button took about 40 µs,
# and a browsing screen shows the same buttons to every buyer. Shared like the keyboards above: callers must not
# change them. Emptied when full, so prices and stock that change do not make it grow.
_buttons: dict[tuple[Any, ...], InlineKeyboardButton] = {}
BUTTONS_KEPT = 4096


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    key = (text, type(data), *data.__dict__.values())
    made = _buttons.get(key)
    if made is None:
        made = InlineKeyboardButton(text=text, callback_data=data.pack())
        if len(_buttons) >= BUTTONS_KEPT:
            _buttons.clear()
        _buttons[key] = made
    return made


def rows(*lines: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    """One keyboard row per non-empty list. Cheaper than InlineKeyboardBuilder, which deep-copies every button
    when it makes the keyboard: the browsing screens build theirs on every update."""
    return InlineKeyboardMarkup(inline_keyboard=[line for line in lines if line])


LANGUAGE_NAMES = {"en": "🇬🇧 English", "de": "🇩🇪 Deutsch"}


@per_language
def main_menu(l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for action in (
        MenuAction.shop,
        MenuAction.cart,
        MenuAction.search,
        MenuAction.best_sellers,
        MenuAction.orders,
        MenuAction.account,
        MenuAction.support,
        MenuAction.language,
    ):
        kb.button(text=l10n(f"menu.{action.name}"), callback_data=MenuCb(action=action))
    kb.adjust(2, 2, 2, 2)
    return kb.as_markup()


@per_language
def languages(l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for code in LANGUAGES:
        kb.button(text=LANGUAGE_NAMES[code], callback_data=LanguageCb(code=code))
    kb.button(text=l10n("menu.main"), callback_data=MenuCb(action=MenuAction.main))
    kb.adjust(len(LANGUAGES), 1)
    return kb.as_markup()


def paged(
    items: list[NamedItem],
    page: int,
    has_next: bool,
    open_item: Callable[[int], CallbackData],
    turn: Callable[[int], CallbackData],
    back: CallbackData,
    l10n: L10n,
) -> InlineKeyboardMarkup:
    """One button per item, then ◀ ▶ only where there is a page to turn to, then back."""
    arrows = []
    if page > 0:
        arrows.append(button(l10n("nav.prev"), turn(page - 1)))
    if has_next:
        arrows.append(button(l10n("nav.next"), turn(page + 1)))
    return rows(*([button(item.name, open_item(item.id))] for item in items), arrows, [button(l10n("nav.back"), back)])


def product_list(
    view: Page[ProductRow],
    via: Via,
    turn: Callable[[int], CallbackData],
    back: CallbackData,
    currency: str,
    l10n: L10n,
) -> InlineKeyboardMarkup:
    """Products, each labelled with its price and how many are left; a card opened here comes back here."""
    items = [
        NamedItem(
            row.id,
            product_row(row.name, row.price, row.price_varies, row.available, currency, l10n),
        )
        for row in view.items
    ]
    return paged(
        items,
        view.page,
        view.has_next,
        lambda i: ProductCb(action=ProductAction.view, id=i, via=via, page=view.page),
        turn,
        back,
        l10n,
    )


def before_last_row(markup: InlineKeyboardMarkup, *lines: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    """Extra rows above the last one (the back button of `paged`)."""
    keyboard = markup.inline_keyboard
    return InlineKeyboardMarkup(inline_keyboard=[*keyboard[:-1], *(line for line in lines if line), keyboard[-1]])


def products(view: Page[ProductRow], subcategory_id: int, currency: str, l10n: L10n) -> InlineKeyboardMarkup:
    """A subcategory's products."""
    return product_list(
        view,
        Via.catalog,
        lambda p: CatalogCb(level=CatalogLevel.products, id=subcategory_id, page=p),
        CatalogCb(level=CatalogLevel.subcategories, id=view.parent_id),
        currency,
        l10n,
    )


def search_results(view: Page[ProductRow], currency: str, l10n: L10n) -> InlineKeyboardMarkup:
    """The products found, and a new search above Back."""
    markup = product_list(view, Via.search, lambda p: SearchCb(page=p), MenuCb(action=MenuAction.main), currency, l10n)
    return before_last_row(markup, [button(l10n("search.again"), MenuCb(action=MenuAction.search))])


def best_sellers(view: Page[ProductRow], currency: str, l10n: L10n) -> InlineKeyboardMarkup:
    return product_list(
        view, Via.best_sellers, lambda p: BestSellersCb(page=p), MenuCb(action=MenuAction.main), currency, l10n
    )


def back_from_card(opened: ProductCb, card: ProductCard) -> CallbackData:
    """The list the card was opened from."""
    if opened.via is Via.search:
        return SearchCb(page=opened.page)
    if opened.via is Via.best_sellers:
        return BestSellersCb(page=opened.page)
    return CatalogCb(level=CatalogLevel.products, id=card.subcategory_id, page=opened.page)


def quantity_steps(opened: ProductCb, qty: int, room: int) -> list[InlineKeyboardButton]:
    """− qty + +5 +10: each step only where the quantity it leads to is at least 1 and at most `room`."""

    def to(n: int, label: str) -> InlineKeyboardButton:
        return button(label, opened.model_copy(update={"action": ProductAction.view, "qty": n}))

    steps = [to(qty - 1, "−")] if qty > 1 else []
    steps.append(to(qty, str(qty)))
    steps += [to(qty + n, "+" if n == 1 else f"+{n}") for n in QUANTITY_STEPS if qty + n <= room]
    return steps


def variant_buttons(card: ProductCard, opened: ProductCb, currency: str, l10n: L10n) -> list[InlineKeyboardButton]:
    """One button per variant when there are several to choose from, the chosen one ticked; none for a product
    with one variant."""
    if len(card.variants) < 2:
        return []

    def label(v: VariantChoice) -> str:
        text = (
            l10n("product.variant_button", name=v.name, price=format_fiat(v.price, currency))
            if v.available != 0  # None: an unlimited product's, never sold out
            else l10n("product.variant_button_sold_out", name=v.name)
        )
        return f"✓ {text}" if v.id == card.variant_id else text

    return [
        button(label(v), opened.model_copy(update={"action": ProductAction.view, "qty": 1, "var": v.id}))
        for v in card.variants
    ]


def product(card: ProductCard, opened: ProductCb, qty: int, currency: str, l10n: L10n) -> InlineKeyboardMarkup:
    """The card's buttons, all built here: the variants to choose from, then quantity steps and Add while there
    is room for more of the chosen variant in the cart, then Back (to where the card was opened from) and Cart."""
    variants = [[variant] for variant in variant_buttons(card, opened, currency, l10n)] if card.on_sale else []
    room = card.room
    adding: list[list[InlineKeyboardButton]] = []
    if card.on_sale and card.variant_id and room > 0:
        add = opened.model_copy(update={"action": ProductAction.add, "qty": qty, "var": card.variant_id})
        adding = [quantity_steps(opened, qty, room), [button(l10n("product.add", qty=qty), add)]]
    return rows(
        *variants,
        *adding,
        [
            button(l10n("nav.back"), back_from_card(opened, card)),
            button(l10n("menu.cart"), CartCb(action=CartAction.view)),
        ],
    )


def cart(view: CartView, l10n: L10n) -> InlineKeyboardMarkup:
    checkout, enter_code, clear, leave = _cart_rows(l10n)
    if not view.lines:
        return rows(leave)
    lines = [
        [
            button("−", CartCb(action=CartAction.dec, item=line.item_id)),
            button(l10n("cart.remove", name=line.name[:24]), CartCb(action=CartAction.remove, item=line.item_id)),
            button("+", CartCb(action=CartAction.inc, item=line.item_id)),
        ]
        for line in view.lines
    ]
    code = [button(l10n("cart.drop_code", code=view.code), CartCb(action=CartAction.drop_code))] if view.code else None
    return rows(*lines, checkout, code or enter_code, clear, leave)


@per_language
def _cart_rows(l10n: L10n) -> tuple[list[InlineKeyboardButton], ...]:
    """The cart's rows that only the language changes, made once: checkout, enter a code, clear, and the way out."""
    return (
        [button(l10n("cart.checkout"), CartCb(action=CartAction.checkout))],
        [button(l10n("cart.enter_code"), CartCb(action=CartAction.code))],
        [button(l10n("cart.clear"), CartCb(action=CartAction.clear))],
        [
            button(l10n("menu.shop"), MenuCb(action=MenuAction.shop)),
            button(l10n("menu.main"), MenuCb(action=MenuAction.main)),
        ],
    )


def coin_label(coin: CoinPrice, currency: str, l10n: L10n) -> str:
    """ "BTC", "USDT · Ethereum", or with the network's fee or discount the total in it:
    "SOL · 24.50 USD (−2 % off)"."""
    if not coin.fee_bp:
        return coin.asset.label
    return l10n(
        "checkout.coin_fee" if coin.fee_bp > 0 else "checkout.coin_discount",
        coin=coin.asset.label,
        total=format_fiat(coin.total, currency),
        percent=format_percent(abs(coin.fee_bp)),
    )


def assets(
    coins: list[CoinPrice],
    currency: str,
    l10n: L10n,
    *,
    ships: bool = False,
    option: int = 0,
    credit: Quote | None = None,
    use_credit: bool = False,
) -> InlineKeyboardMarkup:
    """The coins in one row, then one row per token ("USDT · Ethereum" names its network), each with its fee
    or discount; coins with one have long labels and get a row each. For a cart with something physical
    (`ships`) they carry the shipping option chosen, and the address can still be changed. A buyer with store
    credit (`credit`: the quote, with their balance) can apply it or not (`use_credit`); when it pays it all, one
    button pays with it instead of the coins."""
    covered = credit is not None and use_credit and credit.covered
    plain = [c for c in coins if c.asset.token is None] if not covered else []
    tokens = [c for c in coins if c.asset.token is not None] if not covered else []

    def pay(coin: CoinPrice) -> InlineKeyboardButton:
        token = coin.asset.symbol if coin.asset.token else ""
        data = PayCb(chain=coin.asset.chain, token=token, ship=option, credit=use_credit)
        return button(coin_label(coin, currency, l10n), data)

    singles = [pay(coin) for coin in tokens]
    if covered:
        singles.append(button(l10n("checkout.pay_with_credit"), PayCb(chain=None, ship=option, credit=True)))
    if credit is not None and credit.balance:
        key = "checkout.drop_credit" if use_credit else "checkout.use_credit"
        toggle = ShipCb(action=ShipAction.option, id=option, credit=not use_credit)
        singles.append(button(l10n(key, balance=format_fiat(credit.balance, currency)), toggle))
    if ships:
        singles.append(button(l10n("checkout.change_address"), ShipCb(action=ShipAction.address)))
    singles.append(button(l10n("nav.back"), CartCb(action=CartAction.view)))
    coin_rows = [[pay(c) for c in plain]] if not any(c.fee_bp for c in plain) else [[pay(c)] for c in plain]
    return rows(*coin_rows, *([b] for b in singles))


def address_prompt(previous: bool, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if previous:
        kb.button(text=l10n("checkout.use_previous"), callback_data=ShipCb(action=ShipAction.reuse))
    kb.button(text=l10n("nav.back"), callback_data=CartCb(action=CartAction.view))
    kb.adjust(1)
    return kb.as_markup()


def shipping_options(options: list[ShippingOptionView], currency: str, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for option in options:
        text = l10n("checkout.shipping_option", name=option.name, price=format_fiat(option.price, currency))
        kb.button(text=text, callback_data=ShipCb(action=ShipAction.option, id=option.id))
    kb.button(text=l10n("checkout.change_address"), callback_data=ShipCb(action=ShipAction.address))
    kb.button(text=l10n("nav.back"), callback_data=CartCb(action=CartAction.view))
    kb.adjust(1)
    return kb.as_markup()


def short_stock(view: CartView, retry: PayCb | None, l10n: L10n) -> InlineKeyboardMarkup:
    """The cart after a checkout that found too little stock; `retry` takes what is left and goes on."""
    markup = cart(view, l10n)
    if retry is None:
        return markup
    take = [button(l10n("checkout.take_left"), retry)]
    return InlineKeyboardMarkup(inline_keyboard=[take, *markup.inline_keyboard])


def invoice(order_id: int, l10n: L10n, *, address: bool = False) -> InlineKeyboardMarkup:
    """Under an unpaid order; `address`: it is shipped, and where to can still be changed. One button a row."""
    return rows(
        [button(l10n("invoice.check"), OrderCb(action=OrderAction.check, id=order_id))],
        [button(l10n("order.change_address"), OrderCb(action=OrderAction.address, id=order_id))] if address else [],
        [button(l10n("invoice.cancel"), OrderCb(action=OrderAction.cancel, id=order_id))],
        [button(l10n("menu.main"), MenuCb(action=MenuAction.main))],
    )


@per_language
def back_to_cart(l10n: L10n) -> InlineKeyboardMarkup:
    """Under a prompt for text about the cart: the way out without acting."""
    return InlineKeyboardMarkup(inline_keyboard=[[button(l10n("nav.back"), CartCb(action=CartAction.view))]])


def back_to_order(order_id: int, l10n: L10n) -> InlineKeyboardMarkup:
    """Under a prompt for text about an order: the way out without acting."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[button(l10n("nav.back"), OrderCb(action=OrderAction.view, id=order_id))]]
    )


def orders(rows: list[NamedItem], page: int, has_next: bool, l10n: L10n) -> InlineKeyboardMarkup:
    return paged(
        rows,
        page,
        has_next,
        lambda i: OrderCb(action=OrderAction.view, id=i),
        lambda p: OrderCb(action=OrderAction.list, page=p),
        MenuCb(action=MenuAction.main),
        l10n,
    )


def confirm_cancel(order_id: int, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=l10n("order.cancel_yes"), callback_data=OrderCb(action=OrderAction.cancel_confirmed, id=order_id))
    kb.button(text=l10n("order.cancel_no"), callback_data=OrderCb(action=OrderAction.view, id=order_id))
    kb.adjust(1)
    return kb.as_markup()


def confirm_credit(refund_id: int, order_id: int, l10n: L10n) -> InlineKeyboardMarkup:
    """Under the question whether to take a refund as store credit."""
    kb = InlineKeyboardBuilder()
    kb.button(text=l10n("refund.credit_yes"), callback_data=RefundCb(action=RefundAction.credit_yes, id=refund_id))
    kb.button(text=l10n("nav.back"), callback_data=OrderCb(action=OrderAction.view, id=order_id))
    kb.adjust(1)
    return kb.as_markup()


@per_language
def cancelled(l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=l10n("menu.cart"), callback_data=MenuCb(action=MenuAction.cart))
    kb.button(text=l10n("menu.main"), callback_data=MenuCb(action=MenuAction.main))
    return kb.as_markup()


def order(view: OrderView, l10n: L10n) -> InlineKeyboardMarkup:
    """An invoice awaiting payment has its pay and cancel buttons; while a payment confirms, only "check now"
    (a second payment or a cancel is the last thing to invite then)."""
    if view.status is OrderStatus.awaiting_payment:
        return invoice(view.id, l10n, address=view.address_editable)
    kb = InlineKeyboardBuilder()
    if view.status is OrderStatus.confirming:
        kb.button(text=l10n("invoice.check"), callback_data=OrderCb(action=OrderAction.check, id=view.id))
        if view.address_editable:
            kb.button(text=l10n("order.change_address"), callback_data=OrderCb(action=OrderAction.address, id=view.id))
        kb.button(text=l10n("menu.main"), callback_data=MenuCb(action=MenuAction.main))
        kb.adjust(1)
        return kb.as_markup()
    if view.under_warranty:
        kb.row(button(l10n("order.report_problem"), OrderCb(action=OrderAction.problem, id=view.id)))
    for item in view.reviewable:
        kb.row(button(l10n("review.offer", name=item.name[:32]), ReviewCb(action=ReviewAction.start, product=item.id)))
    kb.row(
        button(l10n("nav.back"), OrderCb(action=OrderAction.list)),
        button(l10n("menu.main"), MenuCb(action=MenuAction.main)),
    )
    return kb.as_markup()
