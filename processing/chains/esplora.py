"""Esplora REST (Blockstream, mempool.space, litecoinspace.org) for BTC and LTC.

Per cycle: one `GET /address/{a}/txs` per address, plus one page per further 25 confirmed
transactions, then `GET /blocks/tip/height`. Lower bound: 1 + N requests for N addresses.
Requests run one after another, because public instances ban clients that poll in bursts.

The tip is read last, so a block confirmed after it can only mean the chain moved during the scan;
that raises ProviderError rather than reporting an odd depth. Esplora answers from its best chain,
so a reorg shows up as a payment with another block hash, back at 0 confirmations, or gone.

What this backend cannot detect: an instance that answers 200 with an empty history for an
address that was paid (a lagging or lying index). Errors and garbage always raise.
"""

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from models.enums import Chain
from processing.chains.base import ProviderError
from processing.chains.http import HttpClient, expect_shape, json_int
from services.payments.seen import ChainSnapshot, SeenPayment

_CHAIN_PAGE = 25  # confirmed transactions per page of /address/{a}/txs and /txs/chain/{last}


class EsploraBackend:
    name = "esplora"

    def __init__(self, chain: Chain, base_url: str, timeout: float) -> None:
        self.chain = chain
        self._http = HttpClient(base_url, timeout)

    async def watch(self, addresses: Sequence[str], *, rescan_recent: bool = False) -> None:
        """Nothing to do: Esplora indexes every address."""

    async def scan(self, addresses: Sequence[str]) -> ChainSnapshot:
        histories = {a: await self._history(a) for a in addresses}
        tip_text = (await self._http.get_text("/blocks/tip/height")).strip()
        if not tip_text.isdigit():
            raise ProviderError("esplora /blocks/tip/height: not a number")
        tip = int(tip_text)
        return ChainSnapshot(
            tip_height=tip,
            payments={a: _payments(a, txs, tip) for a, txs in histories.items()},
        )

    async def close(self) -> None:
        await self._http.close()

    async def _history(self, address: str) -> list[Any]:
        path = f"/address/{quote(address, safe='')}/txs"
        txs = await self._list(path)
        confirmed = [tx for tx in txs if _status(tx, path)[0] is not None]
        while len(confirmed) == _CHAIN_PAGE:
            with expect_shape(path):
                last = quote(str(confirmed[-1]["txid"]), safe="")
            confirmed = await self._list(f"{path}/chain/{last}")
            txs += confirmed
        return txs

    async def _list(self, path: str) -> list[Any]:
        answer = await self._http.get_json(path)
        if not isinstance(answer, list):
            raise ProviderError(f"esplora {path}: not a list")
        return answer


def _status(tx: Any, where: str) -> tuple[int | None, str | None]:
    """(block height, block hash), or (None, None) while in the mempool."""
    with expect_shape(where):
        status = tx["status"]
        if status["confirmed"] is not True:
            return None, None
        return json_int(status["block_height"]), str(status["block_hash"])


def _payments(address: str, txs: list[Any], tip: int) -> list[SeenPayment]:
    where = f"esplora /address/{address}/txs"
    found: dict[str, SeenPayment] = {}
    for tx in txs:
        height, block_hash = _status(tx, where)
        if height is not None and height > tip:
            raise ProviderError("esplora: the chain moved during the scan")
        with expect_shape(where):
            txid = str(tx["txid"])
            for index, out in enumerate(tx["vout"]):
                if out.get("scriptpubkey_address") != address:
                    continue
                natural_id = f"{txid}:{index}"
                found[natural_id] = SeenPayment(
                    natural_id=natural_id,
                    address=address,
                    amount=json_int(out["value"]),
                    confirmations=0 if height is None else tip - height + 1,
                    block_height=height,
                    block_hash=block_hash,
                )
    return list(found.values())
