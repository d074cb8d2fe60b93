"""Messages about an order through the real Dispatcher: an admin writes to the buyer from the order view, the
buyer answers, every admin gets the answer, and each message is on the order's timeline."""

import time
from typing import Any

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import EditMessageText, SendMessage, SendPhoto, TelegramMethod

from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.order_views import AdminOrderCb, AoAction
from handlers.callbacks import OrderAction, OrderCb
from models.enums import ProductKind
from tests.admin_flow import ADMIN, ADMIN_2, SECOND_ADMIN, alerts, audit, place, sent_to
from tests.conftest import ADMIN_ID
from tests.recording import BlockedBy
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts

BUYER = Person(id=601, username="otto", language_code="de")


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"admin_ids": frozenset({ADMIN_ID, SECOND_ADMIN})})


async def send_photo(tg: Telegram, person: Person, caption: str) -> list[TelegramMethod[Any]]:
    return await tg.feed(
        {
            "message": {
                "message_id": 55,
                "date": int(time.time()),
                "caption": caption,
                "photo": [
                    {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
                    {"file_id": "parcel", "file_unique_id": "l", "width": 900, "height": 900},
                ],
                "chat": {"id": person.id, "type": "private", "first_name": person.first_name},
                "from": person.as_json(),
            }
        }
    )


async def test_admin_message_buyer_answer_every_admin_round_trip(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, name="Mug", kind=ProductKind.physical, units=2)
    order_id = await place(tg, sessions, BUYER, product, address="Otto\nWeg 1\nKöln")
    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.view, id=order_id))
    calls = await tg.press(ADMIN, buttons(calls)["✉ Message buyer"])
    assert texts(calls)[0].startswith(f"Order #{order_id}: send the message for the buyer")

    calls = await tg.send(ADMIN, "Your street has no <house> number & we need it.")
    (to_buyer,) = [c for c in calls if isinstance(c, SendMessage) and c.chat_id == BUYER.id]
    assert to_buyer.text == (
        f"✉ <b>Nachricht vom Shop zu Bestellung #{order_id}:</b>\n\n"
        "Your street has no &lt;house&gt; number &amp; we need it."
    )
    assert buttons([to_buyer]) == {
        "↩ Antworten": OrderCb(action=OrderAction.reply, id=order_id).pack(),
        f"📄 Bestellung #{order_id}": OrderCb(action=OrderAction.view, id=order_id).pack(),
    }
    assert sent_to(calls, ADMIN_ID)[0].startswith(
        f"✅ Sent to the buyer of order #{order_id}.\n\n<b>Order #{order_id}</b>"
    )
    assert f"✉ message to the buyer · admin {ADMIN_ID}" in sent_to(calls, ADMIN_ID)[0]  # on the timeline

    calls = await tg.press(BUYER, OrderCb(action=OrderAction.reply, id=order_id))
    assert texts(calls)[0].startswith(f"✉ Schreib deine Antwort zu Bestellung #{order_id}")
    assert not [c for c in calls if isinstance(c, EditMessageText)]  # the shop's message stays readable
    calls = await send_photo(tg, BUYER, "Hier, Hausnummer 1a")
    copies = {c.chat_id: c for c in calls if isinstance(c, SendPhoto)}
    assert set(copies) == {ADMIN_ID, SECOND_ADMIN}  # every admin, as support copies do
    header = f"✉ <b>Order #{order_id}</b>: message from buyer <code>{BUYER.id}</code> @otto"
    assert (copies[ADMIN_ID].photo, copies[ADMIN_ID].caption) == ("parcel", f"{header}\n\nHier, Hausnummer 1a")
    assert buttons([copies[SECOND_ADMIN]]) == {
        "↩ Answer": AdminOrderCb(action=AoAction.message, id=order_id).pack(),
        f"📄 Order #{order_id}": AdminOrderCb(action=AoAction.view, id=order_id).pack(),
    }
    assert sent_to(calls, BUYER.id) == ["✅ An den Shop gesendet. Die Antwort bekommst du hier."]

    calls = await tg.press(ADMIN_2, AdminOrderCb(action=AoAction.message, id=order_id))  # "↩ Answer" on the copy
    assert not [c for c in calls if isinstance(c, EditMessageText)]
    calls = await tg.send(ADMIN_2, "Danke, ist notiert.")
    assert sent_to(calls, BUYER.id) == [
        f"✉ <b>Nachricht vom Shop zu Bestellung #{order_id}:</b>\n\nDanke, ist notiert."
    ]

    trail = [(a.action, a.actor, a.after) for a in await audit(sessions, order_id) if "message" in a.action]
    assert trail == [
        ("order.message_to_buyer", f"admin:{ADMIN_ID}", {"delivered": True, "photo": False}),
        ("order.message_from_buyer", f"buyer:{BUYER.id}", {"admins": 2, "photo": True}),
        ("order.message_to_buyer", f"admin:{SECOND_ADMIN}", {"delivered": True, "photo": False}),
    ]
    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.view, id=order_id))
    timeline = texts(calls)[0].split("<b>Timeline</b> (UTC)\n")[1]
    assert f"✉ message from the buyer · buyer {BUYER.id}" in timeline
    assert f"✉ message to the buyer · admin {SECOND_ADMIN}" in timeline
    for text in ("house", "Hausnummer", "notiert"):  # what was written stays in Telegram
        assert not any(text in repr((a.after, a.reason)) for a in await audit(sessions, order_id))


async def test_only_the_buyer_answers_and_prompts_are_no_trap(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=2, goods=goods)
    order_id = await place(tg, sessions, BUYER, product)
    mallory = Person(id=666)
    calls = await tg.press(mallory, OrderCb(action=OrderAction.reply, id=order_id))
    missing = await tg.press(mallory, OrderCb(action=OrderAction.reply, id=order_id + 99))
    assert texts(calls) == texts(missing) == ["This button is out of date. Here is the current view."]
    calls = await tg.send(mallory, "let me in")
    assert not sent_to(calls, ADMIN_ID) and not sent_to(calls, SECOND_ADMIN)
    calls = await tg.press(mallory, AdminOrderCb(action=AoAction.message, id=order_id))  # not an admin
    assert alerts(calls) == ["This button is out of date. Here is the current view."]

    # An admin who leaves the prompt through another section's button is not caught by it later.
    await tg.press(ADMIN, AdminOrderCb(action=AoAction.message, id=order_id))
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.stats))
    assert texts(calls)[0].startswith("📊 <b>Statistics</b>")
    calls = await tg.send(ADMIN, "where is my parcel?")
    assert not sent_to(calls, BUYER.id)
    await tg.press(ADMIN, AdminOrderCb(action=AoAction.message, id=order_id))
    calls = await tg.send(ADMIN, f"/order {order_id}")  # a command leaves too, and still works
    assert texts(calls)[0].startswith(f"<b>Order #{order_id}</b>") and not sent_to(calls, BUYER.id)
    await tg.press(ADMIN, AdminOrderCb(action=AoAction.message, id=order_id))
    sticker = {"file_id": "st", "file_unique_id": "st", "type": "regular", "width": 1, "height": 1}
    calls = await tg.feed(
        {
            "message": {
                "message_id": 9,
                "date": int(time.time()),
                "sticker": {**sticker, "is_animated": False, "is_video": False},
                "chat": {"id": ADMIN_ID, "type": "private", "first_name": "Ada"},
                "from": ADMIN.as_json(),
            }
        }
    )
    assert texts(calls) == ["Please send text or a photo, or press Cancel."]

    await tg.press(BUYER, OrderCb(action=OrderAction.reply, id=order_id))
    calls = await tg.press(BUYER, OrderCb(action=OrderAction.list))  # the buyer leaves as well
    calls = await tg.send(BUYER, "hello?")
    assert not sent_to(calls, ADMIN_ID)
    assert not [a for a in await audit(sessions, order_id) if "message" in a.action]
    calls = await tg.press(ADMIN, AdminOrderCb(action=AoAction.message, id=order_id + 99))
    assert alerts(calls) == [f"Order #{order_id + 99} does not exist."]


async def test_a_message_the_buyer_cannot_receive_is_audited_as_undelivered(
    tg: Telegram, container: Container, sessions, goods
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    order_id = await place(tg, sessions, BUYER, product)
    session = BlockedBy(BUYER.id)  # then the buyer blocks the bot
    blocked = Telegram(
        dp=create_dispatcher(container, MemoryStorage()), bot=create_bot(container.settings, session), session=session
    )
    await blocked.press(ADMIN, AdminOrderCb(action=AoAction.message, id=order_id))
    calls = await blocked.send(ADMIN, "hello")
    assert sent_to(calls, ADMIN_ID)[0].startswith(
        f"Could not deliver to the buyer of order #{order_id} (they may have blocked the bot)."
    )
    (undelivered,) = [a for a in await audit(sessions, order_id) if "message" in a.action]
    assert (undelivered.action, undelivered.after) == (
        "order.message_undelivered",
        {"delivered": False, "photo": False},
    )
    calls = await blocked.press(ADMIN, AdminOrderCb(action=AoAction.view, id=order_id))
    assert "✉ message to the buyer, not delivered · admin" in texts(calls)[0]
