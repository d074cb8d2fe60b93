"""The DB-backed floor handler (`bench.dispatch.floor_dispatcher`) as a bot process of its own, long-polling
the Bot API at TELEGRAM_API_URL: the reference of `python -m bench http`. It reads BOT_TOKEN,
TELEGRAM_API_URL and DATABASE_URL as the shop does, FLOOR_PRODUCT_ID (the product its screen shows), and
FLOOR_ANSWERS_PRESSES=1 to answer each press as well.
SIGTERM stops it.

Run: .venv/bin/python -m bench.floor_bot
"""

from __future__ import annotations

import asyncio
import os

from bench.dispatch import floor_dispatcher
from bot.app import freeze_startup_heap
from bot.factory import create_bot
from config import Settings
from models.database import create_engine, create_sessionmaker


async def run() -> None:
    settings = Settings()
    engine = create_engine(settings.resolved_database_url)
    answer_presses = os.environ.get("FLOOR_ANSWERS_PRESSES") == "1"
    dp = floor_dispatcher(create_sessionmaker(engine), int(os.environ["FLOOR_PRODUCT_ID"]), answer_presses)
    freeze_startup_heap()  # as the shop does before serving
    try:
        await dp.start_polling(create_bot(settings))
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(run())
