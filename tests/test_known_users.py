"""The bot remembers the users behind recent updates (services.shop.users.KnownUsers): a known buyer's update
reads no user row, and a ban, unban or language change still takes effect on the very next update."""

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.admin.users import UserAction, UsersCb
from handlers.callbacks import MenuAction, MenuCb
from models.shop import User
from services.dto import UserDTO
from services.shop.users import KnownUsers
from tests.conftest import ADMIN_ID
from tests.telegram import Person, Telegram, texts

ADMIN = Person(id=ADMIN_ID, first_name="Ada", username="ada")
BANNED = "This account is banned from the shop."


def user_reads(engine: AsyncEngine) -> list[str]:
    """Every statement that reads the users table by Telegram id from now on."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM users" in statement and "telegram_id" in statement:
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_a_known_buyer_costs_no_user_query(tg: Telegram, engine: AsyncEngine) -> None:
    bob = Person(id=7101, username="bob")
    await tg.send(bob, "/start")
    reads = user_reads(engine)
    for _ in range(3):
        calls = await tg.press(bob, MenuCb(action=MenuAction.main))
        assert texts(calls)
    assert reads == []
    await tg.press(Person(id=7101, username="bobby"), MenuCb(action=MenuAction.main))  # renamed: read, then stored
    assert len(reads) == 1


async def test_a_ban_takes_effect_on_the_next_update(tg: Telegram, sessions) -> None:
    mallory = Person(id=7102, username="mallory")
    await tg.send(mallory, "/start")
    assert BANNED not in texts(await tg.press(mallory, MenuCb(action=MenuAction.main)))  # remembered, not banned
    async with sessions() as s:
        user_id = (await s.execute(select(User.id).where(User.telegram_id == mallory.id))).scalar_one()

    await tg.press(ADMIN, UsersCb(action=UserAction.ban, id=user_id))
    assert texts(await tg.press(mallory, MenuCb(action=MenuAction.main))) == [BANNED]
    assert texts(await tg.send(mallory, "/start")) == [BANNED]

    await tg.press(ADMIN, UsersCb(action=UserAction.unban, id=user_id))
    assert BANNED not in texts(await tg.press(mallory, MenuCb(action=MenuAction.main)))


def test_a_lookup_racing_a_change_is_not_remembered() -> None:
    known = KnownUsers()
    user = UserDTO(id=1, telegram_id=7103, username=None, language="en", is_banned=False)
    read_at = known.generation  # the lookup starts, then an admin's ban commits and forgets the user
    known.forget(user.id)
    known.remember(user, erased=False, generation=read_at)  # what the lookup read may predate the ban
    assert known.get(user.telegram_id) is None
    known.remember(user, erased=False, generation=known.generation)
    assert known.get(user.telegram_id) is not None
    known.forget(user.id)
    assert known.get(user.telegram_id) is None


def test_with_several_instances_nothing_is_remembered() -> None:
    known = KnownUsers(seconds=0)  # webhook mode: another instance may ban the user
    known.remember(UserDTO(1, 7104, None, "en", False), erased=False, generation=known.generation)
    assert known.get(7104) is None
