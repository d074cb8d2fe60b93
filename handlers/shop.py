"""Catalog browsing and the product card, in one message that shows the pictures (handlers.card)."""

from html import escape

from aiogram import F, Router
from aiogram.types import CallbackQuery
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers import keyboards
from handlers.callbacks import CatalogCb, CatalogLevel, MenuAction, MenuCb, ProductAction, ProductCb
from handlers.card import CAPTION_LIMIT, show_card
from handlers.kinds import available_text, limit_text, shown_price
from handlers.render import alert
from l10n import L10n
from services.dto import ProductCard, UserDTO
from services.money import format_fiat
from services.shop.cart import CartService, NotEnoughStock
from services.shop.catalog import CatalogService, NotFound, VariantRefused
from services.shop.limits import LimitReached


async def categories(query: CallbackQuery, catalog: CatalogService, l10n: L10n, page: int = 0) -> None:
    view = await catalog.categories(page)
    text = l10n("catalog.categories") if view.items or page else l10n("catalog.empty")
    await show_card(
        query,
        text,
        keyboards.paged(
            view.items,
            page,
            view.has_next,
            lambda i: CatalogCb(level=CatalogLevel.subcategories, id=i),
            lambda p: CatalogCb(level=CatalogLevel.categories, page=p),
            MenuCb(action=MenuAction.main),
            l10n,
        ),
        None,
    )


async def open_shop(query: CallbackQuery, catalog: CatalogService, l10n: L10n) -> None:
    await categories(query, catalog, l10n)


async def browse(
    query: CallbackQuery,
    callback_data: CatalogCb,
    catalog: CatalogService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    page = max(callback_data.page, 0)
    try:
        if callback_data.level is CatalogLevel.categories:
            await categories(query, catalog, l10n, page)
        elif callback_data.level is CatalogLevel.subcategories:
            view = await catalog.subcategories(callback_data.id, page)
            await show_card(
                query,
                l10n("catalog.subcategories", name=escape(view.title)),
                keyboards.paged(
                    view.items,
                    page,
                    view.has_next,
                    lambda i: CatalogCb(level=CatalogLevel.products, id=i),
                    lambda p: CatalogCb(level=CatalogLevel.subcategories, id=callback_data.id, page=p),
                    CatalogCb(level=CatalogLevel.categories),
                    l10n,
                ),
                view.media,
            )
        else:
            products = await catalog.products(callback_data.id, page)
            await show_card(
                query,
                l10n("catalog.products", name=escape(products.title)),
                keyboards.products(products, callback_data.id, settings.fiat_currency, l10n),
                products.media,
            )
    except NotFound:
        alert(callback_answer, l10n("error.stale"))
        await categories(query, catalog, l10n)


async def product_card(
    query: CallbackQuery,
    callback_data: ProductCb,
    user: UserDTO,
    catalog: CatalogService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        card = await catalog.product(callback_data.id, user.id, callback_data.var)
    except NotFound:
        alert(callback_answer, l10n("error.stale"))
        await categories(query, catalog, l10n)
        return
    await show_product(query, card, callback_data, settings, l10n, callback_answer)


async def show_product(
    query: CallbackQuery,
    card: ProductCard,
    callback_data: ProductCb,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    if card.variant_refused:
        alert(callback_answer, l10n("product.variant_refused"))
    opened = callback_data.model_copy(update={"var": card.variant_id})
    qty = max(1, min(callback_data.qty, card.room))
    text = card_text(card, settings.fiat_currency, l10n, CAPTION_LIMIT if card.media else None)
    await show_card(query, text, keyboards.product(card, opened, qty, settings.fiat_currency, l10n), card.media)


def card_text(card: ProductCard, currency: str, l10n: L10n, limit: int | None) -> str:
    """The card's text; with a `limit` (a caption's) the description is shortened to fit."""

    def text(description: str) -> str:
        lines = [
            l10n(
                "product.card",
                name=escape(card.name),
                description=escape(description),
                price=shown_price(card.price, card.price_varies, currency, l10n),
                available=available_text(card.available, l10n),
            )
        ]
        if card.your_price is not None:
            why = [l10n("product.why_reseller")] if card.reseller else []
            why += [l10n("product.why_tier", tier=escape(card.tier_name))] if card.tier_name else []
            lines.append(l10n("product.your_price", price=format_fiat(card.your_price, currency), why=", ".join(why)))
        if card.limit is not None:
            lines.append(l10n("product.limit", units=card.limit.units, days=card.limit.days, left=card.limit.left))
        if card.warranty_days:
            lines.append(l10n("product.warranty", days=card.warranty_days))
        if card.rating.count:
            lines.append(l10n("product.rating", average=card.rating.average, count=card.rating.count))
        if card.in_cart:
            lines.append(l10n("product.in_cart", count=card.in_cart))
        if not card.on_sale:
            lines.append(l10n("product.inactive"))
        elif card.available == 0:
            lines.append(l10n("product.sold_out"))
        elif not card.variant_id:
            lines.append(l10n("product.choose_variant"))
        return "\n".join(lines)

    # Measured with its HTML tags, which Telegram does not count: the caption fits with room to spare.
    room = len(card.description) if limit is None else max(limit - len(text("")) - 1, 0)
    if len(card.description) <= room:
        return text(card.description)
    cut = card.description[:room]
    words = cut.rsplit(maxsplit=1)[0] if len(cut.split()) > 1 else cut  # whole words where there are some
    return text(words.rstrip() + "…")


async def add_to_cart(
    query: CallbackQuery,
    callback_data: ProductCb,
    user: UserDTO,
    cart: CartService,
    catalog: CatalogService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    shown = callback_data.model_copy(update={"action": ProductAction.view, "qty": 1})
    try:
        added = await cart.add_from_card(user.id, callback_data.id, max(callback_data.qty, 1), callback_data.var)
    except NotEnoughStock as e:
        alert(callback_answer, l10n("product.not_enough", available=e.available))
    except LimitReached as e:
        alert(callback_answer, limit_text(e, l10n))
    except NotFound:
        alert(callback_answer, l10n("product.inactive"))
    except VariantRefused:
        alert(callback_answer, l10n("product.variant_refused"))
    else:
        callback_answer.text = l10n("product.added", count=added.count)
        await show_product(query, added.card, shown, settings, l10n, callback_answer)
        return
    await product_card(query, shown, user, catalog, settings, l10n, callback_answer)


def build() -> Router:
    router = Router(name="shop")
    router.callback_query.register(open_shop, MenuCb.filter(F.action == MenuAction.shop))
    router.callback_query.register(browse, CatalogCb.filter())
    router.callback_query.register(product_card, ProductCb.filter(F.action == ProductAction.view))
    router.callback_query.register(add_to_cart, ProductCb.filter(F.action == ProductAction.add))
    return router
