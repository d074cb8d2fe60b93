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
- Each block in which the balance rose is split into credits. Every top-level transaction in it
  that sends value `to` the address is a credit of its own: natural_id its hash, amount its value
  (a value transfer to an address without code cannot fail once mined). What those leave of the
  increase came from internal transfers: one more credit, f"{address}@{height}" (lowercase
  address). So a reorg that splits a block's payments over two blocks, or merges two blocks'
  payments into one, moves transaction credits without changing their ids or amounts, and no part
  of an increase is counted twice. An internal credit that a reorg moves to another height gets a
  new id: the old one counts until the observer has missed it three times (no stable id exists
  without traces). In a block where the address itself sent (a sweep), payments and the send with
  its fee cannot be told apart without receipts: the net increase is one credit under the first
  paying transaction's hash (else the `@` id), and a reorg may change its amount.
- block = where a credit appears, confirmations = tip − block + 1. Pending transactions are
  invisible to balances. With a block tag as depth ("safe", "finalized"), a credit shows 0
  confirmations until its block is at or below the node's block of that tag; then its count.
- Cache, in memory only: per address, its state and payments up to the block at depth (the anchor:
  tip − confirmations + 1, or the tagged block) under that block's hash. Each scan re-reads the
  anchor block's hash, which commits to the whole chain below it, and drops the anchor on any
  mismatch, so a reorg at any depth is re-derived from the chain.
- Without a usable anchor (first scan, restart, deep reorg) the search gallops back from the tip
  (tip − 1, − 2, − 4, …) to an empty state. That needs historical state that deep: an archive
  node, or a node whose state window covers the invoice's age. When the node refuses an older
  state ("missing trie node" and its kin, see _NO_HISTORY), only that address is left out of the
  snapshot, which means "unknown" for it; the other addresses are still answered.

A refund goes to the buyer's own address, which is not fresh: its history may be long, and only what
arrives after the refund was asked for matters. With `since` for an address, its state at that height
takes the place of the empty state the gallop would look for, so nothing older is read; anchors remember
the height they were derived from and serve only scans that look no further back.

Requests per cycle for N addresses: 1 `eth_blockNumber` (with a tag, a batch that also reads the
tagged block) + ceil((2N + 2) / 100) batches when nothing changed (the lower bound; the 2 are the
old and new anchor blocks). Without an anchor, a payment d blocks deep adds about 2·log2(d) rounds;
above the anchor, about log2(confirmations) rounds. All addresses share each round, and one more
round fetches the full blocks of the credits found.
"""

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from config import BlockTag
from models.enums import Chain
from processing.chains.base import ProviderError
from processing.chains.http import Call, HttpClient, RpcError, expect_shape, hex_int
from services.payments.seen import ChainSnapshot, SeenPayment

log = logging.getLogger(__name__)
# How nodes and providers refuse a state they no longer keep: geth and its forks ("missing trie node",
# "historical state … is not available", "header not found"), Besu ("world state unavailable"), reth
# ("… is pruned"), providers without archive access, anvil --prune-history ("BlockOutOfRangeError").
_NO_HISTORY = re.compile(
    r"missing trie node|state\b.*\b(?:not available|unavailable)|header not found|pruned|archive|BlockOutOfRange",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _State:
    nonce: int
    balance: int


_EMPTY = _State(0, 0)
_WHOLE_HISTORY = -1  # the floor of an address without one: credits are searched from its empty state


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
    credits: tuple[_Credit, ...]  # every credit at or below `height` (and above `floor`)
    floor: int  # the height the credits were searched from; -1: the address's whole history


@dataclass(slots=True)
class _Track:
    states: dict[int, _State]  # known states by block height
    credits: list[_Credit] = field(default_factory=list)  # credits below the lowest known height
    refused: bool = False  # the node would not show a state this scan needed: the address is unknown

    def learn(self, height: int, state: _State | None) -> None:
        if state is None:
            self.refused = True
        else:
            self.states[height] = state


class EvmRpcBackend:
    chain = Chain.eth
    name = "evm-rpc"

    def __init__(self, url: str, depth: int | BlockTag, timeout: float) -> None:
        """depth: confirmations from the tip, or the tag of the block at or below which a payment counts."""
        self._rpc = HttpClient(url, timeout)
        self._depth = depth if isinstance(depth, str) else max(depth, 1)
        self._anchors: dict[str, _Anchor] = {}  # by lowercase address

    async def watch(self, addresses: Sequence[str], *, rescan_recent: bool = False) -> None:
        """Nothing to do: balances of every address are public."""

    async def scan(self, addresses: Sequence[str], *, since: Mapping[str, int] | None = None) -> ChainSnapshot:
        keys = list(dict.fromkeys(a.lower() for a in addresses))
        floors: dict[str, int] = {}
        for address, height in (since or {}).items():
            floors[address.lower()] = min(height, floors.get(address.lower(), height))
        tip, settle = await self._heights()
        anchors = {
            k: anchor
            for k in keys
            if (anchor := self._anchors.get(k)) is not None and anchor.floor <= floors.get(k, _WHOLE_HISTORY)
        }
        states, blocks = await self._fetch([(k, tip) for k in keys], {settle, *(a.height for a in anchors.values())})
        if None in states.values():
            raise ProviderError(f"eth_getBalance: the node has no state at its own tip {tip}")
        settle_hash = _block_hash(blocks[settle], settle)
        tracks = {k: _Track({tip: state}) for (k, _), state in states.items() if state is not None}
        unanchored = dict(tracks)
        for k, anchor in anchors.items():
            block = blocks[anchor.height]
            if block is not None and _block_hash(block, anchor.height) == anchor.block_hash:
                tracks[k].states[anchor.height] = anchor.state
                tracks[k].credits = list(anchor.credits)
                del unanchored[k]
        await self._gallop(tip, unanchored, floors)
        await self._bisect(tracks)
        await self._credit_steps(tracks)
        for k, track in tracks.items():
            if track.refused:  # an older anchor stays: it is checked against the chain before any use
                log.warning("eth: the node has no state old enough to scan %s; it stays unknown (archive node?)", k)
            else:
                self._remember(k, track, settle, settle_hash, floors.get(k, _WHOLE_HISTORY))
        settled = settle if isinstance(self._depth, str) else tip  # a count: every credit shows its depth
        payments = {a: _payments(a, tracks[a.lower()].credits, tip, settled) for a in addresses}
        return ChainSnapshot(tip, {a: seen for a, seen in payments.items() if not tracks[a.lower()].refused})

    async def tip_height(self) -> int:
        return (await self._heights())[0]

    async def close(self) -> None:
        await self._rpc.close()

    async def _heights(self) -> tuple[int, int]:
        """The tip, and the highest block at depth: where a payment counts."""
        if isinstance(self._depth, int):
            with expect_shape("eth_blockNumber"):
                tip = hex_int(await self._rpc.call("eth_blockNumber", []))
            return tip, max(tip - self._depth + 1, 0)
        number, tagged = await self._rpc.batch(
            [("eth_blockNumber", []), ("eth_getBlockByNumber", [self._depth, False])]
        )
        with expect_shape(f"eth_getBlockByNumber {self._depth}"):
            tip = hex_int(number)
            return tip, min(hex_int(tagged["number"]), tip)

    async def _fetch(
        self, probes: Sequence[tuple[str, int]], heights: set[int] | None = None, *, full: bool = False
    ) -> tuple[dict[tuple[str, int], _State | None], dict[int, Any]]:
        """States of (address, height) probes and blocks by height, in one batched round. A probe's state is
        None when the node refuses it for want of history; any other error fails the round."""
        wanted = sorted(heights or ())
        calls: list[Call] = []
        for address, height in probes:
            calls += [("eth_getTransactionCount", [address, hex(height)]), ("eth_getBalance", [address, hex(height)])]
        calls += [("eth_getBlockByNumber", [hex(h), full]) for h in wanted]
        results = await self._rpc.batch_each(calls)
        for result in results:
            if isinstance(result, RpcError) and not _NO_HISTORY.search(result.message):
                raise result
        states: dict[tuple[str, int], _State | None] = {}
        with expect_shape("eth_getBalance"):
            for i, probe in enumerate(probes):
                nonce, balance = results[2 * i], results[2 * i + 1]
                refused = isinstance(nonce, RpcError) or isinstance(balance, RpcError)
                states[probe] = None if refused else _State(hex_int(nonce), hex_int(balance))
        blocks = results[2 * len(probes) :]
        if refused_block := next((b for b in blocks if isinstance(b, RpcError)), None):
            raise refused_block  # headers and bodies are kept by every node: this one is failing
        return states, dict(zip(wanted, blocks, strict=True))

    async def _gallop(self, tip: int, tracks: dict[str, _Track], floors: Mapping[str, int]) -> None:
        """Probe ever further back until each address shows an empty state, or genesis; an address with a
        floor only at its floor, below which nothing matters."""
        floored = {k: min(floors[k], tip) for k in tracks if k in floors}
        if floored:
            states, _ = await self._fetch(list(floored.items()))
            for k, height in floored.items():
                tracks[k].learn(height, states[k, height])
        pending = [k for k, t in tracks.items() if k not in floored and t.states[tip] != _EMPTY]
        step = 1
        while pending:
            height = max(tip - step, 0)
            states, _ = await self._fetch([(k, height) for k in pending])
            for k in pending:
                tracks[k].learn(height, states[k, height])
            pending = [k for k in pending if not tracks[k].refused and states[k, height] != _EMPTY and height > 0]
            step *= 2

    async def _bisect(self, tracks: dict[str, _Track]) -> None:
        """Split every gap whose two ends differ until each change sits between adjacent blocks."""
        while probes := [(k, (lo + hi) // 2) for k, t in tracks.items() if not t.refused for lo, hi in _gaps(t.states)]:
            states, _ = await self._fetch(probes)
            for (k, height), state in states.items():
                tracks[k].learn(height, state)

    async def _credit_steps(self, tracks: dict[str, _Track]) -> None:
        """Turn each balance increase into credits: one per transaction paying us, and the rest (see above)."""
        steps = {k: list(_increases(t.states)) for k, t in tracks.items() if not t.refused}
        heights = {height for found in steps.values() for height, _, _ in found}
        if not heights:
            return
        _, blocks = await self._fetch([], heights, full=True)
        for k, found in steps.items():
            for height, increase, sent in found:
                tracks[k].credits += _credits(blocks[height], k, height, increase, sent)

    def _remember(self, key: str, track: _Track, settle: int, settle_hash: str, floor: int) -> None:
        lowest = min(track.states)
        if lowest <= settle:
            state = track.states[max(h for h in track.states if h <= settle)]
        elif track.states[lowest] == _EMPTY:
            state = _EMPTY  # nothing happened up to `lowest`, so nothing up to `settle` either
        else:  # the tip fell below the old anchor: start over next time
            self._anchors.pop(key, None)
            return
        credits = tuple(c for c in track.credits if c.height <= settle)
        self._anchors[key] = _Anchor(settle, settle_hash, state, credits, floor)


def _gaps(states: dict[int, _State]) -> Iterator[tuple[int, int]]:
    heights = sorted(states)
    for lo, hi in pairwise(heights):
        if hi - lo > 1 and states[lo] != states[hi]:
            yield lo, hi


def _increases(states: dict[int, _State]) -> Iterator[tuple[int, int, bool]]:
    """(height, increase, whether the address itself sent in that block) of each block where the balance rose."""
    heights = sorted(states)
    for lo, hi in pairwise(heights):
        if hi - lo == 1 and states[hi].balance > states[lo].balance:
            yield hi, states[hi].balance - states[lo].balance, states[hi].nonce != states[lo].nonce


def _block_hash(block: Any, height: int) -> str:
    if block is None:
        raise ProviderError(f"eth_getBlockByNumber: no block {height}")
    with expect_shape("eth_getBlockByNumber"):
        return str(block["hash"]).lower()


def _credits(block: Any, address: str, height: int, increase: int, sent: bool) -> list[_Credit]:
    """The credits of one block's balance increase (see the module's docstring)."""
    block_hash = _block_hash(block, height)
    paying = _paying_txs(block, address, height)
    internal = increase - sum(value for _, value in paying)
    if sent or internal < 0:  # netted against the address's own send: one credit for what is left
        return [_Credit(height, block_hash, paying[0][0] if paying else f"{address}@{height}", increase)]
    credits = [_Credit(height, block_hash, tx, value) for tx, value in paying]
    if internal:
        credits.append(_Credit(height, block_hash, f"{address}@{height}", internal))
    return credits


def _paying_txs(block: Any, address: str, height: int) -> list[tuple[str, int]]:
    """(hash, value) of each transaction in the block that sends value `to` the address, in block order."""
    with expect_shape(f"eth_getBlockByNumber {height}"):
        return [
            (str(tx["hash"]).lower(), hex_int(tx["value"]))
            for tx in block["transactions"]
            if str(tx.get("to")).lower() == address and hex_int(tx["value"]) > 0
        ]


def _payments(address: str, credits: list[_Credit], tip: int, settled: int) -> list[SeenPayment]:
    """As SeenPayments; a credit above the `settled` height (a tagged block) shows 0 confirmations."""
    return [
        SeenPayment(
            c.natural_id, address, c.amount, tip - c.height + 1 if c.height <= settled else 0, c.height, c.block_hash
        )
        for c in sorted(credits, key=lambda c: c.height)
    ]
