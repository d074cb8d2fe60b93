"""The tests run aiogram as the bot does: its validators built on first use (bot.telegram_types)."""

from bot.telegram_types import defer_telegram_validators

defer_telegram_validators()
