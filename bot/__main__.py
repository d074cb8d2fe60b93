"""The composition root: `python -m bot` runs the shop; `python -m bot <command>` runs a tool."""

import argparse
import asyncio
import logging
import sys

from pydantic import ValidationError

from bot import cli_catalog, cli_ledger, cli_ops, cli_stock, cli_wallet
from bot.telegram_types import defer_telegram_validators
from config import ConfigError, Settings, check_bot_token, check_secrets
from models.database import MigrationFailed, upgrade_database, upgrade_database_in_child
from processing.chains.base import ProviderError
from services.wallet.goods import goods_cipher
from services.wallet.hdwallet import WalletConfigError
from services.wallet.merchant import load_wallet, log_first_addresses

log = logging.getLogger("bot")


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as e:
        err = e.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        raise ConfigError(f"{name}: {err['msg']} (see README.md, 'Settings')") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Telegram shop bot, paid in crypto.")
    commands = parser.add_subparsers(dest="command")
    cli_wallet.register(commands)
    cli_catalog.register(commands)
    cli_ops.register(commands)
    cli_ledger.register(commands)
    cli_stock.register(commands)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if args.command is None or getattr(args, "seals", False):
            check_secrets(settings)
        if args.command is None:
            check_bot_token(settings)
            wallet = load_wallet(settings)
        if args.command is not None:
            if getattr(args, "needs_db", False):
                upgrade_database(settings.resolved_database_url)
            return int(args.func(args, settings))
        upgrade_database_in_child(settings.resolved_database_url)  # alembic never loads into the bot
        log_first_addresses(wallet)
        # The peak memory is set at start-up: scrypt's 32 MiB is spent (and returned) before aiogram loads.
        goods = goods_cipher(settings)
        defer_telegram_validators()
        from bot.app import run  # noqa: PLC0415 - aiogram takes seconds to import; the tools don't need it

        asyncio.run(run(settings, wallet, goods))
    except (ConfigError, WalletConfigError, MigrationFailed) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ProviderError as e:  # the chain could not be asked at startup (token decimals): worth a restart
        print(f"error: cannot start now, a chain provider failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
