"""When stock runs short at checkout, the buyer may take what is left: the cart shrinks to it and checkout goes
on, with the same coin and shipping."""

from aiogram.methods import SendPhoto
from sqlalchemy import func, select, update

from handlers.callbacks import CartAction, CartCb, PayCb, ProductAction, ProductCb
from models.enums import Chain, ProductKind, StockStatus
from models.orders import Order, OrderItem
from models.shop import CartItem, Category
from tests.admin_flow import one, place, units
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts

CAROL, DAVE = Person(id=701), Person(id=702)
TAKE = "✂ Take what is left and go on"


async def test_take_what_is_left_reduces_the_cart_and_checks_out(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=3, goods=goods)
    await place(tg, sessions, CAROL, product, 2)  # Carol holds two of three
    await tg.press(DAVE, ProductCb(action=ProductAction.add, id=product, qty=1))
    async with sessions.begin() as s:  # Dave put two in his cart while there still were
        await s.execute(update(CartItem).values(quantity=2))
    calls = await tg.press(DAVE, PayCb(chain=Chain.ltc))
    assert texts(calls)[0].startswith(
        "Not enough stock, nothing was reserved and your cart is unchanged:\nEditor Pro 1y: 1 left"
    )
    assert next(iter(buttons(calls))) == TAKE
    assert buttons(calls)[TAKE] == PayCb(chain=Chain.ltc, trim=True).pack()
    assert await one(sessions, select(func.sum(CartItem.quantity))) == 2  # told, nothing changed yet

    calls = await tg.press(DAVE, buttons(calls)[TAKE])
    photo = next(c for c in calls if isinstance(c, SendPhoto))
    assert "LTC" in (photo.caption or "") and "Total 12.50 USD" in (photo.caption or "")
    dave_order = await one(sessions, select(func.max(Order.id)))
    assert await one(sessions, select(OrderItem.quantity).where(OrderItem.order_id == dave_order)) == 1
    assert await units(sessions, StockStatus.reserved, dave_order) == 1
    assert await one(sessions, select(func.count()).select_from(CartItem)) == 0


async def test_lines_with_nothing_left_go_and_the_rest_ships(tg: Telegram, sessions, goods) -> None:
    key = await seed_product(sessions, units=1, goods=goods)
    mug = await seed_product(
        sessions, name="Mug", kind=ProductKind.physical, units=2, category="Home", subcategory="Kitchen"
    )
    await tg.press(DAVE, ProductCb(action=ProductAction.add, id=key, qty=1))
    await tg.press(DAVE, ProductCb(action=ProductAction.add, id=mug, qty=2))
    await tg.press(DAVE, CartCb(action=CartAction.checkout))
    await tg.send(DAVE, "Dave\n2 Side Rd")
    await place(tg, sessions, CAROL, key)  # the last key goes to Carol meanwhile
    calls = await tg.press(DAVE, PayCb(chain=Chain.btc))
    assert "Editor Pro 1y: 0 left" in texts(calls)[0]
    calls = await tg.press(DAVE, buttons(calls)[TAKE])
    assert any(isinstance(c, SendPhoto) for c in calls)  # the mugs, to the address given
    dave_order = await one(sessions, select(func.max(Order.id)))
    items = await one(sessions, select(func.count()).select_from(OrderItem).where(OrderItem.order_id == dave_order))
    assert items == 1 and (await one(sessions, select(Order.total_minor).where(Order.id == dave_order))) == 2500


async def test_nothing_to_take_offers_no_button(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    await tg.press(DAVE, ProductCb(action=ProductAction.add, id=product, qty=2))
    async with sessions.begin() as s:  # the whole category is hidden: nothing of it can be bought
        await s.execute(update(Category).values(is_active=False))
    calls = await tg.press(DAVE, PayCb(chain=Chain.btc))
    assert "Editor Pro 1y: 0 left" in texts(calls)[0] and TAKE not in buttons(calls)
    calls = await tg.press(DAVE, PayCb(chain=Chain.btc, trim=True))  # an old or forged button
    assert texts(calls) == ["Your cart is empty."]
    assert await one(sessions, select(func.count()).select_from(Order)) == 0
