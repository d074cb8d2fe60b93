"""Variants of each product kind, on SQLite and PostgreSQL: an unlimited product's variants differ only in price
and hold nothing; a per-buyer limit counts all of a product's variants; a file product's documents go to the
variant the admin chose; a channel renewal sells the variant the first order bought."""

from decimal import Decimal

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.callbacks import ProductAction, ProductCb
from handlers.keyboards import variant_buttons
from l10n import Translator
from models.enums import Chain, ProductKind, StockStatus
from models.orders import OrderItem
from models.shop import StockUnit, User, Variant
from repositories.variants import VariantRepo
from services.admin.payloads import AdminPayloadService
from services.admin.stock import AdminStockService
from services.dto import GoodsFile
from services.payments.rates import rate_service_from_settings
from services.shop.cart import CartService
from services.shop.catalog import CatalogService, NotFound
from services.shop.checkout import CheckoutService
from services.shop.limits import LimitReached
from services.wallet.goods import GoodsCipher
from tests.test_variants import ids, run_import


def product(name: str, kind: ProductKind, variants: list[tuple[str, str]], **fields: object) -> dict[str, object]:
    listed = [{"name": n, "price": p} for n, p in variants]
    return {"name": name, "description": "", "kind": kind.value, "variants": listed, **fields}


async def seed(sessions: async_sessionmaker[AsyncSession], goods: GoodsCipher, *products: dict[str, object]) -> int:
    """Import the products under Software / Licences; returns a buyer's user id."""
    data = {"categories": [{"name": "Software", "subcategories": [{"name": "Licences", "products": list(products)}]}]}
    await run_import(sessions, goods, data)
    async with sessions.begin() as s:
        return (await s.execute(insert(User).values(telegram_id=401, language="en").returning(User.id))).scalar_one()


async def test_unlimited_variants_differ_only_in_price_hold_nothing_and_share_the_limit(
    sessions, settings, wallet, goods
) -> None:
    course = product(
        "Course", ProductKind.unlimited, [("Basic", "10.00"), ("Pro", "30.00")], limit={"units": 2, "days": 30}
    )
    buyer = await seed(sessions, goods, course)
    n = await ids(sessions)
    async with sessions() as s:
        await AdminPayloadService(s, goods).set_text("admin:1", n["Course"], "https://example.com/course")
    async with sessions() as s:
        card = await CatalogService(s).product(n["Course"], buyer, n["Pro"])
    assert (card.name, card.price, card.available, card.room) == ("Course · Pro", Decimal("30.00"), None, 2)
    assert [(v.name, v.available) for v in card.variants] == [("Basic", None), ("Pro", None)]
    opened = ProductCb(action=ProductAction.view, id=n["Course"], var=n["Pro"])
    labels = [b.text for b in variant_buttons(card, opened, "USD", Translator()("en"))]
    assert labels == ["Basic · 10.00 USD", "✓ Pro · 30.00 USD"]  # never "sold out"

    async with sessions() as s:
        assert (await CartService(s).add_from_card(buyer, n["Course"], 2, n["Basic"])).count == 2
    with pytest.raises(LimitReached) as refused:  # the limit is the product's: Basic took both units
        async with sessions() as s:
            await CartService(s).add_from_card(buyer, n["Course"], 1, n["Pro"])
    assert refused.value.left == 2

    async with sessions() as s:
        order_id = (
            await CheckoutService(s, settings, wallet, rate_service_from_settings(settings)).checkout(buyer, Chain.ltc)
        ).order_id
    async with sessions() as s:
        line = (await s.execute(select(OrderItem).where(OrderItem.order_id == order_id))).scalar_one()
        assert (line.variant_id, line.product_name, line.quantity, line.unit_price_minor) == (
            n["Basic"],
            "Course · Basic",
            2,
            1000,
        )
        assert (await s.execute(select(StockUnit.id))).first() is None  # nothing held, nothing to hold


async def test_a_file_products_documents_go_to_the_chosen_variant(sessions, goods) -> None:
    buyer = await seed(sessions, goods, product("Manual", ProductKind.file, [("English", "5.00"), ("German", "6.00")]))
    n = await ids(sessions)
    async with sessions() as s:
        stored = await AdminPayloadService(s, goods).add_document(
            "admin:1", n["Manual"], GoodsFile("de.pdf", b"%PDF-de"), n["German"]
        )
    assert (stored.added, stored.available, stored.variant_id) == (True, 1, n["German"])
    with pytest.raises(NotFound):  # two variants: which one is not guessed
        async with sessions() as s:
            await AdminPayloadService(s, goods).add_document("admin:1", n["Manual"], GoodsFile("en.pdf", b"%PDF-en"))
    async with sessions() as s:
        rows = (await s.execute(select(StockUnit.variant_id, StockUnit.status))).tuples().all()
    async with sessions() as s:
        card = await CatalogService(s).product(n["Manual"], buyer, n["English"])
    assert rows == [(n["German"], StockStatus.available)]
    assert card.available == 0 and [(v.name, v.available) for v in card.variants] == [("English", 0), ("German", 1)]


async def test_a_channel_renewal_sells_the_variant_the_first_order_bought(sessions, settings, wallet, goods) -> None:
    club = product("Club", ProductKind.channel, [("Standard", "3.00"), ("Supporter", "9.00")])
    buyer = await seed(sessions, goods, club)
    n = await ids(sessions)
    for variant in ("Standard", "Supporter"):
        async with sessions() as s:
            await AdminStockService(s, goods).add_physical("admin:1", n["Club"], 5, n[variant])
    async with sessions() as s:
        await CartService(s).add_from_card(buyer, n["Club"], 1, n["Supporter"])
    async with sessions() as s:
        checkout = CheckoutService(s, settings, wallet, rate_service_from_settings(settings))
        order_id = (await checkout.checkout(buyer, Chain.ltc)).order_id
    async with sessions() as s:
        assert (await VariantRepo(s).renewed(order_id, n["Club"])).id == n["Supporter"]  # type: ignore[union-attr]
        assert await VariantRepo(s).renewed(None, n["Club"]) is None  # the order gone, two to choose from
    async with sessions.begin() as s:  # Supporter retired: Standard is the only one left
        await s.execute(update(Variant).where(Variant.id == n["Supporter"]).values(is_active=False))
    async with sessions() as s:
        assert (await VariantRepo(s).renewed(order_id, n["Club"])).id == n["Standard"]  # type: ignore[union-attr]


async def test_a_card_counts_the_buyers_lines_of_the_variant_shown_or_of_the_whole_product(sessions, goods) -> None:
    """With a variant chosen the card counts its line; with none chosen, every line of the product in the cart,
    a retired variant's too; never another buyer's."""
    course = product("Course", ProductKind.unlimited, [("Basic", "10.00"), ("Pro", "30.00"), ("Max", "50.00")])
    buyer = await seed(sessions, goods, course)
    n = await ids(sessions)
    async with sessions() as s:
        await AdminPayloadService(s, goods).set_text("admin:1", n["Course"], "https://example.com/course")
    async with sessions.begin() as s:
        other = (await s.execute(insert(User).values(telegram_id=402, language="en").returning(User.id))).scalar_one()
    for who, variant, quantity in [(buyer, "Basic", 2), (buyer, "Pro", 1), (buyer, "Max", 4), (other, "Pro", 7)]:
        async with sessions() as s:
            await CartService(s).add_from_card(who, n["Course"], quantity, n[variant])
    async with sessions.begin() as s:
        await s.execute(update(Variant).where(Variant.id == n["Max"]).values(is_active=False))
    async with sessions() as s:
        catalog = CatalogService(s)
        shown = {v: (await catalog.product(n["Course"], buyer, n[v] if v else 0)).in_cart for v in ("", "Basic", "Pro")}
    assert shown == {"": 7, "Basic": 2, "Pro": 1}
