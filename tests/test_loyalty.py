"""Loyalty through the real Dispatcher on both databases: a referral from the link to the referrer's reward
voucher; a tier reached by a delivered order, with its one message and the next card at the tier's price;
reseller prices, stacked with a tier only when the admin says so."""

from aiogram.methods import SendMessage
from sqlalchemy import select

from handlers.admin.inventory import InvAction, InvCb, Node
from handlers.admin.loyalty import LoyaltyAction, LoyaltyCb
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.order_views import AdminOrderCb, AoAction
from handlers.admin.users import UserAction, UsersCb
from handlers.callbacks import CartAction, CartCb, MenuAction, MenuCb, PayCb, ProductAction, ProductCb
from models.enums import Chain, ProductKind
from models.promotions import Voucher
from models.shop import User
from tests.admin_flow import ADMIN, one, outbox, outbox_sender, pay, place
from tests.promo import orders, promo_tables
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts

RITA = Person(id=701, first_name="Rita", username="rita")
NICK = Person(id=702, first_name="Nick", username="nick")
EVE = Person(id=703, first_name="Eve", username="eve")
ALICE = Person(id=704, first_name="Alice", username="alice")


async def user_id(sessions, person: Person) -> int:
    return int(await one(sessions, select(User.id).where(User.telegram_id == person.id)))


async def sent_to(tg: Telegram, sessions, settings, goods, person: Person) -> list[str]:
    """Send the outbox; what reached `person`."""
    before = len(tg.session.calls)
    await outbox_sender(tg, sessions, settings, goods).send_due()
    return [c.text for c in tg.session.calls[before:] if isinstance(c, SendMessage) and c.chat_id == person.id]


async def test_a_referral_from_the_link_to_the_reward_voucher(tg: Telegram, sessions, settings, goods) -> None:
    product = await seed_product(sessions, units=10, goods=goods)
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.loyalty))
    assert "Referral reward: none" in texts(calls)[0]
    await tg.press(ADMIN, LoyaltyCb(action=LoyaltyAction.reward))
    calls = await tg.send(ADMIN, "5,00")
    assert "Referral reward: a single-use voucher for 5.00 USD off, valid 90 days" in texts(calls)[0]

    await tg.send(RITA, "/start")
    rita = await user_id(sessions, RITA)
    calls = await tg.press(RITA, MenuCb(action=MenuAction.account))
    link = f"https://t.me/shop_test_bot?start=r_{rita}"
    assert f"{link}\nInvited: 0, of whom 0 have bought." in texts(calls)[0]
    assert "you get a voucher for 5.00 USD off" in texts(calls)[0]

    await tg.send(NICK, f"/start r_{rita}")  # Nick arrives through Rita's link
    nick = await user_id(sessions, NICK)
    assert await one(sessions, select(User.referred_by_id).where(User.id == nick)) == rita
    order = await place(tg, sessions, NICK, product, 2)
    await pay(sessions, settings, order)  # digital: delivered when paid
    (reward,) = await outbox(sessions, "referral_reward")
    voucher = await one(sessions, select(Voucher).where(Voucher.owner_id == rita))
    assert (reward[0], voucher.max_uses, voucher.per_buyer, voucher.value) == (RITA.id, 1, 1, 500)
    received = await sent_to(tg, sessions, settings, goods, RITA)
    assert received == [
        f"🎁 A friend you invited has received their first order. Your voucher: <code>{voucher.code}</code>, "
        f"5.00 USD off, valid until {reward[2]['until']}. Enter it in your cart."
    ]

    # only the first delivered order earns a reward
    await pay(sessions, settings, await place(tg, sessions, NICK, product, 1))
    assert len(await outbox(sessions, "referral_reward")) == 1

    # Rita sees it, and her friend; it is hers alone
    calls = await tg.press(RITA, MenuCb(action=MenuAction.account))
    assert f"<code>{voucher.code}</code> · 5.00 USD off · until {reward[2]['until']}" in texts(calls)[0]
    assert "Invited: 1, of whom 1 have bought." in texts(calls)[0]
    await tg.press(EVE, ProductCb(action=ProductAction.add, id=product, qty=1))
    await tg.press(EVE, CartCb(action=CartAction.code))
    assert texts(await tg.send(EVE, voucher.code))[0].startswith(f"There is no voucher with the code {voucher.code}.")
    await tg.press(RITA, ProductCb(action=ProductAction.add, id=product, qty=1))
    await tg.press(RITA, CartCb(action=CartAction.code))
    calls = await tg.send(RITA, voucher.code)
    assert texts(calls)[0].endswith(f"Items: 12.50 USD\nCode {voucher.code}: −5.00 USD\nTotal: 7.50 USD")

    calls = await tg.press(ADMIN, LoyaltyCb(action=LoyaltyAction.referrers))
    assert texts(calls) == [f"👥 <b>Top referrers</b>\n@rita (<code>{RITA.id}</code>): 1 bought, 1 invited"]


async def test_forged_and_late_referral_links_change_nothing(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=5, goods=goods)
    for person in (RITA, NICK):
        await tg.send(person, "/start")
    rita, nick = await user_id(sessions, RITA), await user_id(sessions, NICK)
    await place(tg, sessions, NICK, product, 1)  # Nick has ordered: too late to be referred
    before = await promo_tables(sessions)
    for payload in ("r_", "r_abc", "r_0", "r_-1", f"r_{rita}x", "r_99999999999999999999", "r_424242", "r_²", "x_1"):
        calls = await tg.send(RITA, f"/start {payload}")
        assert texts(calls)[0].startswith("Welcome to the shop, Rita!") and texts(calls)[-1] == "Main menu", payload
    await tg.send(RITA, f"/start r_{rita}")  # not to herself
    await tg.send(NICK, f"/start r_{rita}")  # not after ordering
    assert await promo_tables(sessions) == before
    await tg.send(EVE, f"/start r_{nick}")  # a new buyer: attributed, once
    await tg.send(EVE, f"/start r_{rita}")
    assert await one(sessions, select(User.referred_by_id).where(User.telegram_id == EVE.id)) == nick


async def test_a_tier_reached_by_a_delivered_order_and_the_next_card_at_its_price(
    tg: Telegram, sessions, settings, goods
) -> None:
    software = await seed_product(sessions, units=10, goods=goods)
    mug = await seed_product(sessions, name="Mug", category="Kitchen", subcategory="Mugs", kind=ProductKind.physical)
    await tg.press(ADMIN, LoyaltyCb(action=LoyaltyAction.new_tier))
    calls = await tg.send(ADMIN, "Silver 20 10")
    await tg.press(ADMIN, LoyaltyCb(action=LoyaltyAction.new_tier))
    calls = await tg.send(ADMIN, "Gold 100 15% category Kitchen")
    assert (
        "• from 20.00 USD: <b>Silver</b> (−10 % on everything)\n• from 100.00 USD: <b>Gold</b> (−15 % on Kitchen)"
        in (texts(calls)[0])
    )

    calls = await tg.press(ALICE, MenuCb(action=MenuAction.account))
    assert (
        "Spent so far: 0.00 USD\n\nNo tier yet.\n\nNext: <b>Silver</b> (−10 % on everything) from 20.00 USD"
        in (texts(calls)[0])
    )
    # a physical order is delivered when shipped, not when paid
    parcel = await place(tg, sessions, ALICE, mug, 2)
    await pay(sessions, settings, parcel)
    assert await outbox(sessions, "tier_reached") == []
    await tg.press(ADMIN, AdminOrderCb(action=AoAction.ship, id=parcel))
    await tg.send(ADMIN, "DHL 123")
    (message,) = await outbox(sessions, "tier_reached")
    assert message[2] == {"tier": "Silver", "percent": "10"}
    assert (await sent_to(tg, sessions, settings, goods, ALICE))[-2:] == [
        "🚚 Order #1 has been shipped.\nTracking: DHL 123",
        "🏅 You have reached the Silver tier: 10 % off from now on. Thank you!",
    ]

    calls = await tg.press(ALICE, ProductCb(action=ProductAction.view, id=software))
    assert "Price: 12.50 USD\nAvailable: 10\nYour price: <b>11.25 USD</b> (Silver tier)" in texts(calls)[0]
    calls = await tg.press(ALICE, MenuCb(action=MenuAction.account))
    assert (
        "Spent so far: 25.00 USD\n\nTier: <b>Silver</b> (−10 % on everything)\n\nNext: <b>Gold</b>" in (texts(calls)[0])
    )
    assert "from 100.00 USD, 75.00 USD to go." in texts(calls)[0]

    order = await place(tg, sessions, ALICE, software, 2)
    placed = (await orders(sessions))[-1]
    assert (placed.id, placed.tier_name, placed.tier_discount_minor, placed.total_minor) == (order, "Silver", 250, 2250)
    await pay(sessions, settings, order)  # still Silver: no second message
    assert len(await outbox(sessions, "tier_reached")) == 1


async def test_a_tier_for_one_category_prices_only_that_categorys_cards(tg: Telegram, sessions, goods) -> None:
    """The tier's category reaches pricing through the statements that read the buyer's standing."""
    software = await seed_product(sessions, units=10, goods=goods)
    mug = await seed_product(sessions, name="Mug", category="Kitchen", subcategory="Mugs", units=5)
    await tg.press(ADMIN, LoyaltyCb(action=LoyaltyAction.new_tier))
    calls = await tg.send(ADMIN, "Bronze 0 20% category Kitchen")
    assert "<b>Bronze</b> (−20 % on Kitchen)" in texts(calls)[0]
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.view, id=mug))
    assert "Your price: <b>10.00 USD</b> (Bronze tier)" in texts(calls)[0]
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.view, id=software))
    assert "Your price" not in texts(calls)[0]


async def test_reseller_prices_and_stacking(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=10, goods=goods)
    await tg.send(ALICE, "/start")
    alice = await user_id(sessions, ALICE)
    await tg.press(ADMIN, InvCb(action=InvAction.reseller_price, node=Node.product, id=product))
    calls = await tg.send(ADMIN, "10,00")
    assert "Reseller price: 10.00 USD" in texts(calls)[0]
    calls = await tg.press(ADMIN, UsersCb(action=UserAction.card, id=alice))
    assert "Reseller prices: no" in texts(calls)[0]
    calls = await tg.press(ADMIN, buttons(calls)["🏷 Give reseller prices"])
    assert "Reseller prices: yes" in texts(calls)[0]

    calls = await tg.press(ALICE, ProductCb(action=ProductAction.view, id=product))
    assert "Your price: <b>10.00 USD</b> (reseller price)" in texts(calls)[0]
    await tg.press(ADMIN, LoyaltyCb(action=LoyaltyAction.new_tier))
    await tg.send(ADMIN, "Starter 0 5")  # everybody's tier, from the first cent
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.add, id=product, qty=2))
    calls = await tg.press(ALICE, CartCb(action=CartAction.view))
    # not stacked: the lower of 10.00 and 12.50 − 5 % per line
    assert texts(calls)[0].endswith("Items: 25.00 USD\nReseller prices: −5.00 USD\nTotal: 20.00 USD")
    await tg.press(ADMIN, LoyaltyCb(action=LoyaltyAction.stack))
    calls = await tg.press(ALICE, CartCb(action=CartAction.view))
    assert texts(calls)[0].endswith(
        "Items: 25.00 USD\nReseller prices: −5.00 USD\nStarter tier: −1.00 USD\nTotal: 19.00 USD"
    )
    calls = await tg.press(ALICE, ProductCb(action=ProductAction.view, id=product))
    assert "Your price: <b>9.50 USD</b> (reseller price, Starter tier)" in texts(calls)[0]
    await tg.press(ALICE, PayCb(chain=Chain.btc))
    placed = (await orders(sessions))[-1]
    assert (placed.reseller_discount_minor, placed.tier_discount_minor, placed.total_minor) == (500, 100, 1900)


async def test_a_referred_buyers_parcel_earns_the_reward_when_shipped_not_when_paid(
    tg: Telegram, sessions, settings
) -> None:
    mug = await seed_product(sessions, name="Mug", kind=ProductKind.physical, units=3)
    await tg.press(ADMIN, LoyaltyCb(action=LoyaltyAction.reward))
    await tg.send(ADMIN, "10%")
    await tg.send(RITA, "/start")
    await tg.send(NICK, f"/start r_{await user_id(sessions, RITA)}")
    parcel = await place(tg, sessions, NICK, mug, 1)
    await pay(sessions, settings, parcel)
    assert await outbox(sessions, "referral_reward") == []  # paid, but the parcel is not on its way yet
    await tg.press(ADMIN, AdminOrderCb(action=AoAction.ship, id=parcel))
    await tg.send(ADMIN, "DHL 1")
    ((chat, _, params),) = await outbox(sessions, "referral_reward")
    assert (chat, params["value"]) == (RITA.id, "10 %")
