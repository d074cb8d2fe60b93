"""Broadcast through the real Dispatcher polling the HTTP Bot API double, sent by the real outbox sender:
500 users, some blocked (403) and some rate-limited (429), a restart half-way, blocked users skipped next time."""

import asyncio
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update

from models.enums import Chain, OutboxStatus
from models.ops import AuditLog, OutboxMessage
from models.shop import User
from models.types import utcnow
from processing.outbox import OutboxSender
from services.admin.broadcast import BROADCAST_PER_SECOND, AdminBroadcastService, BroadcastProgress
from tests.admin_double import ADMIN, PolledShop, polled_shop
from tests.payflow import place_order
from tests.shop import seed_product

TEXT = "Sale: 10% off & more <3"


async def seed_recipients(sessions, count: int) -> list[int]:
    chat_ids = [700_000 + n for n in range(count)]
    async with sessions.begin() as s:
        await s.execute(
            insert(User),
            [
                {
                    "telegram_id": c,
                    "username": None,
                    "language": "en",
                    "timeout_count": 0,
                    "is_banned": False,
                    "blocked_bot": False,
                    "created_at": utcnow(),
                }
                for c in chat_ids
            ],
        )
    return chat_ids


async def compose(shop: PolledShop, text: str) -> dict[str, Any]:
    """/admin → Broadcast → text → Send; returns the progress message."""
    (menu,) = await shop.say("/admin")
    view = await shop.press(menu, "📣 Broadcast")
    assert view["text"].startswith("📣 Broadcast\nSend the message for")
    preview, confirm = await shop.say(text, replies=2)
    assert preview["text"] == text  # HTML-escaped by the bot, shown as typed
    return await shop.press(confirm, "📣 Send")


def current(shop: PolledShop, message: dict[str, Any]) -> str:
    """The text of the message as it is now, after the bot's edits."""
    now = shop.double.message(ADMIN.id, message["message_id"])
    assert now is not None
    return str(now["text"])


async def drain(outbox: OutboxSender, progress: BroadcastProgress, batches: int | None = None) -> None:
    """Run the outbox and progress jobs as the scheduler would, without waiting 2 s between runs."""
    deadline = time.monotonic() + 60  # generous: a loaded CI machine sends ~50 a second
    while await progress.report() and batches != 0:
        if not await outbox.send_due(limit=50):
            await asyncio.sleep(0.05)  # a 429 asked us to wait
        batches = None if batches is None else batches - 1
        assert time.monotonic() < deadline, "the broadcast did not finish"


async def test_broadcast_to_500_users_counts_blocked_and_skips_them_next_time(container, sessions) -> None:
    chat_ids = await seed_recipients(sessions, 500)
    blocked = set(chat_ids[::25])  # 20 of them blocked the bot
    async with polled_shop(container) as shop:
        tg = shop.double
        for chat_id in blocked:
            tg.block(chat_id)
        progress = await compose(shop, TEXT)
        assert await shop.answer_text() == "Broadcast started."
        broadcast_id = int(progress["text"].split("#")[1].split(":")[0])
        assert progress["text"] == f"📣 Broadcast #{broadcast_id}: sent 0 of 501, failed 0…"  # the admin is a user too

        async with sessions() as s:  # rows fall due BROADCAST_PER_SECOND apart ...
            due = (
                (
                    await s.execute(
                        select(OutboxMessage.next_attempt_at)
                        .where(OutboxMessage.kind == "broadcast")
                        .order_by(OutboxMessage.id)
                    )
                )
                .scalars()
                .all()
            )
        assert len(due) == 501 and due[500] - due[0] == timedelta(seconds=500 / BROADCAST_PER_SECOND)
        async with sessions.begin() as s:  # ... and here that time has passed
            await s.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        tg.rate_limit(times=2, retry_after=1)

        def jobs() -> tuple[OutboxSender, BroadcastProgress]:
            return (
                container.outbox_sender(shop.bot),
                BroadcastProgress(sessions, shop.bot, container.translator),
            )

        await drain(*jobs(), batches=3)
        half_way = current(shop, progress)
        assert half_way.startswith(f"📣 Broadcast #{broadcast_id}: sent ") and "of 501" in half_way
        await drain(*jobs())  # after a restart: new jobs, state from the database

        final = current(shop, progress)
        assert final == (
            f"✅ Broadcast #{broadcast_id} finished: sent 481 of 501, failed 20. "
            "Users who blocked the bot are skipped next time."
        )
        edits = [m["text"] for m in tg.sent_to(ADMIN.id) if m["message_id"] == progress["message_id"]]
        assert len(edits) >= 4  # 0, at least one step between, the last count, finished
        assert [e["error_code"] for _, e in tg.errors].count(429) == 2
        for chat_id in chat_ids:
            assert [m["text"] for m in tg.sent_to(chat_id)] == ([] if chat_id in blocked else [TEXT]), chat_id
        async with sessions() as s:
            marked = set((await s.execute(select(User.telegram_id).where(User.blocked_bot))).scalars())
            finished = (await s.execute(select(AuditLog.after).where(AuditLog.action == "broadcast.finish"))).scalar()
        assert marked == blocked and finished == {"total": 501, "sent": 481, "failed": 20}

        progress = await compose(shop, "Second")
        assert progress["text"].endswith("sent 0 of 481, failed 0…")  # the blocked are not recipients any more
        second = int(progress["text"].split("#")[1].split(":")[0])
        async with sessions() as s:
            queued = (
                (
                    await s.execute(
                        select(OutboxMessage.chat_id).where(OutboxMessage.params["broadcast_id"].as_integer() == second)
                    )
                )
                .scalars()
                .all()
            )
        assert len(queued) == 481 and not blocked & set(queued)


async def test_starting_twice_from_one_preview_queues_once(sessions) -> None:
    await seed_recipients(sessions, 3)
    async with sessions() as s:
        first = await AdminBroadcastService(s).start("admin:1", "Hi", "en", chat_id=1, message_id=7)
    async with sessions() as s:
        again = await AdminBroadcastService(s).start("admin:1", "Hi", "en", chat_id=1, message_id=7)
        other = await AdminBroadcastService(s).start("admin:1", "Hi", "en", chat_id=1, message_id=8)
    assert again == first and other.id != first.id and (first.total, other.total) == (3, 3)
    async with sessions() as s:
        rows = (
            await s.execute(select(OutboxMessage.status, OutboxMessage.params).where(OutboxMessage.kind == "broadcast"))
        ).all()
    assert len(rows) == 6 and all(status is OutboxStatus.pending for status, _ in rows)
    assert {params["broadcast_id"] for _, params in rows} == {first.id, other.id}


async def test_a_429_stops_the_batch_until_retry_after_has_passed(container, sessions) -> None:
    chat_ids = await seed_recipients(sessions, 5)
    async with sessions() as s:
        await AdminBroadcastService(s).start("admin:1", "Sale today", "en", chat_id=ADMIN.id, message_id=1)
    async with sessions.begin() as s:
        await s.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    async with polled_shop(container) as shop:
        outbox = container.outbox_sender(shop.bot)
        shop.double.rate_limit(times=1, retry_after=1)
        assert await outbox.send_due() == 0
        assert await outbox.send_due() == 0  # still inside retry_after: Telegram is not asked again
        assert len(shop.double.calls_of("sendMessage")) == 1
        assert [e["error_code"] for _, e in shop.double.errors] == [429]
        await asyncio.sleep(1.1)
        assert await outbox.send_due() == 5
        assert all([m["text"] for m in shop.double.sent_to(c)] == ["Sale today"] for c in chat_ids)


async def test_order_messages_go_before_a_broadcast_backlog(container, sessions, goods) -> None:
    await seed_recipients(sessions, 120)
    async with sessions() as s:
        await AdminBroadcastService(s).start("admin:1", "Sale today", "en", chat_id=ADMIN.id, message_id=1)
    async with sessions.begin() as s:  # the bot was down: the whole broadcast is due at once
        await s.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await place_order(container.settings, sessions, 700_001, product, 1, Chain.btc)  # queued last
    async with polled_shop(container) as shop:
        outbox = container.outbox_sender(shop.bot)
        assert await outbox.send_due(limit=50) == 50
        sent = [call["text"] for call in shop.double.calls_of("sendMessage")]
        assert sent[0].startswith(f"🛒 New order #{invoice.order_id}: 12.50 USD") and sent[1:] == ["Sale today"] * 49
