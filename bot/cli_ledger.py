"""`python -m bot ledger check`: verify the store credit ledger (see README.md, "Store credit").

Per buyer, every entry must start where the previous one ended (balance_before = previous balance_after; the
first starts at 0), end at balance_before + amount, never below zero, and the stored balance must be the sum of
the entries. Prints one line per inconsistency, naming the buyer and the entry. Exit 0: the ledger adds up;
1: an inconsistency was found.
"""

import argparse
import asyncio

from config import Settings
from models.database import standalone_session
from services.credit.account import CreditService
from services.credit.ledger import Inconsistency


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    ledger = commands.add_parser("ledger", help="store credit ledger tools")
    tools = ledger.add_subparsers(dest="ledger_command", required=True)
    check = tools.add_parser("check", help="verify that every buyer's credit entries chain and add up")
    check.set_defaults(func=check_ledger, needs_db=True)


def check_ledger(args: argparse.Namespace, settings: Settings) -> int:
    found = asyncio.run(_check(settings))
    for problem in found:
        where = f"entry {problem.entry_id}" if problem.entry_id is not None else "stored balance"
        print(f"buyer {problem.user_id}: {where}: {problem.problem}")
    if found:
        print(f"ledger inconsistent: {len(found)} problem(s)")
        return 1
    print("ledger consistent")
    return 0


async def _check(settings: Settings) -> list[Inconsistency]:
    async with standalone_session(settings.resolved_database_url) as session:
        return await CreditService(session, settings).check()
