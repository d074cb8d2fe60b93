"""Pure functions from data and strings to inline keyboards."""

from collections.abc import Callable

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.callbacks import (
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
)
from l10n import LANGUAGES, L10n
from models.enums import OrderStatus
from services.dto import Asset, CartView, NamedItem, OrderView, ProductCard


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


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
    kb = InlineKeyboardBuilder()
    for item in items:
        kb.row(button(item.name, open_item(item.id)))
    arrows = []
    if page > 0:
        arrows.append(button(l10n("nav.prev"), turn(page - 1)))
    if has_next:
        arrows.append(button(l10n("nav.next"), turn(page + 1)))
    if arrows:
        kb.row(*arrows)
    kb.row(button(l10n("nav.back"), back))
    return kb.as_markup()


def product(card: ProductCard, qty: int, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    room = card.available - card.in_cart
    if card.on_sale and room > 0:
        steps = [button("−", ProductCb(action=ProductAction.view, id=card.id, qty=qty - 1))] if qty > 1 else []
        steps.append(button(str(qty), ProductCb(action=ProductAction.view, id=card.id, qty=qty)))
        if qty < room:
            steps.append(button("+", ProductCb(action=ProductAction.view, id=card.id, qty=qty + 1)))
        kb.row(*steps)
        kb.row(button(l10n("product.add", qty=qty), ProductCb(action=ProductAction.add, id=card.id, qty=qty)))
    kb.row(
        button(l10n("nav.back"), CatalogCb(level=CatalogLevel.products, id=card.subcategory_id)),
        button(l10n("menu.cart"), CartCb(action=CartAction.view)),
    )
    return kb.as_markup()


def cart(view: CartView, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for line in view.lines:
        kb.row(
            button("−", CartCb(action=CartAction.dec, item=line.item_id)),
            button(l10n("cart.remove", name=line.name[:24]), CartCb(action=CartAction.remove, item=line.item_id)),
            button("+", CartCb(action=CartAction.inc, item=line.item_id)),
        )
    if view.lines:
        kb.row(button(l10n("cart.checkout"), CartCb(action=CartAction.checkout)))
        kb.row(button(l10n("cart.clear"), CartCb(action=CartAction.clear)))
    kb.row(
        button(l10n("menu.shop"), MenuCb(action=MenuAction.shop)),
        button(l10n("menu.main"), MenuCb(action=MenuAction.main)),
    )
    return kb.as_markup()


def assets(available: tuple[Asset, ...], l10n: L10n) -> InlineKeyboardMarkup:
    """The coins in one row, then one row per token: "USDT · Ethereum" names its network."""
    kb = InlineKeyboardBuilder()
    coins = [a for a in available if a.token is None]
    for asset in (*coins, *(a for a in available if a.token is not None)):
        kb.button(text=asset.label, callback_data=PayCb(chain=asset.chain, token=asset.symbol if asset.token else ""))
    kb.button(text=l10n("nav.back"), callback_data=CartCb(action=CartAction.view))
    kb.adjust(len(coins) or 1, *[1] * (len(available) - len(coins)), 1)
    return kb.as_markup()


def invoice(order_id: int, l10n: L10n) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=l10n("invoice.check"), callback_data=OrderCb(action=OrderAction.check, id=order_id))
    kb.button(text=l10n("invoice.cancel"), callback_data=OrderCb(action=OrderAction.cancel, id=order_id))
    kb.button(text=l10n("menu.main"), callback_data=MenuCb(action=MenuAction.main))
    kb.adjust(1)
    return kb.as_markup()


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


def order(view: OrderView, l10n: L10n) -> InlineKeyboardMarkup:
    if view.status in OrderStatus.open():
        return invoice(view.id, l10n)
    kb = InlineKeyboardBuilder()
    kb.button(text=l10n("nav.back"), callback_data=OrderCb(action=OrderAction.list))
    kb.button(text=l10n("menu.main"), callback_data=MenuCb(action=MenuAction.main))
    return kb.as_markup()
