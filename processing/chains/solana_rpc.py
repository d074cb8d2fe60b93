"""Solana JSON-RPC for native SOL, from each address's signature history (SPL tokens: spl_token.py, which
shares SignatureHistory).

Per address `getSignaturesForAddress` (newest first, 1,000 a page), then `getTransaction` for every
successful signature: the credit is postBalances[i] − preBalances[i] where account key i is our
address, counting only increases. Account keys are the message's static keys (plain strings in the
json encoding, objects with `pubkey` in jsonParsed) followed by the keys a v0 transaction loads
from lookup tables (`meta.loadedAddresses.writable`, then `readonly`), the order of the balances.

- natural_id f"{signature}:{address}"; block_height is the slot; block_hash is None, because a
  transaction does not name its block (its recentBlockhash is a different block).
- confirmations is 1 once the signature's confirmationStatus reaches the backend's commitment,
  else 0. Only "confirmed" and "finalized" exist here: `processed` is refused by the RPC.
- A finalized transaction never changes, so its decoded credits are cached in memory; everything
  else is read from the chain on every scan, so a dropped fork shows up as a missing payment.
- No getMultipleAccounts shortcut: an account the merchant swept to zero is closed and reads as
  null, yet its payments must still be reported.

With `since` for an address (a refund to a buyer's wallet, whose history may be long), signatures in
slots at or below it are neither paged through nor fetched.

Requests per cycle for N addresses: ceil((N + 1) / 100) batches (getSlot + signatures; the lower
bound), one more page round per 1,000 signatures, and ceil(U / 100) batches for U uncached txs.
A provider that answers an empty signature list during an outage cannot be told from an unpaid
address; errors and garbage always raise.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from models.enums import Chain
from processing.chains.base import ProviderError
from processing.chains.http import Call, HttpClient, expect_shape, json_int
from services.payments.seen import ChainSnapshot, SeenPayment

_PAGE = 1000  # the most getSignaturesForAddress returns per call
_RANK = {"confirmed": 1, "finalized": 2}
Credits = TypeVar("Credits")


@dataclass(frozen=True, slots=True)
class Signature:
    signature: str
    slot: int
    ok: bool  # err is null
    status: str | None  # confirmationStatus


class SignatureHistory(Generic[Credits]):
    """What the SOL and SPL backends share: each account's successful signatures (getSignaturesForAddress,
    paged), and each signature's transaction decoded into credits, read once and cached in memory once
    finalized (a finalized transaction never changes; anything else is read again, so a dropped fork shows
    up as a missing payment)."""

    def __init__(self, url: str, commitment: str, timeout: float, decode: Callable[[Any], Credits]) -> None:
        if commitment not in _RANK:
            raise ValueError("commitment must be 'confirmed' or 'finalized'")
        self.rpc = HttpClient(url, timeout)
        self.commitment = commitment
        self._decode = decode
        self._finalized: dict[str, Credits] = {}

    async def read(
        self, accounts: Sequence[str], since: Mapping[str, int] | None = None
    ) -> tuple[int, dict[str, list[Signature]], dict[str, Credits]]:
        """The slot at the commitment, each account's successful signatures (above its slot in `since`, if
        any), and each signature's credits. Raises ProviderError."""
        opts = {"commitment": self.commitment}
        calls: list[Call] = [("getSlot", [opts])]
        calls += [("getSignaturesForAddress", [a, {"limit": _PAGE, **opts}]) for a in accounts]
        slot, *pages = await self.rpc.batch(calls)
        with expect_shape("getSlot"):
            tip = json_int(slot)
        floors = since or {}
        history = {
            a: await self._rest_of(a, _signatures(page), floors.get(a, -1))
            for a, page in zip(accounts, pages, strict=True)
        }
        return tip, history, await self._credits([s for sigs in history.values() for s in sigs])

    async def tip(self) -> int:
        """The slot at the commitment. Raises ProviderError."""
        slot = await self.rpc.call("getSlot", [{"commitment": self.commitment}])
        with expect_shape("getSlot"):
            return json_int(slot)

    def reached(self, signature: Signature) -> int:
        """1 once the signature's status reaches the commitment, else 0 (Solana has finality, not depth)."""
        return int(_RANK.get(signature.status or "", 0) >= _RANK[self.commitment])

    async def _rest_of(self, address: str, page: list[Signature], since: int) -> list[Signature]:
        """Page on with `before` while full pages come back and reach above slot `since` (newest first);
        keep successful signatures above it only."""
        signatures = list(page)
        while len(page) == _PAGE and page[-1].slot > since:
            params = {"limit": _PAGE, "before": page[-1].signature, "commitment": self.commitment}
            page = _signatures(await self.rpc.call("getSignaturesForAddress", [address, params]))
            signatures += page
        return [s for s in signatures if s.ok and s.slot > since]

    async def _credits(self, signatures: list[Signature]) -> dict[str, Credits]:
        """Each signature's decoded transaction; finalized ones are cached."""
        credits = {s.signature: self._finalized[s.signature] for s in signatures if s.signature in self._finalized}
        missing = sorted({s.signature for s in signatures} - credits.keys())
        opts = {"commitment": self.commitment, "maxSupportedTransactionVersion": 0, "encoding": "json"}
        txs = await self.rpc.batch([("getTransaction", [sig, opts]) for sig in missing])
        for sig, tx in zip(missing, txs, strict=True):
            if tx is None:
                raise ProviderError(f"getTransaction {sig}: not found at {self.commitment}")
            with expect_shape("getTransaction"):
                credits[sig] = self._decode(tx)
        self._finalized.update((s.signature, credits[s.signature]) for s in signatures if s.status == "finalized")
        return credits


class SolanaRpcBackend:
    chain = Chain.sol
    name = "solana-rpc"

    def __init__(self, url: str, commitment: str = "finalized", timeout: float = 10.0) -> None:
        self._history = SignatureHistory(url, commitment, timeout, _balance_increases)

    async def watch(self, addresses: Sequence[str], *, rescan_recent: bool = False) -> None:
        """Nothing to do: every account's history is public."""

    async def scan(self, addresses: Sequence[str], *, since: Mapping[str, int] | None = None) -> ChainSnapshot:
        tip, history, credits = await self._history.read(addresses, since)
        return ChainSnapshot(
            tip_height=tip,
            payments={a: self._payments(a, sigs, credits) for a, sigs in history.items()},
        )

    async def tip_height(self) -> int:
        return await self._history.tip()

    async def close(self) -> None:
        await self._history.rpc.close()

    def _payments(
        self, address: str, signatures: list[Signature], credits: dict[str, dict[str, int]]
    ) -> list[SeenPayment]:
        found: dict[str, SeenPayment] = {}
        for s in signatures:
            amount = credits[s.signature].get(address, 0)
            if amount > 0:
                natural_id = f"{s.signature}:{address}"
                found[natural_id] = SeenPayment(natural_id, address, amount, self._history.reached(s), s.slot, None)
        return list(found.values())


def _signatures(page: Any) -> list[Signature]:
    with expect_shape("getSignaturesForAddress"):
        return [
            Signature(str(s["signature"]), json_int(s["slot"]), s["err"] is None, s.get("confirmationStatus"))
            for s in page
        ]


def account_keys(tx: Any) -> list[str]:
    """The transaction's accounts in the order of its balances: the message's static keys (strings in the json
    encoding, objects with `pubkey` in jsonParsed), then the keys a v0 transaction loads from lookup tables."""
    keys = [k if isinstance(k, str) else k["pubkey"] for k in tx["transaction"]["message"]["accountKeys"]]
    loaded = tx["meta"].get("loadedAddresses") or {}
    return [*keys, *loaded.get("writable", []), *loaded.get("readonly", [])]


def _balance_increases(tx: Any) -> dict[str, int]:
    """Lamports gained by each account in a successful transaction."""
    meta = tx["meta"]
    if meta["err"] is not None:
        return {}
    keys = account_keys(tx)
    pre = [json_int(v) for v in meta["preBalances"]]
    post = [json_int(v) for v in meta["postBalances"]]
    if not len(keys) == len(pre) == len(post):
        raise ValueError("balances do not match the account keys")
    return {k: after - before for k, before, after in zip(keys, pre, post, strict=True) if after > before}
