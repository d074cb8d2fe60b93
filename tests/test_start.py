"""/start, the main menu and languages, through the real Dispatcher."""

from sqlalchemy import func, select

from handlers.callbacks import LanguageCb, MenuAction, MenuCb
from models.shop import User
from tests.telegram import Person, Telegram, buttons, texts


async def test_start_greets_a_german_user_in_german_and_registers_once(tg: Telegram, sessions) -> None:
    hans = Person(id=111, first_name="Hans", language_code="de-AT")
    calls = await tg.send(hans, "/start")
    assert texts(calls)[0].startswith("Willkommen im Shop, Hans!")
    assert list(buttons(calls)) == [
        "🛍 Shop",
        "🛒 Warenkorb",
        "🔎 Suche",
        "🏆 Bestseller",
        "📦 Meine Bestellungen",
        "💬 Support",
        "🌐 Sprache",
    ]

    await tg.send(hans, "/start")
    async with sessions() as s:
        rows = (await s.execute(select(User.language, func.count()).group_by(User.language))).all()
    assert rows == [("de", 1)]


async def test_other_languages_get_english(tg: Telegram) -> None:
    calls = await tg.send(Person(id=112, language_code="fr"), "/start")
    assert texts(calls)[0].startswith("Welcome to the shop")
    assert "🛒 Cart" in buttons(calls)


async def test_language_switch_is_remembered(tg: Telegram) -> None:
    alice = Person(id=113, language_code="en")
    await tg.send(alice, "/start")
    calls = await tg.press(alice, MenuCb(action=MenuAction.language))
    assert set(buttons(calls)) >= {"🇬🇧 English", "🇩🇪 Deutsch"}
    calls = await tg.press(alice, LanguageCb(code="de"))
    assert "Sprache auf Deutsch umgestellt." in texts(calls)
    calls = await tg.send(alice, "/start")  # Telegram still says "en"; her choice wins
    assert texts(calls)[0].startswith("Willkommen")


async def test_garbage_text_and_forged_callbacks_get_a_clear_answer(tg: Telegram, sessions) -> None:
    bob = Person(id=114)
    calls = await tg.send(bob, "\x00💥 DROP TABLE users;")
    assert texts(calls) == ["I did not understand that. Use the buttons below."]
    for forged in ["lg:xx", "m:nonsense", "zz:1:2:3", "x" * 64, ""]:
        calls = await tg.press(bob, forged)
        assert "This button is out of date. Here is the current view." in texts(calls), forged
    async with sessions() as s:
        assert (await s.execute(select(User.language).where(User.telegram_id == 114))).scalar_one() == "en"


async def test_no_main_menu_entry_is_a_placeholder_any_more(tg: Telegram) -> None:
    for action in MenuAction:  # support was the last one; tests/test_support.py covers it
        calls = await tg.press(Person(id=115), MenuCb(action=action))
        assert texts(calls) and "Coming soon." not in texts(calls), action


async def test_blocking_and_unblocking_the_bot_is_remembered_for_broadcasts(tg: Telegram, sessions) -> None:
    carol = Person(id=115)
    await tg.send(carol, "/start")

    async def blocked() -> bool:
        async with sessions() as s:
            return bool((await s.execute(select(User.blocked_bot).where(User.telegram_id == carol.id))).scalar_one())

    assert await tg.bot_status(carol, "member", "kicked") == []  # nothing can be sent to a user who blocked us
    assert await blocked()
    group = {"id": -100123, "type": "supergroup", "title": "Friends"}
    await tg.bot_status(carol, "member", "left", chat=group)  # she removed the bot from a group: not a block
    await tg.bot_status(carol, "kicked", "member", chat=group)
    assert await blocked()
    await tg.bot_status(carol, "kicked", "member")
    assert not await blocked()
