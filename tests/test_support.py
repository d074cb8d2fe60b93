"""Support through the real Dispatcher: buyer → every admin → an admin's reply → buyer."""

import dataclasses
import time
from typing import Any

from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import SendMessage, SendPhoto, TelegramMethod
from sqlalchemy import select

from bot.container import Container
from bot.factory import create_bot, create_dispatcher
from handlers.callbacks import MenuAction, MenuCb
from models.ops import AuditLog
from tests.admin_flow import ADMIN, place, rows, sent_to
from tests.conftest import ADMIN_ID
from tests.recording import RecordingSession
from tests.shop import seed_product
from tests.telegram import Person, Telegram, buttons, texts

BUYER = Person(id=501, username="erin", language_code="de")


async def copies(sessions) -> list[tuple[int, dict[str, Any]]]:
    """(message id in the admin's chat, mapping) of every support copy sent."""
    return [
        (int(i), a)
        for i, a in await rows(
            sessions,
            select(AuditLog.entity_id, AuditLog.after)
            .where(AuditLog.action == "support.message")
            .order_by(AuditLog.id),
        )
    ]


async def reply(
    tg: Telegram, person: Person, to_message_id: int, from_id: int, **content: Any
) -> list[TelegramMethod[Any]]:
    """`person` answers (Telegram's reply) a message that `from_id` sent into their chat."""
    return await tg.feed(
        {
            "message": {
                "message_id": 7000 + to_message_id,
                "date": int(time.time()),
                **content,
                "chat": {"id": person.id, "type": "private", "first_name": person.first_name},
                "from": person.as_json(),
                "reply_to_message": {
                    "message_id": to_message_id,
                    "date": int(time.time()),
                    "text": "…",
                    "chat": {"id": person.id, "type": "private", "first_name": person.first_name},
                    "from": {"id": from_id, "is_bot": True, "first_name": "Shop"},
                },
            }
        }
    )


async def test_round_trip_buyer_admin_reply_buyer(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    order_id = await place(tg, sessions, BUYER, product)
    calls = await tg.press(BUYER, MenuCb(action=MenuAction.support))
    assert texts(calls)[0].startswith("💬 Schreib deine Frage in einer Nachricht")
    calls = await tg.send(BUYER, "Wo bleibt meine <Bestellung>?")
    assert sent_to(calls, BUYER.id) == ["✅ An den Shop gesendet. Die Antwort bekommst du hier."]
    (copy,) = [c for c in calls if isinstance(c, SendMessage) and c.chat_id == ADMIN_ID]
    assert copy.text == (
        f"💬 <b>Support</b> from <code>{BUYER.id}</code> @erin, latest order #{order_id}\n"
        "Reply to this message to answer.\n\nWo bleibt meine &lt;Bestellung&gt;?"
    )
    assert buttons([copy]) == {f"📄 Order #{order_id}": f"ao:v:{order_id}:aw:0"}
    ((message_id, mapping),) = await copies(sessions)
    assert mapping == {"admin": ADMIN_ID, "buyer": BUYER.id, "order_id": order_id}

    calls = await reply(tg, ADMIN, message_id, tg.bot.id, text="Sie ist unterwegs & kommt <morgen>.")
    assert sent_to(calls, BUYER.id) == ["💬 <b>Antwort vom Shop:</b>\n\nSie ist unterwegs &amp; kommt &lt;morgen&gt;."]
    assert buttons(calls) == {"💬 Zurückschreiben": MenuCb(action=MenuAction.support).pack()}
    assert f"✅ Sent to {BUYER.id}." in sent_to(calls, ADMIN_ID)
    (answer,) = [a for (a,) in await rows(sessions, select(AuditLog).where(AuditLog.action == "support.reply"))]
    assert (answer.actor, answer.entity_id, answer.after) == (f"admin:{ADMIN_ID}", BUYER.id, {"delivered": True})

    calls = await tg.press(BUYER, MenuCb(action=MenuAction.support))  # "write back": a photo this time
    calls = await tg.feed(
        {
            "message": {
                "message_id": 99,
                "date": int(time.time()),
                "caption": "Das Paket ist beschädigt",
                "photo": [
                    {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
                    {"file_id": "large", "file_unique_id": "l", "width": 900, "height": 900},
                ],
                "chat": {"id": BUYER.id, "type": "private", "first_name": BUYER.first_name},
                "from": BUYER.as_json(),
            }
        }
    )
    (photo,) = [c for c in calls if isinstance(c, SendPhoto) and c.chat_id == ADMIN_ID]
    assert photo.photo == "large" and (photo.caption or "").endswith("\n\nDas Paket ist beschädigt")
    (_, (message_id, _)) = await copies(sessions)
    calls = await reply(
        tg,
        ADMIN,
        message_id,
        tg.bot.id,
        caption="Ersatz ist unterwegs",
        photo=[{"file_id": "label", "file_unique_id": "x", "width": 90, "height": 90}],
    )
    (back,) = [c for c in calls if isinstance(c, SendPhoto) and c.chat_id == BUYER.id]
    assert (back.photo, back.caption) == ("label", "💬 <b>Antwort vom Shop:</b>\n\nErsatz ist unterwegs")


async def test_only_replies_to_a_support_copy_reach_a_buyer(tg: Telegram, sessions) -> None:
    await tg.press(BUYER, MenuCb(action=MenuAction.support))
    await tg.send(BUYER, "Hallo?")
    ((message_id, _),) = await copies(sessions)
    for person, to, sender in (
        (ADMIN, message_id + 1000, tg.bot.id),  # another message of the bot's
        (ADMIN, message_id, ADMIN_ID),  # their own message with that id
        (Person(id=666), message_id, tg.bot.id),
    ):  # not an admin
        calls = await reply(tg, person, to, sender, text="leak?")
        assert not sent_to(calls, BUYER.id), person
    assert not await rows(sessions, select(AuditLog).where(AuditLog.action == "support.reply"))


async def test_waiting_for_a_message_is_no_trap(tg: Telegram, sessions) -> None:
    buyer = Person(id=502)
    await tg.press(buyer, MenuCb(action=MenuAction.support))
    calls = await tg.press(buyer, MenuCb(action=MenuAction.orders))  # any button leaves, and still works
    assert texts(calls) == ["You have no orders yet."]
    calls = await tg.send(buyer, "just typing")
    assert texts(calls) == ["I did not understand that. Use the buttons below."]

    await tg.press(buyer, MenuCb(action=MenuAction.support))
    calls = await tg.send(buyer, "/start")
    assert texts(calls)[-1] == "Main menu"
    await tg.press(buyer, MenuCb(action=MenuAction.support))
    calls = await tg.send(buyer, "/help")
    assert texts(calls) == ["I did not understand that. Use the buttons below."]

    await tg.press(buyer, MenuCb(action=MenuAction.support))
    calls = await tg.feed(
        {
            "message": {
                "message_id": 5,
                "date": int(time.time()),
                "sticker": {
                    "file_id": "st",
                    "file_unique_id": "st",
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                },
                "chat": {"id": buyer.id, "type": "private", "first_name": "A"},
                "from": buyer.as_json(),
            }
        }
    )
    assert texts(calls) == ["Please send text or a photo, or go back to the menu."]
    assert not await copies(sessions)


async def test_without_reachable_admins_the_buyer_is_told(container: Container) -> None:
    settings = container.settings.model_copy(update={"admin_ids": frozenset()})
    session = RecordingSession()
    tg = Telegram(
        dp=create_dispatcher(dataclasses.replace(container, settings=settings), MemoryStorage()),
        bot=create_bot(settings, session),
        session=session,
    )
    buyer = Person(id=503)
    await tg.press(buyer, MenuCb(action=MenuAction.support))
    calls = await tg.send(buyer, "anyone?")
    assert texts(calls)[0] == "Support cannot be reached right now. Please try again later."
