"""An Esplora REST double (Blockstream / mempool.space / litecoinspace) with a chain the test mutates.

    esplora = EsploraDouble(style="mempool")  # or "blockstream": how /address/{a}/txs pages
    url = await esplora.start()
    txid = esplora.pay(address, 150_000)      # into the mempool
    esplora.mine()                             # into a new block
    esplora.reorg(1, then="drop")              # the block is replaced; the payment is gone
    esplora.fault = Fault.rate_limited         # see tests.doubles.Fault

Wire format as in shared/WIRE-FORMATS.md: the tip height is plain text, amounts are satoshi
integers, `status` holds `block_height` / `block_hash` and there is no confirmations field.
History is newest first, mempool before confirmed (electrs itself lists its mempool part in arrival
order, oldest first; newest first is the harder case for a client, whose payment arrived before the
dust that follows it). Where the wire formats are silent, the double does
what the electrs sources do (Blockstream/electrs and mempool/electrs, src/rest.rs):

- `/address/{a}/txs`: "blockstream" answers up to 50 mempool plus 25 confirmed transactions and ignores
  the query string; "mempool" answers at most 50 in all, mempool first, and pages on with
  `?after_txid=` (through the mempool, then the chain; an unknown txid is HTTP 422).
- both styles: `/address/{a}/txs/mempool` lists up to 50 mempool transactions, with no paging;
  `/address/{a}/txs/chain[/{last_txid}]` lists `chain_page` (25) confirmed ones after `last_txid`; a
  last_txid that is not in the history gives an empty page, one that is not a txid the first page;
  `/address/{a}/utxo` is HTTP 400 past UTXO_LIMIT unspent outputs.
"""

import hashlib
import itertools
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from tests.doubles import FaultyServer

MEMPOOL_PAGE = 50  # mempool transactions in /txs/mempool; mempool/electrs: all transactions in /txs
CHAIN_PAGE = 25
UTXO_LIMIT = 500  # electrs --utxos-limit
_TOO_MANY_UTXOS = {
    "blockstream": "Too many history entries",
    "mempool": f"Too many unspent transaction outputs (>{UTXO_LIMIT}). Contact support to raise limits.",
}
_TXID = re.compile("[0-9a-fA-F]{64}")
Style = Literal["blockstream", "mempool"]
_GENESIS_TIME = 1_700_000_000


@dataclass
class _Tx:
    txid: str
    vin: list[dict[str, Any]]
    vout: list[dict[str, Any]]


def _script(address: str) -> dict[str, Any]:
    program = hashlib.sha256(address.encode()).hexdigest()[:40]
    return {
        "scriptpubkey": f"0014{program}",
        "scriptpubkey_asm": f"OP_0 OP_PUSHBYTES_20 {program}",
        "scriptpubkey_type": "v0_p2wpkh",
        "scriptpubkey_address": address,
    }


class EsploraDouble(FaultyServer):
    def __init__(self, height: int = 100, style: Style = "mempool") -> None:
        super().__init__()
        self.style = style
        self.chain_page = CHAIN_PAGE  # mempool/electrs: --rest-default-chain-txs-per-page
        self.chain: list[str] = [secrets.token_hex(32) for _ in range(height + 1)]  # block hashes
        self.block_txs: dict[str, list[str]] = {h: [] for h in self.chain}
        self.mempool: list[str] = []
        self.txs: dict[str, _Tx] = {}
        self._funders = (f"bcrt1qfunder{i:030d}" for i in itertools.count())

    @property
    def tip(self) -> int:
        return len(self.chain) - 1

    # --- what the test does to the chain ---

    def pay(self, address: str, value: int) -> str:
        """A transaction paying `value` to `address` (as output 1, after change) into the mempool."""
        funder = next(self._funders)
        prevout = {**_script(funder), "value": value + 50_000 + 1_000}
        vin = [{"txid": secrets.token_hex(32), "vout": 0, "prevout": prevout}]
        vout = [{**_script(funder), "value": 50_000}, {**_script(address), "value": value}]
        return self._add(_Tx(secrets.token_hex(32), vin, vout))

    def spend(self, txid: str, vout: int, to_address: str) -> str:
        """The owner spends output `txid:vout` to `to_address` (into the mempool)."""
        prevout = self.txs[txid].vout[vout]
        out = {**_script(to_address), "value": prevout["value"] - 1_000}
        return self._add(_Tx(secrets.token_hex(32), [{"txid": txid, "vout": vout, "prevout": prevout}], [out]))

    def mine(self, n: int = 1, *, take_mempool: bool = True) -> list[str]:
        """Append `n` blocks; the first takes the whole mempool unless told otherwise."""
        hashes = [secrets.token_hex(32) for _ in range(n)]
        for block_hash in hashes:
            self.chain.append(block_hash)
            self.block_txs[block_hash] = []
        if take_mempool and hashes:
            self.block_txs[hashes[0]], self.mempool = self.mempool, []
        return hashes

    def reorg(self, depth: int, then: Literal["remine", "mempool", "drop"] = "remine") -> None:
        """Replace the last `depth` blocks by as many new ones. Their transactions are mined again in
        the first new block, go back to the mempool, or vanish (a double spend won)."""
        removed = [t for h in self.chain[-depth:] for t in self.block_txs[h]]
        del self.chain[-depth:]
        first = self.mine(depth, take_mempool=False)[0]
        if then == "remine":
            self.block_txs[first] = removed
        elif then == "mempool":
            self.mempool = removed + self.mempool
        else:
            for txid in removed:
                del self.txs[txid]

    def set_tip(self, height: int) -> None:
        """Grow the chain with empty blocks, or cut it back (cut transactions return to the mempool)."""
        if height > self.tip:
            self.mine(height - self.tip, take_mempool=False)
        while self.tip > height:
            self.mempool = self.block_txs[self.chain.pop()] + self.mempool

    # --- what the server answers ---

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/blocks/tip/height", self._tip_height)
        app.router.add_get("/block-height/{height}", self._block_height)
        app.router.add_get("/tx/{txid}/status", self._tx_status)
        app.router.add_get("/address/{address}", self._address)
        app.router.add_get("/address/{address}/utxo", self._utxo)
        app.router.add_get("/address/{address}/txs", self._txs)
        app.router.add_get("/address/{address}/txs/mempool", self._txs_mempool)
        app.router.add_get("/address/{address}/txs/chain", self._txs_chain)
        app.router.add_get("/address/{address}/txs/chain/{last}", self._txs_chain)

    def _add(self, tx: _Tx) -> str:
        self.txs[tx.txid] = tx
        self.mempool.append(tx.txid)
        return tx.txid

    def _status(self, txid: str) -> dict[str, Any]:
        for height, block_hash in enumerate(self.chain):
            if txid in self.block_txs[block_hash]:
                return {
                    "confirmed": True,
                    "block_height": height,
                    "block_hash": block_hash,
                    "block_time": _GENESIS_TIME + 600 * height,
                }
        return {"confirmed": False}

    def _json(self, txid: str) -> dict[str, Any]:
        tx = self.txs[txid]
        vin = [{**i, "scriptsig": "", "witness": ["00"], "is_coinbase": False, "sequence": 0xFFFFFFFD} for i in tx.vin]
        fee = sum(i["prevout"]["value"] for i in tx.vin) - sum(o["value"] for o in tx.vout)
        return {
            "txid": txid,
            "version": 2,
            "locktime": 0,
            "vin": vin,
            "vout": tx.vout,
            "size": 222,
            "weight": 561,
            "fee": fee,
            "status": self._status(txid),
        }

    def _touches(self, txid: str, address: str) -> bool:
        tx = self.txs[txid]
        outs = [o["scriptpubkey_address"] for o in tx.vout] + [i["prevout"]["scriptpubkey_address"] for i in tx.vin]
        return address in outs

    def _history(self, address: str) -> tuple[list[str], list[str]]:
        """(mempool, confirmed) txids touching `address`, newest first."""
        mempool = [t for t in reversed(self.mempool) if self._touches(t, address)]
        confirmed = [t for h in reversed(self.chain) for t in reversed(self.block_txs[h]) if self._touches(t, address)]
        return mempool, confirmed

    async def _tip_height(self, request: web.Request) -> web.Response:
        return web.Response(text=str(self.tip))

    async def _block_height(self, request: web.Request) -> web.Response:
        height = int(request.match_info["height"])
        if height > self.tip:
            return web.Response(status=404, text="Block not found")
        return web.Response(text=self.chain[height])

    async def _tx_status(self, request: web.Request) -> web.Response:
        txid = request.match_info["txid"]
        if txid not in self.txs:
            return web.Response(status=404, text="Transaction not found")
        return web.json_response(self._status(txid))

    async def _address(self, request: web.Request) -> web.Response:
        address = request.match_info["address"]
        mempool, confirmed = ([], []) if self.lying(request) else self._history(address)
        return web.json_response(
            {
                "address": address,
                "chain_stats": self._stats(confirmed, address),
                "mempool_stats": self._stats(mempool, address),
            }
        )

    def _stats(self, txids: list[str], address: str) -> dict[str, int]:
        funded = [o["value"] for t in txids for o in self.txs[t].vout if o["scriptpubkey_address"] == address]
        spent = [
            i["prevout"]["value"]
            for t in txids
            for i in self.txs[t].vin
            if i["prevout"]["scriptpubkey_address"] == address
        ]
        return {
            "funded_txo_count": len(funded),
            "funded_txo_sum": sum(funded),
            "spent_txo_count": len(spent),
            "spent_txo_sum": sum(spent),
            "tx_count": len(txids),
        }

    async def _utxo(self, request: web.Request) -> web.Response:
        address = request.match_info["address"]
        if self.lying(request):
            return web.json_response([])
        mempool, confirmed = self._history(address)
        live = mempool + confirmed
        spent = {(i["txid"], i["vout"]) for t in live for i in self.txs[t].vin}
        unspent = [
            {"txid": t, "vout": n, "value": o["value"], "status": self._status(t)}
            for t in live
            for n, o in enumerate(self.txs[t].vout)
            if o["scriptpubkey_address"] == address and (t, n) not in spent
        ]
        if len(unspent) > UTXO_LIMIT:
            return web.Response(status=400, text=_TOO_MANY_UTXOS[self.style])
        return web.json_response(unspent)

    async def _txs(self, request: web.Request) -> web.Response:
        if self.lying(request):
            return web.json_response([])
        mempool, confirmed = self._history(request.match_info["address"])
        if self.style == "blockstream":
            return self._answer(mempool[:MEMPOOL_PAGE] + confirmed[:CHAIN_PAGE])
        after = request.query.get("after_txid")
        if after in mempool:
            mempool = mempool[mempool.index(after) + 1 :]
        elif after in confirmed:
            mempool, confirmed = [], confirmed[confirmed.index(after) + 1 :]
        elif after is not None:
            return web.Response(status=422, text="after_txid not found")
        return self._answer((mempool + confirmed)[:MEMPOOL_PAGE])

    async def _txs_mempool(self, request: web.Request) -> web.Response:
        if self.lying(request):
            return web.json_response([])
        mempool, _ = self._history(request.match_info["address"])
        return self._answer(mempool[:MEMPOOL_PAGE])

    async def _txs_chain(self, request: web.Request) -> web.Response:
        if self.lying(request):
            return web.json_response([])
        _, confirmed = self._history(request.match_info["address"])
        last = request.match_info.get("last", "")
        if _TXID.fullmatch(last):  # electrs skips to the txid; one it never finds leaves nothing
            confirmed = confirmed[confirmed.index(last) + 1 :] if last in confirmed else []
        return self._answer(confirmed[: self.chain_page])

    def _answer(self, txids: list[str]) -> web.Response:
        return web.json_response([self._json(t) for t in txids])
