"""ERC-20 token payments on Ethereum, from `Transfer` logs: one `eth_getLogs` per cycle for every token invoice.

A payment is a `Transfer(from, to, value)` log of the invoice's token contract whose `to` is the invoice
address: natural id f"{transaction hash}:{log index}", amount the log's value, which is what arrived (a
fee-on-transfer token logs the fee as a transfer of its own; Tether's `transfer` returns nothing, which
logs do not care about). A log of another configured token to the address is no payment of the invoice's;
a log from a contract we do not ask about (or an ERC-721 `Transfer`, four topics) never comes back; a
zero-value transfer (address-poisoning spam) is no payment.

How the logs are found, per cycle, in one JSON-RPC batch (the lower bound: one request):

- Each watched address has an anchor: a block (height, hash) at depth up to which its logs are cached in
  memory. The batch re-reads each anchor's hash (a hash commits to the chain below it; a mismatch drops
  that address's cache), asks `eth_getLogs` from the lowest anchor + 1 to "latest" for every watched
  address at once (`topics` = [Transfer, any sender, the recipients]; geth accepts at most 1,000
  recipients in one call, so ceil(N / 1000) calls), and reads the block at the depth the previous cycle
  computed: that block and the logs come from the same batch, so the logs at or below it become the new
  cache and it the new anchor. Logs above it are read again next cycle, so a reorg within the depth shows
  up as a log that is gone or sits in another block (a `removed` log counts as gone).
- An address without an anchor (a new invoice, a restart, a reorg below the anchor) is first searched back
  to its invoice's creation (`TokenWatch.since`, less a minute of clock difference): block timestamps
  find the first block to read, then `eth_getLogs` over that range (in pieces of at most 2,000 blocks, the
  lowest cap among providers) with the anchor block in the same batch. An invoice made after the newest
  anchor's block needs no search: the cycle's range already covers it.
- Depth is ETH_CONFIRMATIONS: a count from the tip (confirmations = tip − block + 1), or "safe" /
  "finalized": 0 confirmations until the log's block is at or below that block.

Requests per cycle for N token invoices: one batch when nothing is new (eth_blockNumber, the anchor
blocks, the next anchor, and ceil(N / 1000) eth_getLogs: one up to 1,000 invoices). New addresses add the
tip, a round or two of block timestamps and one batch of eth_getLogs; so does a tip too old to bound the
range to "latest" (after an outage), which then also splits the range into pieces.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from config import BlockTag
from models.enums import Chain
from processing.chains.base import ProviderError
from processing.chains.http import Call, HttpClient, expect_shape, hex_int
from services.payments.seen import ChainSnapshot, SeenPayment, TokenWatch

# The topic of `Transfer(address indexed from, address indexed to, uint256 value)`: keccak-256 of that signature
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
BALANCE_OF = "0x70a08231"  # the selector of ERC-20 balanceOf(address)
# Gas of sweeping one address: a plain ETH transfer to fund it, then its token transfer (USDT and USDC need
# about 41,000-63,000; more for a recipient holding none yet), rounded up.
FUNDING_GAS, TRANSFER_GAS = 21_000, 65_000
MAX_RECIPIENTS = 1000  # alternatives per topic geth accepts in one filter
MAX_RANGE = 2000  # blocks per eth_getLogs: the lowest cap among providers
CLOCK_MARGIN = timedelta(minutes=1)  # our clock against block timestamps (PoS slots are exact; NTP is assumed)
PROBES_PER_ROUND = 8  # block timestamps asked at once when searching back to an invoice's creation


@dataclass(frozen=True, slots=True)
class _Block:
    height: int
    block_hash: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class _Log:
    natural_id: str
    contract: str  # lowercase
    recipient: str  # lowercase
    amount: int
    height: int
    block_hash: str


@dataclass(slots=True)
class _History:
    token: str  # the invoice's contract, lowercase
    anchor: _Block  # every log to the address at or below this block is in `logs`
    logs: dict[str, _Log] = field(default_factory=dict)


class Erc20Backend:
    chain = Chain.eth
    name = "erc20-logs"

    def __init__(self, url: str, depth: int | BlockTag, timeout: float) -> None:
        """depth: confirmations from the tip, or the tag of the block at or below which a payment counts."""
        self._rpc = HttpClient(url, timeout)
        self._depth = depth if isinstance(depth, str) else max(depth, 1)
        self._histories: dict[str, _History] = {}  # by lowercase address
        self._next_anchor = 0  # the block at depth when last looked: the next anchor
        self._tip: tuple[int, float] | None = None  # (height, monotonic time) of the last tip seen

    async def scan(self, wanted: Sequence[TokenWatch]) -> ChainSnapshot:
        # Scans may overlap (a cycle and a buyer's check-now): each works on the histories it took here, and
        # only ever moves an anchor up, to a block read in the same batch as the logs below it.
        watches = {w.address.lower(): w for w in wanted}
        histories = {k: h for k in watches if (h := self._histories.get(k)) is not None}
        histories |= self._made_after_an_anchor([w for key, w in watches.items() if key not in histories])
        new = [w for key, w in watches.items() if key not in histories]
        tip = None if new else self._tip_if_recent(min(h.anchor.height for h in histories.values()))
        if tip is None:  # read the tip first, so no range runs past a provider's cap
            tip, self._next_anchor = await self._heights()
        if new:
            histories |= await self._backfill(new)
        tip, settled, fresh, lost = await self._cycle(histories, tip)
        payments = {
            watch.address: _payments(watch, histories[key], fresh[key], tip, settled)
            for key, watch in watches.items()
            if key not in lost
        }
        return ChainSnapshot(tip, payments)

    async def balances(self, held: Sequence[TokenWatch]) -> dict[str, int]:
        """`balanceOf` of each address on its token's contract, at the tip."""
        calls: list[Call] = [
            ("eth_call", [{"to": w.token, "data": BALANCE_OF + _word(w.address)}, "latest"]) for w in held
        ]
        with expect_shape("eth_call balanceOf"):
            return {w.address: hex_int(b) for w, b in zip(held, await self._rpc.batch(calls), strict=True)}

    async def sweep_fee(self) -> int:
        """Wei to move one address's tokens at today's gas price: the merchant first sends it the gas (a plain
        transfer, FUNDING_GAS), then it sends the tokens (TRANSFER_GAS)."""
        with expect_shape("eth_gasPrice"):
            return (FUNDING_GAS + TRANSFER_GAS) * hex_int(await self._rpc.call("eth_gasPrice", []))

    async def close(self) -> None:
        await self._rpc.close()

    def _made_after_an_anchor(self, new: list[TokenWatch]) -> dict[str, _History]:
        """Histories for new addresses whose invoices were made after the newest anchor's block: nothing can
        have reached them at or below it, so they start there, empty, and need no search back (the cycle
        reads on from it and checks its hash)."""
        newest = max((h.anchor for h in self._histories.values()), key=lambda a: a.height, default=None)
        made: dict[str, _History] = {}
        for watch in new:
            if newest is not None and newest.timestamp < (watch.since - CLOCK_MARGIN).timestamp():
                made[watch.address.lower()] = self._histories[watch.address.lower()] = _History(
                    watch.token.lower(), newest
                )
        return made

    def _tip_if_recent(self, lowest_anchor: int) -> int | None:
        """None when the range from the lowest anchor to "latest" might pass MAX_RANGE blocks (at most one block
        a second since the tip was seen); the known tip otherwise, which then needs no request of its own."""
        if self._tip is None:
            return None
        height, seen = self._tip
        return None if height - lowest_anchor + time.monotonic() - seen >= MAX_RANGE else height

    async def _heights(self) -> tuple[int, int]:
        """The tip and the highest block at depth, read now."""
        return self._settle(await self._rpc.batch(self._height_calls()), 0)

    def _height_calls(self) -> list[Call]:
        calls: list[Call] = [("eth_blockNumber", [])]
        if isinstance(self._depth, str):
            calls.append(("eth_getBlockByNumber", [self._depth, False]))
        return calls

    def _settle(self, results: list[Any], highest_log: int) -> tuple[int, int]:
        """(tip, highest block at depth) from the answers to _height_calls; a log above the tip (a block came
        in between two calls of the batch) moves the tip up to it."""
        with expect_shape("eth_blockNumber"):
            tip = max(hex_int(results[0]), highest_log)
            self._tip = tip, time.monotonic()
            if isinstance(self._depth, str):
                return tip, min(hex_int(results[1]["number"]), tip)
            return tip, max(tip - self._depth + 1, 0)

    async def _cycle(
        self, histories: dict[str, _History], known_tip: int
    ) -> tuple[int, int, dict[str, list[_Log]], set[str]]:
        """The one batch of a cycle (see the module's docstring). Returns the tip, the height up to which a
        tagged depth counts (the tip for a count), the logs above each address's anchor, and the addresses
        whose anchor a reorg replaced (unknown this time, searched again next time)."""
        keys = list(histories)
        requested = {k: h.anchor for k, h in histories.items()}
        anchors = sorted({anchor.height for anchor in requested.values()})
        tracked = self._height_calls()
        calls = [*tracked, *(("eth_getBlockByNumber", [hex(h), False]) for h in [*anchors, self._next_anchor])]
        start = anchors[0] + 1
        ranges = (  # one range to "latest" as a rule; after a long gap, pieces up to the tip just read
            [(hex(start), "latest")]
            if known_tip - start < MAX_RANGE
            else [*_pieces(start, known_tip), (hex(known_tip + 1), "latest")]
        )
        calls += _log_calls(ranges, keys, sorted({h.token for h in histories.values()}))
        results = await self._rpc.batch(calls)
        blocks = [_block(b) for b in results[len(tracked) : len(tracked) + len(anchors) + 1]]
        logs = _logs(results[len(tracked) + len(anchors) + 1 :])
        tip, settle = self._settle(results[: len(tracked)], max((log.height for log in logs), default=0))
        current = {b.height: b for b in blocks[:-1] if b is not None}
        lost = {k for k, anchor in requested.items() if current.get(anchor.height) != anchor}
        for key in lost:
            if self._histories.get(key) is histories[key]:
                del self._histories[key]
        candidate = blocks[-1]
        fresh: dict[str, list[_Log]] = {k: [] for k in keys}
        for log in logs:
            if log.recipient in fresh:
                fresh[log.recipient].append(log)
        for key in set(keys) - lost:
            history = histories[key]
            above = [log for log in fresh[key] if log.height > history.anchor.height]
            if candidate is not None and history.anchor.height < candidate.height <= tip:
                history.logs.update((log.natural_id, log) for log in above if log.height <= candidate.height)
                history.anchor = candidate
            fresh[key] = [log for log in above if log.height > history.anchor.height]
        self._next_anchor = settle
        return tip, settle if isinstance(self._depth, str) else tip, fresh, lost

    async def _backfill(self, new: list[TokenWatch]) -> dict[str, _History]:
        """Read the history of addresses without an anchor, back to their invoices' creation, up to the next
        anchor block (read in the same batch, which then anchors them), and remember it."""
        height = self._next_anchor  # taken once: an overlapping scan may move it meanwhile
        since = int((min(w.since for w in new) - CLOCK_MARGIN).timestamp())
        first = await self._first_block_after(since, height)
        keys = [w.address.lower() for w in new]
        calls: list[Call] = [("eth_getBlockByNumber", [hex(height), False])]
        calls += _log_calls(_pieces(first, height), keys, sorted({w.token.lower() for w in new}))
        results = await self._rpc.batch(calls)
        anchor = _block(results[0])
        if anchor is None:
            raise ProviderError(f"eth_getBlockByNumber: no block {height}")
        logs = _logs(results[1:])
        for watch, key in zip(new, keys, strict=True):
            mine = {log.natural_id: log for log in logs if log.recipient == key and log.height <= anchor.height}
            self._histories[key] = _History(watch.token.lower(), anchor, mine)
        return {key: self._histories[key] for key in keys}

    async def _first_block_after(self, timestamp: int, below: int) -> int:
        """The first block to read for payments made after `timestamp`: the nearest of below − 2^k (k = 0, 1,
        …) older than it (so at most twice as far back as needed), genesis, or `below` + 1 when `below` itself
        is older."""
        step, heights = 1, [below]
        while True:
            results = await self._rpc.batch([("eth_getBlockByNumber", [hex(h), False]) for h in heights])
            for height, block in zip(heights, map(_block, results), strict=True):
                if block is None:
                    raise ProviderError(f"eth_getBlockByNumber: no block {height}")
                if block.timestamp < timestamp:
                    return below + 1 if height == below else height
            if heights[-1] == 0:
                return 0
            heights = []
            while len(heights) < PROBES_PER_ROUND and (not heights or heights[-1] > 0):
                heights.append(max(below - step, 0))
                step *= 2


def _word(address: str) -> str:
    """An address as one ABI word (32 bytes, left-padded), without 0x."""
    return address.lower().removeprefix("0x").rjust(64, "0")


def _pieces(first: int, last: int) -> list[tuple[str, str]]:
    """[first, last] in pieces of at most MAX_RANGE blocks, as hex (fromBlock, toBlock); none when empty."""
    return [(hex(lo), hex(min(lo + MAX_RANGE - 1, last))) for lo in range(first, last + 1, MAX_RANGE)]


def _log_calls(ranges: list[tuple[str, str]], keys: list[str], contracts: list[str]) -> list[Call]:
    """eth_getLogs for transfers of `contracts` to `keys` over `ranges`, MAX_RECIPIENTS addresses a call."""
    recipients = ["0x" + _word(key) for key in sorted(keys)]
    return [
        (
            "eth_getLogs",
            [
                {
                    "fromBlock": lo,
                    "toBlock": hi,
                    "address": contracts,
                    "topics": [TRANSFER, None, recipients[i : i + MAX_RECIPIENTS]],
                }
            ],
        )
        for lo, hi in ranges
        for i in range(0, len(recipients), MAX_RECIPIENTS)
    ]


def _block(block: Any) -> _Block | None:
    if block is None:
        return None
    with expect_shape("eth_getBlockByNumber"):
        return _Block(hex_int(block["number"]), str(block["hash"]).lower(), hex_int(block["timestamp"]))


def _logs(answers: list[Any]) -> list[_Log]:
    """The ERC-20 transfers in eth_getLogs answers, each once; removed, zero-value and non-ERC-20 logs (an
    ERC-721 Transfer has a fourth topic) left out."""
    found: dict[str, _Log] = {}
    with expect_shape("eth_getLogs"):
        for answer in answers:
            for log in answer:
                topics = log["topics"]
                if log.get("removed") or len(topics) != 3 or str(topics[0]).lower() != TRANSFER:
                    continue
                amount = int(log["data"], 16) if log["data"] != "0x" else 0
                if amount <= 0:
                    continue
                natural_id = f"{str(log['transactionHash']).lower()}:{hex_int(log['logIndex'])}"
                found[natural_id] = _Log(
                    natural_id,
                    str(log["address"]).lower(),
                    "0x" + str(topics[2])[-40:].lower(),
                    amount,
                    hex_int(log["blockNumber"]),
                    str(log["blockHash"]).lower(),
                )
    return list(found.values())


def _payments(watch: TokenWatch, history: _History, fresh: list[_Log], tip: int, settled: int) -> list[SeenPayment]:
    """The transfers of the invoice's token to its address; one above the `settled` height (a tagged block)
    shows 0 confirmations."""
    return [
        SeenPayment(
            log.natural_id,
            watch.address,
            log.amount,
            tip - log.height + 1 if log.height <= settled else 0,
            log.height,
            log.block_hash,
        )
        for log in sorted([*history.logs.values(), *fresh], key=lambda log: (log.height, log.natural_id))
        if log.contract == history.token
    ]
