"""Ethereum JSON-RPC for native ETH, found through balance history rather than transactions.

Exchanges often pay through contracts: an internal transfer carries no top-level transaction to
our address, so scanning transactions misses it, but the balance still rises. Invoice addresses are
fresh (nonce 0, balance 0 before the invoice), so an address's history is a step function of its
(nonce, balance) state over block heights, and we find the steps by bisection over historical
`eth_getTransactionCount` / `eth_getBalance` calls pinned to block numbers.

- Only the address itself can lower its balance, and only with a transaction that bumps its nonce
  (no EIP-7702 delegation on our addresses). So between two blocks with the same state nothing
  happened, and a sweep by the merchant never hides an earlier payment: the bisection stops at
  the sweep's block and counts only increases. A payment that lands in the very block in which the
  address itself sends is netted against that send.
- A payment is one balance increase: amount = the increase, block = where it first appears,
  confirmations = tip − block + 1. Pending transactions are invisible to balances.
- natural_id is the hash of the first transaction in that block sending value `to` the address,
  else f"{address}@{height}" (lowercase address) for internal transfers. A reorg that moves a
  top-level payment keeps its id with another block hash; an internal one gets a new id.
- Cache, in memory only: per address, its state and payments up to block tip − confirmations + 1
  (the anchor) under that block's hash. Each scan re-reads the anchor block's hash, which commits
  to the whole chain below it, and drops the anchor on any mismatch, so a reorg at any depth is
  re-derived from the chain.
- Without a usable anchor (first scan, restart, deep reorg) the search gallops back from the tip
  (tip − 1, − 2, − 4, …) to an empty state. That needs historical state that deep: an archive
  node, or a node whose state window covers the invoice's age.

Requests per cycle for N addresses: 1 `eth_blockNumber` + ceil((2N + 2) / 100) batches when nothing
changed (the lower bound; the 2 are the old and new anchor blocks). Without an anchor, a payment d
blocks deep adds about 2·log2(d) rounds; above the anchor, about log2(confirmations) rounds. All
addresses share each round, and one more round fetches the full blocks of the credits found.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from models.enums import Chain
from processing.chains.base import ProviderError
from processing.chains.http import Call, HttpClient, expect_shape, hex_int
from services.payments.seen import ChainSnapshot, SeenPayment


@dataclass(frozen=True, slots=True)
class _State:
    nonce: int
    balance: int


_EMPTY = _State(0, 0)


@dataclass(frozen=True, slots=True)
class _Credit:
    height: int
    block_hash: str
    natural_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class _Anchor:
    height: int
    block_hash: str
    state: _State
    credits: tuple[_Credit, ...]  # every credit at or below `height`


@dataclass(slots=True)
class _Track:
    states: dict[int, _State]  # known states by block height
    credits: list[_Credit] = field(default_factory=list)  # credits below the lowest known height


class EvmRpcBackend:
    chain = Chain.eth
    name = "evm-rpc"

    def __init__(self, url: str, confirmations: int, timeout: float) -> None:
        self._rpc = HttpClient(url, timeout)
        self._confirmations = max(confirmations, 1)
        self._anchors: dict[str, _Anchor] = {}  # by lowercase address

    async def watch(self, addresses: Sequence[str], *, rescan_recent: bool = False) -> None:
        """Nothing to do: balances of every address are public."""

    async def scan(self, addresses: Sequence[str]) -> ChainSnapshot:
        keys = list(dict.fromkeys(a.lower() for a in addresses))
        with expect_shape("eth_blockNumber"):
            tip = hex_int(await self._rpc.call("eth_blockNumber", []))
        settle = max(tip - self._confirmations + 1, 0)
        anchors = {k: self._anchors[k] for k in keys if k in self._anchors}
        states, blocks = await self._fetch([(k, tip) for k in keys], {settle, *(a.height for a in anchors.values())})
        settle_hash = _block_hash(blocks[settle], settle)
        tracks = {k: _Track({tip: states[k, tip]}) for k in keys}
        unanchored = dict(tracks)
        for k, anchor in anchors.items():
            block = blocks[anchor.height]
            if block is not None and _block_hash(block, anchor.height) == anchor.block_hash:
                tracks[k].states[anchor.height] = anchor.state
                tracks[k].credits = list(anchor.credits)
                del unanchored[k]
        await self._gallop(tip, unanchored)
        await self._bisect(tracks)
        await self._credit_steps(tracks)
        for k, track in tracks.items():
            self._remember(k, track, settle, settle_hash)
        return ChainSnapshot(
            tip_height=tip,
            payments={a: _payments(a, tracks[a.lower()].credits, tip) for a in addresses},
        )

    async def close(self) -> None:
        await self._rpc.close()

    async def _fetch(
        self, probes: Sequence[tuple[str, int]], heights: set[int] | None = None, *, full: bool = False
    ) -> tuple[dict[tuple[str, int], _State], dict[int, Any]]:
        """States of (address, height) probes and blocks by height, in one batched round."""
        wanted = sorted(heights or ())
        calls: list[Call] = []
        for address, height in probes:
            calls += [("eth_getTransactionCount", [address, hex(height)]), ("eth_getBalance", [address, hex(height)])]
        calls += [("eth_getBlockByNumber", [hex(h), full]) for h in wanted]
        results = await self._rpc.batch(calls)
        with expect_shape("eth_getBalance"):
            states = {
                probe: _State(hex_int(results[2 * i]), hex_int(results[2 * i + 1])) for i, probe in enumerate(probes)
            }
        return states, dict(zip(wanted, results[2 * len(probes) :], strict=True))

    async def _gallop(self, tip: int, tracks: dict[str, _Track]) -> None:
        """Probe ever further back until each address shows an empty state, or genesis."""
        pending = [k for k, t in tracks.items() if t.states[tip] != _EMPTY]
        step = 1
        while pending:
            height = max(tip - step, 0)
            states, _ = await self._fetch([(k, height) for k in pending])
            for k in pending:
                tracks[k].states[height] = states[k, height]
            pending = [k for k in pending if states[k, height] != _EMPTY and height > 0]
            step *= 2

    async def _bisect(self, tracks: dict[str, _Track]) -> None:
        """Split every gap whose two ends differ until each change sits between adjacent blocks."""
        while probes := [(k, (lo + hi) // 2) for k, t in tracks.items() for lo, hi in _gaps(t.states)]:
            states, _ = await self._fetch(probes)
            for (k, height), state in states.items():
                tracks[k].states[height] = state

    async def _credit_steps(self, tracks: dict[str, _Track]) -> None:
        """Turn each balance increase into a credit keyed by its block's transaction to us."""
        steps = {k: list(_increases(t.states)) for k, t in tracks.items()}
        heights = {height for found in steps.values() for height, _ in found}
        if not heights:
            return
        _, blocks = await self._fetch([], heights, full=True)
        for k, found in steps.items():
            for height, amount in found:
                block = blocks[height]
                natural_id = _paying_tx(block, k, height) or f"{k}@{height}"
                tracks[k].credits.append(_Credit(height, _block_hash(block, height), natural_id, amount))

    def _remember(self, key: str, track: _Track, settle: int, settle_hash: str) -> None:
        lowest = min(track.states)
        if lowest <= settle:
            state = track.states[max(h for h in track.states if h <= settle)]
        elif track.states[lowest] == _EMPTY:
            state = _EMPTY  # nothing happened up to `lowest`, so nothing up to `settle` either
        else:  # the tip fell below the old anchor: start over next time
            self._anchors.pop(key, None)
            return
        credits = tuple(c for c in track.credits if c.height <= settle)
        self._anchors[key] = _Anchor(settle, settle_hash, state, credits)


def _gaps(states: dict[int, _State]) -> Iterator[tuple[int, int]]:
    heights = sorted(states)
    for lo, hi in pairwise(heights):
        if hi - lo > 1 and states[lo] != states[hi]:
            yield lo, hi


def _increases(states: dict[int, _State]) -> Iterator[tuple[int, int]]:
    heights = sorted(states)
    for lo, hi in pairwise(heights):
        if hi - lo == 1 and states[hi].balance > states[lo].balance:
            yield hi, states[hi].balance - states[lo].balance


def _block_hash(block: Any, height: int) -> str:
    if block is None:
        raise ProviderError(f"eth_getBlockByNumber: no block {height}")
    with expect_shape("eth_getBlockByNumber"):
        return str(block["hash"]).lower()


def _paying_tx(block: Any, address: str, height: int) -> str | None:
    with expect_shape(f"eth_getBlockByNumber {height}"):
        for tx in block["transactions"]:
            if str(tx.get("to")).lower() == address and hex_int(tx["value"]) > 0:
                return str(tx["hash"]).lower()
    return None


def _payments(address: str, credits: list[_Credit], tip: int) -> list[SeenPayment]:
    return [
        SeenPayment(c.natural_id, address, c.amount, tip - c.height + 1, c.height, c.block_hash)
        for c in sorted(credits, key=lambda c: c.height)
    ]
