"""Esplora REST (Blockstream, mempool.space, litecoinspace.org) for BTC and LTC.

The two implementations page `/address/{a}/txs` differently (see shared/WIRE-FORMATS.md): Blockstream's
electrs answers up to 50 mempool plus 25 confirmed transactions, mempool/electrs (mempool.space,
litecoinspace.org) at most 50 in all. So we never read that endpoint. Per address:

1. `GET /address/{a}`: how many transactions touch it, in the mempool and confirmed. Both at 0 (an
   unpaid invoice, the usual case) ends it.
2. If the mempool count is not 0: `GET /address/{a}/txs/mempool`. Both implementations cap it at 50
   and cannot page it, so when it lists fewer than the count, `GET /address/{a}/utxo` adds the
   unspent outputs it left out.
3. If the confirmed count is not 0: `GET /address/{a}/txs/chain`, then `/txs/chain/{last_txid}` while a
   page holds 25 or more. A history shorter than the count is an error: both implementations answer
   an unknown `last_txid` with an empty page, and a smaller page size would stop us early.

With `since` for an address (a refund to a buyer's address, whose history may be long), paging stops at
the first page that reaches down to that height: older transactions do not matter.

Then `GET /blocks/tip/height`. Lower bound: 1 + N requests for N addresses, reached when none was
paid. A paid address adds 1 request for its unconfirmed transactions (2 past 50 of them) and
C // 25 + 1 pages for C confirmed ones. Requests run one after another, because public instances ban
clients that poll in bursts.

The tip is read last, so a block confirmed after it can only mean the chain moved during the scan;
that raises ProviderError rather than reporting an odd depth. Esplora answers from its best chain,
so a reorg shows up as a payment with another block hash, back at 0 confirmations, or gone.

What this backend cannot detect: an instance that answers 200 with an empty history for an
address that was paid (a lagging or lying index); and, past 50 unconfirmed transactions at one address,
an unconfirmed payment the merchant has already spent (it is in neither the capped list nor /utxo).
Errors and garbage always raise, among them HTTP 400 from /utxo past the server's limit (500 unspent
outputs by default).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from models.enums import Chain
from processing.chains.base import ProviderError
from processing.chains.http import HttpClient, expect_shape, json_int
from services.payments.seen import ChainSnapshot, SeenPayment

_CHAIN_PAGE = 25  # confirmed transactions per page of /txs/chain[/{last}], on both implementations


@dataclass(frozen=True, slots=True)
class _Output:
    """An output paying the address, before the tip tells its depth."""

    natural_id: str  # "txid:vout"
    amount: int
    height: int | None  # None while in the mempool
    block_hash: str | None


class EsploraBackend:
    name = "esplora"

    def __init__(self, chain: Chain, base_url: str, timeout: float) -> None:
        self.chain = chain
        self._http = HttpClient(base_url, timeout)

    async def watch(self, addresses: Sequence[str], *, rescan_recent: bool = False) -> None:
        """Nothing to do: Esplora indexes every address."""

    async def scan(self, addresses: Sequence[str], *, since: Mapping[str, int] | None = None) -> ChainSnapshot:
        outputs = {a: await self._outputs(a, (since or {}).get(a)) for a in addresses}
        tip = await self.tip_height()
        return ChainSnapshot(
            tip_height=tip,
            payments={a: _payments(a, found, tip) for a, found in outputs.items()},
        )

    async def tip_height(self) -> int:
        tip_text = (await self._http.get_text("/blocks/tip/height")).strip()
        if not tip_text.isdigit():
            raise ProviderError("esplora /blocks/tip/height: not a number")
        return int(tip_text)

    async def close(self) -> None:
        await self._http.close()

    async def _outputs(self, address: str, since: int | None) -> list[_Output]:
        """Every output paying `address` (those confirmed at or below `since` may be left out); an output
        listed twice (it confirmed between two requests) appears last in its confirmed form."""
        base = f"/address/{quote(address, safe='')}"
        stats = await self._http.get_json(base)
        with expect_shape(base):
            in_mempool = json_int(stats["mempool_stats"]["tx_count"])
            confirmed = json_int(stats["chain_stats"]["tx_count"])
        if min(in_mempool, confirmed) < 0:
            raise ProviderError(f"esplora {base}: a negative transaction count")
        found: list[_Output] = []
        if in_mempool > 0:
            txs = await self._list(f"{base}/txs/mempool")
            found += _paying(address, txs, base)
            if len(txs) < in_mempool:
                found += _unspent(await self._list(f"{base}/utxo"), base)
        if confirmed > 0:
            txs, complete = await self._chain(f"{base}/txs/chain", since)
            if complete and len(txs) < confirmed:
                raise ProviderError(f"esplora {base}: {len(txs)} confirmed transactions listed of {confirmed}")
            found += _paying(address, txs, base)
        return found

    async def _chain(self, path: str, since: int | None) -> tuple[list[Any], bool]:
        """The confirmed history, newest first, page after page until one holds fewer than 25, or reaches
        down to `since`; and whether it is complete (it did not stop at `since`)."""
        page = await self._list(path)
        txs, listed = list(page), _txids(page, path)
        while len(page) >= _CHAIN_PAGE:
            oldest = _status(page[-1], path)[0]
            if since is not None and oldest is not None and oldest <= since:
                return txs, False
            page = await self._list(f"{path}/{quote(str(page[-1]['txid']), safe='')}")
            new = _txids(page, path)
            if new & listed:  # a server that ignores last_txid would otherwise be asked forever
                raise ProviderError(f"esplora {path}: a page repeats transactions")
            listed |= new
            txs += page
        return txs, True

    async def _list(self, path: str) -> list[Any]:
        answer = await self._http.get_json(path)
        if not isinstance(answer, list):
            raise ProviderError(f"esplora {path}: not a list")
        return answer


def _txids(txs: list[Any], where: str) -> set[str]:
    with expect_shape(where):
        return {str(tx["txid"]) for tx in txs}


def _status(entry: Any, where: str) -> tuple[int | None, str | None]:
    """(block height, block hash) of a transaction or unspent output, or (None, None) in the mempool."""
    with expect_shape(where):
        status = entry["status"]
        if status["confirmed"] is not True:
            return None, None
        return json_int(status["block_height"]), str(status["block_hash"])


def _paying(address: str, txs: list[Any], where: str) -> list[_Output]:
    found: list[_Output] = []
    for tx in txs:
        height, block_hash = _status(tx, where)
        with expect_shape(where):
            txid = str(tx["txid"])
            for index, out in enumerate(tx["vout"]):
                if out.get("scriptpubkey_address") == address:
                    found.append(_Output(f"{txid}:{index}", json_int(out["value"]), height, block_hash))
    return found


def _unspent(utxos: list[Any], where: str) -> list[_Output]:
    found: list[_Output] = []
    for utxo in utxos:
        height, block_hash = _status(utxo, where)
        with expect_shape(where):
            natural_id = f"{utxo['txid']}:{json_int(utxo['vout'])}"
            found.append(_Output(natural_id, json_int(utxo["value"]), height, block_hash))
    return found


def _payments(address: str, outputs: list[_Output], tip: int) -> list[SeenPayment]:
    if not outputs:  # nearly every watched address in a cycle: 10,000 of them in one step of the event loop
        return []
    found: dict[str, SeenPayment] = {}
    for out in outputs:
        if out.height is not None and out.height > tip:
            raise ProviderError("esplora: the chain moved during the scan")
        found[out.natural_id] = SeenPayment(
            natural_id=out.natural_id,
            address=address,
            amount=out.amount,
            confirmations=0 if out.height is None else tip - out.height + 1,
            block_height=out.height,
            block_hash=out.block_hash,
        )
    return list(found.values())
