"""The README's run command, as a newcomer runs it: only BOT_TOKEN and TELEGRAM_API_URL set."""

import asyncio
import os
import sqlite3
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

from config import ROOT
from tests.doubles.telegram import FakeUser, TelegramDouble
from tests.process import STARTUP_SECONDS, bot_process


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


async def test_a_failed_migration_stops_the_start_with_one_line(tmp_path: Path) -> None:
    """Migrations run in a child process (alembic never stays loaded in the bot); its failure still stops
    the start, before anything is served."""
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:  # a schema from a future release: no way to upgrade it
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('9999')")
    async with TelegramDouble() as tg:
        env = {**os.environ, **tg.env(), "DATABASE_URL": f"sqlite+aiosqlite:///{db}", "PROCESSING_PORT": "0"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=ROOT, env=env, stdout=PIPE, stderr=PIPE
        )
        _, err = await asyncio.wait_for(proc.communicate(), STARTUP_SECONDS)
    assert proc.returncode == 2
    assert "Can't locate revision" in err.decode()  # the child's own reason
    assert err.decode().splitlines()[-1] == "error: applying database migrations failed (exit code 1, see above)"
    assert not [call for call in tg.calls if call.method in ("getUpdates", "setWebhook")]
