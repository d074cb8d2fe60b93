"""One of several processes racing on the same invoices:
`python -m tests.observer_worker DB_URL ESPLORA_URL ROUNDS`. Each round runs an observer cycle with
this process's own lease holder, checks every invoice as the buyer's button would, and expires what is
overdue, all at once."""

import asyncio
import os
import sys

from sqlalchemy import select

from config import Settings
from models.database import create_engine, create_sessionmaker
from models.enums import Chain
from models.orders import Invoice
from models.types import utcnow
from processing.chains.esplora import EsploraBackend
from processing.observer import Observer
from services.payments.reconcile import PaymentService


async def main(url: str, esplora: str, rounds: int) -> None:
    settings = Settings(_env_file=None, database_url=url, btc_confirmations=1)
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    backend = EsploraBackend(Chain.btc, esplora, 10)
    observer = Observer(sessions, settings, {Chain.btc: backend}, holder=f"worker-{os.getpid()}")
    async with sessions() as s:
        addresses = list((await s.execute(select(Invoice.address))).scalars())

    async def expire() -> None:
        async with sessions() as s:
            await PaymentService(s, settings).expire_overdue(Chain.btc, utcnow())

    for _ in range(rounds):
        await asyncio.gather(
            observer.observe(Chain.btc), expire(), *(observer.check_address(Chain.btc, a) for a in addresses)
        )
    await backend.close()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
