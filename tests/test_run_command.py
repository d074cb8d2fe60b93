"""The README's run command, as a newcomer runs it: only BOT_TOKEN and TELEGRAM_API_URL set."""

from pathlib import Path

from tests.doubles.telegram import FakeUser, TelegramDouble
from tests.process import bot_process


async def test_run_command_answers_a_german_start_and_stops_on_sigterm(tmp_path: Path) -> None:
    async with TelegramDouble() as tg:
        env = {**tg.env(), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/shop.db"}
        async with bot_process(env, tmp_path / "bot.log") as proc:
            hans = FakeUser(id=777, first_name="Hans", language_code="de")
            await tg.user_sends_text(hans, "/start")
            welcome = await tg.next_sent(hans.id, timeout=30)
            menu = await tg.next_sent(hans.id, timeout=30)
        assert proc.returncode == 0, (tmp_path / "bot.log").read_text()
    assert welcome["text"].startswith("Willkommen im Shop, Hans!")
    assert [b["text"] for row in menu["reply_markup"]["inline_keyboard"] for b in row][:2] == ["🛍 Shop", "🛒 Warenkorb"]
    log = (tmp_path / "bot.log").read_text()
    assert "Traceback" not in log and tg.token not in log


async def test_admins_the_bot_cannot_write_to_yet_are_logged_at_startup(tmp_path: Path) -> None:
    """Admins who never pressed /start missed every notification silently."""
    async with TelegramDouble() as tg:
        started = FakeUser(id=111, first_name="Ada")
        await tg.user_sends_text(started, "/start")  # has a chat with the bot
        env = {**tg.env(), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/shop.db", "ADMIN_IDS": "111,222"}
        async with bot_process(env, tmp_path / "bot.log") as proc:
            await tg.next_sent(started.id, timeout=30)
        assert proc.returncode == 0, (tmp_path / "bot.log").read_text()
    assert sorted(call.params["chat_id"] for call in tg.calls if call.method == "getChat") == [111, 222]
    log = (tmp_path / "bot.log").read_text()
    assert "admin 222 has no chat with the bot yet (Bad Request: chat not found)" in log
    assert "they get no alerts until they send it /start once" in log and "admin 111" not in log
