"""Reviews through the real Dispatcher: only a buyer who received a product reviews it, once, from their order;
an admin approves or hides it; the card shows the approved reviews' average and count."""

from typing import Any

from sqlalchemy import func, select, update

from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.reviews import AdminReviewCb, ArvAction
from handlers.callbacks import OrderAction, OrderCb, ProductAction, ProductCb, ReviewAction, ReviewCb
from models.enums import OrderStatus, ProductKind, ReviewStatus
from models.ops import AuditLog
from models.orders import Order
from models.shop import Review
from tests.admin_flow import ADMIN, alerts, one, outbox_sender, pay, place, rows
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts

NOT_RECEIVED = "Only buyers who received this product can review it."


async def received(tg: Telegram, sessions, settings, goods, person: Person, product: int) -> int:
    """The buyer orders one, pays, and the message with the goods goes out: they have received it."""
    order_id = await place(tg, sessions, person, product)
    await pay(sessions, settings, order_id)
    await outbox_sender(tg, sessions, settings, goods).send_due()
    return order_id


async def reviews(sessions) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in await rows(
            sessions,
            select(Review.user_id, Review.product_id, Review.stars, Review.text, Review.status).order_by(Review.id),
        )
    ]


def card_lines(calls) -> list[str]:
    return texts(calls)[0].split("\n")


async def test_a_buyer_reviews_what_they_received_and_the_card_counts_approved_reviews(
    tg: Telegram, sessions, settings, goods
) -> None:
    product = await seed_product(sessions, units=5, goods=goods)
    ann, ben = Person(id=501, username="ann"), Person(id=502, username=None)
    order_id = await received(tg, sessions, settings, goods, ann, product)

    calls = await tg.press(ann, OrderCb(action=OrderAction.view, id=order_id))
    assert list(buttons(calls)) == ["⭐ Review Editor Pro 1y", "⬅ Back", "🏠 Main menu"]
    calls = await tg.press(ann, buttons(calls)["⭐ Review Editor Pro 1y"])
    assert texts(calls) == ["⭐ How do you like <b>Editor Pro 1y</b>? Choose 1 to 5 stars."]
    assert list(buttons(calls))[:5] == ["★", "★★", "★★★", "★★★★", "★★★★★"]
    calls = await tg.press(ann, buttons(calls)["★★★★"])
    assert texts(calls) == ["★★★★ for <b>Editor Pro 1y</b>. Add a few words (at most 500 characters), or press Skip."]
    calls = await tg.send(ann, "  Works <well> & fast  ")
    assert texts(calls) == ["✅ Thank you! Your review is shown once the shop has approved it."]
    calls = await tg.press(ann, OrderCb(action=OrderAction.view, id=order_id))
    assert list(buttons(calls)) == ["⬅ Back", "🏠 Main menu"]  # reviewed: no longer offered

    calls = await tg.press(ann, ProductCb(action=ProductAction.view, id=product))
    assert not [line for line in card_lines(calls) if line.startswith("Rating")]  # waiting for an admin

    ben_order = await received(tg, sessions, settings, goods, ben, product)
    calls = await tg.press(ben, OrderCb(action=OrderAction.view, id=ben_order))
    calls = await tg.press(ben, buttons(calls)["⭐ Review Editor Pro 1y"])
    calls = await tg.press(ben, buttons(calls)["★★★★★"])
    calls = await tg.press(ben, buttons(calls)["Skip, save the stars only"])
    assert texts(calls) == ["✅ Thank you! Your review is shown once the shop has approved it."]
    assert [(stars, text, status) for _, _, stars, text, status in await reviews(sessions)] == [
        (4, "Works <well> & fast", ReviewStatus.pending),
        (5, None, ReviewStatus.pending),
    ]

    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.reviews))
    assert texts(calls) == ["⭐ <b>Reviews</b> · ⏳ waiting"]
    listed = buttons(calls)
    assert list(listed) == [
        "★★★★★ · Editor Pro 1y · 502",
        "★★★★ · Editor Pro 1y · @ann",
        "✅ approved",
        "🙈 hidden",
        "⬅ Back",
    ]
    calls = await tg.press(ADMIN, listed["★★★★ · Editor Pro 1y · @ann"])
    assert texts(calls)[0].startswith(
        "<b>Editor Pro 1y</b>\n★★★★☆\nWorks &lt;well&gt; &amp; fast\n\nby @ann (<code>501</code>)"
    )
    calls = await tg.press(ADMIN, buttons(calls)["✅ Approve"])
    assert "Approved: buyers see it now." in texts(calls)
    calls = await tg.press(ann, ProductCb(action=ProductAction.view, id=product))
    assert "Rating: ★ 4.0 / 5 (1 reviews)" in card_lines(calls)

    ann_review = await one(sessions, select(Review.id).where(Review.stars == 4))
    ben_review = await one(sessions, select(Review.id).where(Review.stars == 5))
    await tg.press(ADMIN, AdminReviewCb(action=ArvAction.moderate, status=ReviewStatus.approved, id=ben_review))
    calls = await tg.press(ann, ProductCb(action=ProductAction.view, id=product))
    assert "Rating: ★ 4.5 / 5 (2 reviews)" in card_lines(calls)
    calls = await tg.press(ADMIN, AdminReviewCb(action=ArvAction.moderate, status=ReviewStatus.approved, id=ben_review))
    assert alerts(calls) == ["It already is. Nothing was changed."]  # pressed twice, or two admins
    await tg.press(ADMIN, AdminReviewCb(action=ArvAction.moderate, status=ReviewStatus.hidden, id=ann_review))
    calls = await tg.press(ann, ProductCb(action=ProductAction.view, id=product))
    assert "Rating: ★ 5.0 / 5 (1 reviews)" in card_lines(calls)

    audit = await rows(
        sessions,
        select(AuditLog.actor, AuditLog.action, AuditLog.entity_id, AuditLog.before, AuditLog.after)
        .where(AuditLog.entity == "review")
        .order_by(AuditLog.id),
    )
    assert [tuple(a) for a in audit] == [
        ("admin:900000001", "review.approved", ann_review, {"status": "pending"}, {"status": "approved"}),
        ("admin:900000001", "review.approved", ben_review, {"status": "pending"}, {"status": "approved"}),
        ("admin:900000001", "review.hidden", ann_review, {"status": "approved"}, {"status": "hidden"}),
    ]


async def test_reviews_are_refused_without_a_received_order_and_forged_buttons_change_nothing(
    tg: Telegram, sessions, settings, goods
) -> None:
    editor = await seed_product(sessions, units=5, goods=goods)
    parcel = await seed_product(
        sessions, name="Parcel", category="Post", kind=ProductKind.physical, units=3, goods=goods
    )
    cara, dave = Person(id=503), Person(id=504)

    # no order at all; an unpaid order; a paid one whose goods have not gone out yet; a physical one not shipped
    forged = [
        ReviewCb(action=ReviewAction.start, product=editor),
        ReviewCb(action=ReviewAction.stars, product=editor, stars=5),
        ReviewCb(action=ReviewAction.save, product=editor, stars=5),
    ]
    for data in forged:
        assert alerts(await tg.press(cara, data)) == [NOT_RECEIVED], data
    unpaid = await place(tg, sessions, cara, editor)
    for data in forged:
        assert alerts(await tg.press(cara, data)) == [NOT_RECEIVED], data
    await pay(sessions, settings, unpaid)  # paid; the message with the goods is not sent yet
    for data in forged:
        assert alerts(await tg.press(cara, data)) == [NOT_RECEIVED], data
    shipped_later = await place(tg, sessions, dave, parcel)
    await pay(sessions, settings, shipped_later)
    await outbox_sender(tg, sessions, settings, goods).send_due()
    parcel_forged = ReviewCb(action=ReviewAction.save, product=parcel, stars=3)
    assert alerts(await tg.press(dave, parcel_forged)) == [NOT_RECEIVED]
    assert await reviews(sessions) == []

    # the outbox has sent cara her editor meanwhile; she still cannot review what she never bought, nor with
    # made-up stars
    calls = await tg.press(cara, OrderCb(action=OrderAction.view, id=unpaid))
    assert "⭐ Review Editor Pro 1y" in buttons(calls)
    assert alerts(await tg.press(cara, ReviewCb(action=ReviewAction.save, product=parcel, stars=5))) == [NOT_RECEIVED]
    for stars in (0, 6, 99):
        for action in (ReviewAction.stars, ReviewAction.save):
            calls = await tg.press(cara, ReviewCb(action=action, product=editor, stars=stars))
            assert alerts(calls) == ["This button is out of date. Here is the current view."], (action, stars)
    assert await reviews(sessions) == []

    # a command ends the wait for the text and is no review
    await tg.press(cara, ReviewCb(action=ReviewAction.stars, product=editor, stars=2))
    assert texts(await tg.send(cara, "/stock"))[0].startswith("📦 <b>In stock</b>")
    assert texts(await tg.send(cara, "now a text")) == ["I did not understand that. Use the buttons below."]
    assert await reviews(sessions) == []

    # too long a text is refused and the wait goes on
    await tg.press(cara, ReviewCb(action=ReviewAction.stars, product=editor, stars=2))
    calls = await tg.send(cara, "x" * 501)
    assert texts(calls) == [
        "That is 501 characters; a review may have at most 500. Please send a shorter one, or press Skip."
    ]
    assert await reviews(sessions) == []
    calls = await tg.send(cara, "y" * 500)
    assert texts(calls) == ["✅ Thank you! Your review is shown once the shop has approved it."]
    assert [(stars, len(text or "")) for _, _, stars, text, _ in await reviews(sessions)] == [(2, 500)]

    # once only, however it is pressed again
    for data in forged:
        assert alerts(await tg.press(cara, data)) == ["You have already reviewed this product. Thank you!"], data
    assert await one(sessions, select(func.count()).select_from(Review)) == 1

    async with sessions.begin() as s:  # the admin ships the parcel: now dave has it
        await s.execute(update(Order).where(Order.id == shipped_later).values(status=OrderStatus.shipped))
    calls = await tg.press(dave, parcel_forged)
    assert texts(calls) == ["✅ Thank you! Your review is shown once the shop has approved it."]
    assert await one(sessions, select(func.count()).select_from(Review)) == 2
