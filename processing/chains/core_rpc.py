"""Bitcoin Core / Litecoin Core JSON-RPC for BTC and LTC, through a watch-only wallet on the node.

Why a watch-only wallet and not `scantxoutset`: scantxoutset sees only *unspent, confirmed*
outputs. It misses the mempool, and a payment the merchant later spends from their own wallet
would vanish from it and look like a reorg. A wallet that watches our addresses keeps every
transaction that touched them: mempool entries at 0 confirmations, block hash and height once
mined, spent outputs still listed, and transactions that a reorg conflicted out dropped from
`listsinceblock` (older nodes show them with negative confirmations; we drop those too).

The wallet is created blank with private keys disabled (`createwallet name true true`). That is
a legacy wallet on litecoind 0.21 and Core before 23, where addresses go in with
`importaddress a "" false`, and a descriptor wallet on Core 23 and later (Core 30 has no legacy
wallets at all), where they go in as `addr(a)` descriptors with timestamp "now". Imports do not
rescan: the shop imports an invoice address before showing it, so nothing can have paid it earlier
(see `watch` for the catch-up after a failed import).

The URL is `http://user:pass@host:port[/wallet/name]`; without a wallet path the wallet is
"shop-watch". Per cycle `scan` sends ONE HTTP request, a batch of `listsinceblock`,
`getblockcount` and one `getaddressinfo` per address (plus, once per process and after a node
restart, `listwallets`/`loadwallet`/`getwalletinfo`). The last makes an address that the wallet
does not watch (watch() never ran, or the wallet was lost) an error instead of "nothing received".
`listsinceblock` lists the whole wallet, so the answer grows with the shop's history. A refund's address
(the buyer's own) is imported the same way; since the wallet sees only what happens after an import,
`since` needs nothing more here.

Known limit: a mempool transaction that is replaced or evicted stays listed at 0 confirmations
until its conflict is mined; it never reaches a confirmation depth.
"""

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

from yarl import URL

from models.enums import Chain
from processing.chains.base import ProviderError
from processing.chains.http import HttpClient, RpcError, expect_shape, json_int
from services.money import to_base_units
from services.payments.seen import ChainSnapshot, SeenPayment

_DEFAULT_WALLET = "shop-watch"
RESCAN_BLOCKS = 1000  # about 1.7 days of Litecoin, a week of Bitcoin
_WALLET_NOT_FOUND = -18  # RPC_WALLET_NOT_FOUND: not loaded, or no such wallet on disk


class CoreRpcBackend:
    name = "core-rpc"

    def __init__(self, chain: Chain, url: str, timeout: float) -> None:
        self.chain = chain
        parsed = URL(url)
        wallet = parsed.path.removeprefix("/wallet/") if parsed.path.startswith("/wallet/") else ""
        self._wallet = unquote(wallet) or _DEFAULT_WALLET
        self._wallet_path = f"/wallet/{quote(self._wallet, safe='')}"
        self._rpc = HttpClient(str(parsed.with_path("/")), timeout, jsonrpc="1.0")
        self._descriptors: bool | None = None  # None until the wallet is known to be loaded

    async def watch(self, addresses: Sequence[str], *, rescan_recent: bool = False) -> None:
        """Import the addresses the wallet does not watch yet, creating or loading it. Idempotent.

        An import sees only what happens after it. The shop imports an invoice's address before the
        buyer is shown it; when that failed (node down) the observer imports it later with
        rescan_recent, and the last RESCAN_BLOCKS blocks are searched for payments made meanwhile.
        A transaction still in the mempool at that moment shows up once it is mined.
        """
        descriptors = await self._ensure_wallet()
        infos = await self._wallet_batch([("getaddressinfo", [a]) for a in addresses]) if addresses else []
        with expect_shape("getaddressinfo"):
            addresses = [a for a, i in zip(addresses, infos, strict=True) if not _watched(i)]
        if not addresses:
            return
        if not descriptors:
            await self._wallet_batch([("importaddress", [a, "", False]) for a in addresses])
        else:
            await self._import_descriptors(addresses)
        if rescan_recent:
            tip = await self.tip_height()
            await self._wallet_call("rescanblockchain", [max(0, tip - RESCAN_BLOCKS)])

    async def _import_descriptors(self, addresses: Sequence[str]) -> None:
        infos = await self._rpc.batch([("getdescriptorinfo", [f"addr({a})"]) for a in addresses])
        with expect_shape("getdescriptorinfo"):
            requests = [{"desc": i["descriptor"], "timestamp": "now", "label": ""} for i in infos]
        results = await self._wallet_call("importdescriptors", [requests])
        with expect_shape("importdescriptors"):
            failed = [r.get("error", {}).get("message", "?") for r in results if r["success"] is not True]
        if failed:
            raise ProviderError(f"importdescriptors failed: {failed[0]}")

    async def scan(self, addresses: Sequence[str], *, since: Mapping[str, int] | None = None) -> ChainSnapshot:
        await self._ensure_wallet()  # a no-op once loaded; reloads it after a node restart
        calls: list[tuple[str, list[Any]]] = [("listsinceblock", []), ("getblockcount", [])]
        calls += [("getaddressinfo", [a]) for a in addresses]
        listed, tip, *infos = await self._wallet_batch(calls)
        with expect_shape("getaddressinfo"):
            unwatched = [a for a, i in zip(addresses, infos, strict=True) if not _watched(i)]
        if unwatched:
            raise ProviderError(f"wallet {self._wallet} does not watch {unwatched[0]}; run watch()")
        payments: dict[str, dict[str, SeenPayment]] = {a: {} for a in addresses}
        with expect_shape("listsinceblock"):
            tip_height = json_int(tip)
            for entry in listed["transactions"]:
                payment = _received(self.chain, entry)
                if payment is not None and payment.address in payments:
                    payments[payment.address][payment.natural_id] = payment
        return ChainSnapshot(tip_height, {a: list(p.values()) for a, p in payments.items()})

    async def tip_height(self) -> int:
        tip = await self._rpc.call("getblockcount", [])
        with expect_shape("getblockcount"):
            return json_int(tip)

    async def close(self) -> None:
        await self._rpc.close()

    async def _ensure_wallet(self) -> bool:
        """Load or create the watch-only wallet; return whether it is a descriptor wallet."""
        if self._descriptors is None:
            loaded = await self._rpc.call("listwallets", [])
            if not isinstance(loaded, list):
                raise ProviderError("listwallets: not a list")
            if self._wallet not in loaded:
                try:
                    await self._rpc.call("loadwallet", [self._wallet])
                except RpcError as e:
                    if e.code != _WALLET_NOT_FOUND:
                        raise
                    await self._rpc.call("createwallet", [self._wallet, True, True])
            info = await self._wallet_call("getwalletinfo", [])
            with expect_shape("getwalletinfo"):
                # "descriptors" exists since 0.21; "format" tells bdb (legacy) from sqlite otherwise
                self._descriptors = bool(info.get("descriptors", info.get("format") == "sqlite"))
        return self._descriptors

    async def _wallet_call(self, method: str, params: list[Any]) -> Any:
        return (await self._wallet_batch([(method, params)]))[0]

    async def _wallet_batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        try:
            return await self._rpc.batch(calls, path=self._wallet_path)
        except RpcError as e:
            if e.code == _WALLET_NOT_FOUND:
                self._descriptors = None  # the node restarted without our wallet: load it next time
            raise


def _watched(info: Any) -> bool:
    return info["ismine"] is True or info.get("iswatchonly") is True


def _received(chain: Chain, entry: Any) -> SeenPayment | None:
    """A payment from a `listsinceblock` entry; None for sends, coinbase and conflicted entries."""
    confirmations = json_int(entry["confirmations"])
    if entry["category"] != "receive" or confirmations < 0:
        return None
    amount = to_base_units(chain, entry["amount"])  # a Decimal: the client parses JSON with parse_float=Decimal
    if amount <= 0:
        raise ValueError("amount is not positive")
    mined = confirmations > 0
    return SeenPayment(
        natural_id=f"{entry['txid']}:{json_int(entry['vout'])}",
        address=str(entry["address"]),
        amount=amount,
        confirmations=confirmations,
        block_height=json_int(entry["blockheight"]) if mined else None,
        block_hash=str(entry["blockhash"]) if mined else None,
    )
