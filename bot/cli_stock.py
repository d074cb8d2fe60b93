"""`python -m bot stock check`: verify every variant's available-units counter (see README.md, "Speed and memory").

Each variant keeps the number of its available units in a counter that every change of a unit moves in the
same transaction; this compares each counter with the units themselves, in one query. Prints one line per
variant whose counter is wrong. Exit 0: every counter is right; 1: a counter is wrong.
"""

import argparse
import asyncio

from config import Settings
from models.database import standalone_session
from services.admin.stock import AdminStockService, Miscount


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    stock = commands.add_parser("stock", help="stock tools")
    tools = stock.add_subparsers(dest="stock_command", required=True)
    check = tools.add_parser("check", help="verify that every variant's available-units counter matches its units")
    check.set_defaults(func=check_stock, needs_db=True)


def check_stock(args: argparse.Namespace, settings: Settings) -> int:
    found = asyncio.run(_check(settings))
    for m in found:
        print(f"variant {m.variant_id} of product {m.product_id}: counter {m.counter} ≠ {m.available} available units")
    if found:
        print(f"stock counters inconsistent: {len(found)} variant(s)")
        return 1
    print("stock counters consistent")
    return 0


async def _check(settings: Settings) -> list[Miscount]:
    async with standalone_session(settings.resolved_database_url) as session:
        return await AdminStockService(session, None).miscounts()
