"""The composition root: `python -m bot` runs the shop; `python -m bot <command>` runs a tool."""

import argparse
import asyncio
import logging
import sys

from pydantic import ValidationError

from bot import cli_catalog, cli_ledger, cli_ops, cli_wallet
from config import ConfigError, Settings, check_bot_token, check_secrets
from models.database import upgrade_database
from processing.chains.base import ProviderError
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
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if args.command is None or getattr(args, "seals", False):
            check_secrets(settings)
        if args.command is None:
            check_bot_token(settings)
            wallet = load_wallet(settings)
        if args.command is None or getattr(args, "needs_db", False):
            upgrade_database(settings.resolved_database_url)
        if args.command is not None:
            return int(args.func(args, settings))
        log_first_addresses(wallet)
        from bot.app import run  # noqa: PLC0415 - aiogram takes seconds to import; the tools don't need it

        asyncio.run(run(settings, wallet))
    except (ConfigError, WalletConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ProviderError as e:  # the chain could not be asked at startup (token decimals): worth a restart
        print(f"error: cannot start now, a chain provider failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
