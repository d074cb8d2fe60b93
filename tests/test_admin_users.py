"""Admin users through the real Dispatcher: search, timeouts list, ban/unban, reset, orders; all audited."""

from datetime import timedelta

from sqlalchemy import select

from handlers.admin.menu import AdminCb, AdminSection
from handlers.admin.users import UserAction, UsersCb
from models.enums import OrderStatus
from models.ops import AuditLog
from models.orders import Order
from models.shop import User
from models.types import utcnow
from tests.conftest import ADMIN_ID
from tests.telegram import Person, Telegram, buttons, texts

ADMIN = Person(id=ADMIN_ID, first_name="Ada", username="ada")


async def seed_users(sessions) -> dict[str, int]:
    """Bob (3 timeouts, 2 orders), Carol (1 timeout), Dave (none): name -> users.id."""
    now = utcnow()
    async with sessions.begin() as s:
        users = {
            name: User(telegram_id=tg_id, username=name, language="en", timeout_count=timeouts)
            for name, tg_id, timeouts in (("Bob", 5001, 3), ("carol", 5002, 1), ("dave", 5003, 0))
        }
        s.add_all(users.values())
        await s.flush()
        for n, status in enumerate((OrderStatus.expired, OrderStatus.paid)):
            s.add(
                Order(
                    user_id=users["Bob"].id,
                    status=status,
                    total_minor=1250 * (n + 1),
                    fiat_currency="USD",
                    created_at=now - timedelta(hours=2 - n),
                    expires_at=now,
                )
            )
        return {name: u.id for name, u in users.items()}


async def user(sessions, user_id: int) -> User:
    async with sessions() as s:
        found: User | None = await s.get(User, user_id)
        assert found is not None
        return found


async def test_search_ban_unban_reset_and_orders(tg: Telegram, sessions) -> None:
    ids = await seed_users(sessions)
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.users))
    calls = await tg.press(ADMIN, buttons(calls)["🔍 Find a user"])
    assert texts(calls) == ["Send a Telegram id or @username."]
    calls = await tg.send(ADMIN, "@nobody")
    assert texts(calls) == ["No such user. Send another id or @username, or press Cancel."]
    calls = await tg.send(ADMIN, "@bob")  # usernames are case-insensitive
    card = texts(calls)[0]
    assert card.startswith(f"<b>User #{ids['Bob']}</b>\nTelegram id: <code>5001</code>\nUsername: @Bob")
    assert "Orders: 2\nExpired unpaid (timeouts): 3\nBanned: no\nBlocked the bot: no" in card

    calls = await tg.press(ADMIN, buttons(calls)["⛔ Ban"])
    assert "Banned: from now on this user only gets a short refusal: no shopping, no support, no broadcasts." in texts(
        calls
    )
    assert "Banned: yes" in texts(calls)[0]
    calls = await tg.press(ADMIN, UsersCb(action=UserAction.ban, id=ids["Bob"]))  # again: no change, no audit
    calls = await tg.press(ADMIN, buttons(calls)["♻ Reset timeouts"])
    assert "Expired unpaid (timeouts): 0" in texts(calls)[0] and "♻ Reset timeouts" not in buttons(calls)
    calls = await tg.press(ADMIN, buttons(calls)["✅ Unban"])
    assert "Banned: no" in texts(calls)[0]
    bob = await user(sessions, ids["Bob"])
    assert (bob.is_banned, bob.timeout_count) == (False, 0)

    calls = await tg.press(ADMIN, buttons(calls)["📦 Orders"])
    assert texts(calls)[0] == f"<b>Orders of user #{ids['Bob']}</b>"
    rows = [label for label in buttons(calls) if label.startswith("#")]  # each one opens the order
    assert [row.split(" · ")[2:] for row in rows] == [["paid", "25.00 USD"], ["expired", "12.50 USD"]]
    opened = await tg.press(ADMIN, buttons(calls)[rows[1]])
    assert texts(opened)[0].startswith(f"<b>Order {rows[1].split(' · ')[0]}</b> · expired\n")

    calls = await tg.send(ADMIN, "5003")  # not in the search dialog any more: not a search
    assert texts(calls) == ["I did not understand that. Use the buttons below."]
    calls = await tg.press(ADMIN, UsersCb(action=UserAction.search))
    calls = await tg.send(ADMIN, "5003")
    assert texts(calls)[0].startswith(f"<b>User #{ids['dave']}</b>")

    async with sessions() as s:
        rows = (await s.execute(select(AuditLog).order_by(AuditLog.id))).scalars().all()
    assert [(r.actor, r.action, r.entity_id, r.before, r.after) for r in rows] == [
        (f"admin:{ADMIN_ID}", "user.ban", ids["Bob"], {"is_banned": False}, {"is_banned": True}),
        (f"admin:{ADMIN_ID}", "user.reset_timeouts", ids["Bob"], {"timeout_count": 3}, {"timeout_count": 0}),
        (f"admin:{ADMIN_ID}", "user.unban", ids["Bob"], {"is_banned": True}, {"is_banned": False}),
    ]


async def test_users_with_timeouts_at_least_n(tg: Telegram, sessions) -> None:
    ids = await seed_users(sessions)
    calls = await tg.press(ADMIN, AdminCb(section=AdminSection.users))
    assert {"⏱ Timeouts ≥ 1", "⏱ Timeouts ≥ 3"} <= set(buttons(calls))
    calls = await tg.press(ADMIN, buttons(calls)["⏱ Timeouts ≥ 1"])
    assert texts(calls) == ["Users with at least 1 expired unpaid orders:"]
    assert list(buttons(calls)) == ["5001 @Bob · 3", "5002 @carol · 1", "⬅ Back"]
    calls = await tg.press(ADMIN, UsersCb(action=UserAction.timeouts, n=3))
    assert list(buttons(calls)) == ["5001 @Bob · 3", "⬅ Back"]
    calls = await tg.press(ADMIN, buttons(calls)["5001 @Bob · 3"])
    assert texts(calls)[0].startswith(f"<b>User #{ids['Bob']}</b>")
    calls = await tg.press(ADMIN, UsersCb(action=UserAction.timeouts, n=4))
    assert texts(calls) == ["No user has 4 or more expired unpaid orders."]
    calls = await tg.press(ADMIN, UsersCb(action=UserAction.ban, id=999_999))
    assert "That user no longer exists." in texts(calls)
