"""One of several processes checking out at once: `python -m tests.checkout_worker URL FIRST COUNT`.
Checks out buyers FIRST..FIRST+COUNT-1 (telegram ids 10_000 + n) concurrently and prints
{"n": order id or null} as JSON."""

import asyncio
import json
import sys

from sqlalchemy import select

from config import Settings
from models.database import create_engine, create_sessionmaker
from models.enums import Chain
from models.shop import User
from services.orders.lifecycle import OutOfStock
from services.payments.rates import rate_service_from_settings
from services.shop.checkout import CheckoutService
from services.wallet.merchant import load_wallet
from tests.conftest import RATES
from tests.keys import BTC_ZPUB, ETH_XPUB, LTC_ZPUB


async def main(url: str, first: int, count: int) -> dict[int, int | None]:
    settings = Settings(
        _env_file=None, database_url=url, btc_xpub=BTC_ZPUB, ltc_xpub=LTC_ZPUB, eth_xpub=ETH_XPUB, rates_fixed=RATES
    )
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    wallet, rates = load_wallet(settings), rate_service_from_settings(settings)
    async with sessions() as s:
        ids = dict((await s.execute(select(User.telegram_id, User.id))).tuples().all())
    chains = [Chain.btc, Chain.ltc, Chain.eth]

    async def checkout(n: int) -> int | None:
        async with sessions() as s:
            try:
                result = await CheckoutService(s, settings, wallet, rates).checkout(ids[10_000 + n], chains[n % 3])
            except OutOfStock:
                return None
            return result.order_id

    numbers = range(first, first + count)
    results = dict(zip(numbers, await asyncio.gather(*(checkout(n) for n in numbers)), strict=True))
    await engine.dispose()
    return results


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))))
