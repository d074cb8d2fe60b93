"""`python -m bot wallet ...`: the merchant's terminal tools. Never exposed over Telegram."""

import argparse
import asyncio
import sys

from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum

from config import ConfigError, Settings
from models.chains import TOKEN_CHAINS
from models.database import standalone_session
from models.enums import Chain
from processing.chains.base import TokenBackend
from processing.chains.factory import build_token_backends
from processing.chains.holdings import TokenHoldings
from services.admin.wallet import AdminWalletService, SweepReport
from services.money import format_amount
from services.wallet.hdwallet import SolAccountNode
from services.wallet.merchant import load_wallet
from services.wallet.secretbox import write_sol_key_file


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    wallet = commands.add_parser("wallet", help="derive, export and SOL key tools")
    sub = wallet.add_subparsers(dest="wallet_command", required=True)
    derive = sub.add_parser("derive", help="print the receive address at an index")
    derive.add_argument("--chain", type=Chain, choices=list(Chain), required=True)
    derive.add_argument("--index", type=int, required=True)
    derive.set_defaults(func=derive_address)
    init = sub.add_parser("sol-init", help="create SOL_KEY_FILE from a mnemonic on stdin, or a new one")
    init.add_argument("--generate", action="store_true", help="make a new 24-word mnemonic and print it once")
    init.add_argument("--force", action="store_true", help="overwrite an existing SOL_KEY_FILE")
    init.set_defaults(func=sol_init, seals=True)
    export = sub.add_parser("export", help="watch-only imports for your wallet software")
    export.set_defaults(func=export_watch_only, needs_db=True)
    show = sub.add_parser("show-key", help="print one SOL address's private key to sweep it (audited)")
    show.add_argument("--chain", type=Chain, choices=[Chain.sol], required=True)
    show.add_argument("--index", type=int, required=True)
    show.set_defaults(func=show_key, needs_db=True)


def derive_address(args: argparse.Namespace, settings: Settings) -> int:
    print(load_wallet(settings).address(args.chain, args.index))
    return 0


def sol_init(args: argparse.Namespace, settings: Settings) -> int:
    secret = settings.wallet_key.get_secret_value()
    if not secret:
        raise ConfigError("WALLET_KEY: set it (a long random secret) before creating SOL_KEY_FILE")
    path = settings.sol_key_path
    if path.exists() and not args.force:
        raise ConfigError(f"SOL_KEY_FILE: {path} exists; pass --force to replace it")
    if args.generate:
        mnemonic = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
        print("Write these 24 words down now; they are not stored anywhere:\n" + mnemonic)
    else:
        mnemonic = " ".join(sys.stdin.read().split())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_sol_key_file(path, SolAccountNode.from_mnemonic(mnemonic), secret)
    print(f"wrote {path}; SOL index 0 address: {SolAccountNode.from_mnemonic(mnemonic).address(0)}")
    return 0


def export_watch_only(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> None:
        backends = _token_backends(settings)
        try:
            async with standalone_session(settings.resolved_database_url) as session:
                service = AdminWalletService(session, load_wallet(settings), TokenHoldings(backends))
                for item in await service.watch_only_exports():
                    used = "none yet" if item.highest_index is None else str(item.highest_index)
                    print(f"{item.chain.upper()}: {item.text}\n  highest index used: {used}")
                for line in _sweep_lines(await service.sweep_reports()):
                    print(line)
        finally:
            for backend in backends.values():
                await backend.close()

    asyncio.run(run())
    return 0


def _token_backends(settings: Settings) -> dict[Chain, TokenBackend]:
    """A token backend for each network whose provider is configured; the others are reported as not asked."""
    backends: dict[Chain, TokenBackend] = {}
    for chain in TOKEN_CHAINS:
        try:
            backends |= build_token_backends(settings, [chain])
        except ConfigError:
            continue
    return backends


def _sweep_lines(reports: list[SweepReport]) -> list[str]:
    """Token invoice addresses that hold tokens now, with their index in your wallet, and the cost of moving them."""
    if not reports:
        return []
    lines = ["Tokens on invoice addresses (your own keys, at the index shown; see README, 'Stablecoins'):"]
    for report in reports:
        coin = report.coin
        if report.holdings is None:
            lines.append(f"  {coin.network}: could not ask (set {coin.symbol}_RPC_URL, or try again)")
            continue
        lines += [
            f"  {h.unit.label}  index {h.index}  {h.address}  {format_amount(h.unit, h.balance)} {h.unit.symbol}"
            for h in report.holdings
        ] or [f"  {coin.network}: no invoice address holds tokens now"]
        if fees := report.fees:
            total, each = (format_amount(coin, fee) for fee in fees)
            lines.append(
                f"  moving them: about {total} {coin.symbol} ({each} {coin.symbol} per transfer at today's prices)"
            )
    return lines


def show_key(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> str:
        async with standalone_session(settings.resolved_database_url) as session:
            return await AdminWalletService(session, load_wallet(settings)).reveal_sol_key(args.index, actor="cli")

    print(asyncio.run(run()))
    return 0
