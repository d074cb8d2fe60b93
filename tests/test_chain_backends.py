"""Chain backends against wire-format doubles (Esplora, Solana) and real nodes (litecoind, anvil)."""

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import pytest
from aiohttp import web

from config import BlockTag
from models.enums import Chain
from processing.chains.base import ProviderError
from processing.chains.core_rpc import CoreRpcBackend
from processing.chains.esplora import EsploraBackend
from processing.chains.evm_rpc import EvmRpcBackend
from processing.chains.http import HttpClient, RpcError
from processing.chains.solana_rpc import SolanaRpcBackend
from services.payments.seen import ChainSnapshot, SeenPayment
from tests.doubles import Fault
from tests.doubles import esplora as esplora_double
from tests.doubles.esplora import UTXO_LIMIT, EsploraDouble, Style
from tests.doubles.evm_history import NodeWithoutHistory
from tests.doubles.solana import LAMPORTS_PER_SOL, SolanaDouble
from tests.nodes import Anvil, Litecoind, anvil_fixture, anvil_session_fixture, free_port, litecoind_fixture  # noqa: F401

TIMEOUT = 1.0
ERRORS = [Fault.rate_limited, Fault.server_error, Fault.timeout, Fault.truncated]


def only(snapshot: ChainSnapshot, address: str) -> SeenPayment:
    (payment,) = snapshot.payments[address]
    return payment


# --- shared HTTP client ---


async def test_errors_never_show_credentials() -> None:
    esplora = EsploraDouble()
    url = await esplora.start()
    esplora.fault = Fault.server_error
    secret_url = url.replace("http://", "http://shop:hunter2@") + "/v3/KEY"
    for client in (
        HttpClient(secret_url, TIMEOUT),
        HttpClient(f"http://shop:hunter2@127.0.0.1:{free_port()}/v3/KEY", TIMEOUT),
    ):
        with pytest.raises(ProviderError) as caught:
            await client.call("getblockcount", [])
        assert "hunter2" not in str(caught.value) and "KEY" not in str(caught.value)
        await client.close()
    await esplora.stop()


async def test_batch_answers_are_matched_by_id_and_errors_fail_the_batch() -> None:
    sol = SolanaDouble()  # answers batches in reverse order
    client = HttpClient(await sol.start(), TIMEOUT)
    account = sol.new_account(7)
    slot, balance = await client.batch([("getSlot", []), ("getBalance", [account])])
    assert (slot, balance["value"]) == (sol.finalized_slot, 7)
    with pytest.raises(RpcError) as caught:  # the double refuses `processed` as Solana does
        await client.batch([("getSlot", []), ("getSignaturesForAddress", [account, {"commitment": "processed"}])])
    assert caught.value.code == -32602 and "commitment below `confirmed`" in str(caught.value)
    await client.close()
    await sol.stop()


# --- Esplora ---


@pytest.fixture(params=["blockstream", "mempool"])
async def esplora(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EsploraDouble, EsploraBackend]]:
    """The backend against each way of paging `/address/{a}/txs` (it must not depend on either)."""
    double = EsploraDouble(style=request.param)
    backend = EsploraBackend(Chain.btc, await double.start(), TIMEOUT)
    double.slow_seconds = TIMEOUT * 2
    yield double, backend
    await backend.close()
    await double.stop()


async def test_esplora_double_pages_txs_as_each_implementation_does() -> None:
    """The double's two styles, as shared/WIRE-FORMATS.md and the electrs sources describe them."""

    async def confirmed_in(path: str) -> list[bool]:
        return [tx["status"]["confirmed"] for tx in await client.get_json(path)]

    styles: list[tuple[Style, list[bool]]] = [
        ("blockstream", [False] * 10 + [True] * 25),  # 10 mempool + 25 confirmed
        ("mempool", [False] * 10 + [True] * 40),  # 50 in all
    ]
    for style, first_page in styles:
        double = EsploraDouble(style=style)
        client = HttpClient(await double.start(), TIMEOUT)
        oldest = double.pay("bcrt1qbusy", 1_000)
        for _ in range(59):
            double.pay("bcrt1qbusy", 1_000)
        double.mine()
        for _ in range(10):
            double.pay("bcrt1qbusy", 2_000)
        assert await confirmed_in("/address/bcrt1qbusy/txs") == first_page
        assert await confirmed_in("/address/bcrt1qbusy/txs/mempool") == [False] * 10
        chain = await client.get_json("/address/bcrt1qbusy/txs/chain")
        assert len(chain) == 25
        after = await client.get_json(f"/address/bcrt1qbusy/txs/chain/{chain[-1]['txid']}")
        assert len(after) == 25 and after[0]["txid"] != chain[-1]["txid"]
        last = await client.get_json(f"/address/bcrt1qbusy/txs/chain/{after[-1]['txid']}")
        assert [tx["txid"] for tx in last][-1] == oldest and len(last) == 10
        assert await client.get_json(f"/address/bcrt1qbusy/txs/chain/{'ab' * 32}") == []  # a txid it never saw
        await client.close()
        await double.stop()


async def test_esplora_mempool_style_first_page_holds_50_in_all() -> None:
    """mempool.space: 60 mempool transactions fill the first page, and `?after_txid=` pages on."""
    double = EsploraDouble(style="mempool")
    client = HttpClient(await double.start(), TIMEOUT)
    double.pay("bcrt1qbusy", 1_000)
    double.mine()
    for _ in range(60):
        double.pay("bcrt1qbusy", 546)
    first = await client.get_json("/address/bcrt1qbusy/txs")
    assert len(first) == 50 and not any(tx["status"]["confirmed"] for tx in first)
    rest = await client.get_json(f"/address/bcrt1qbusy/txs?after_txid={first[-1]['txid']}")
    assert [tx["status"]["confirmed"] for tx in rest] == [False] * 10 + [True]
    with pytest.raises(ProviderError, match="HTTP 422"):
        await client.get_json(f"/address/bcrt1qbusy/txs?after_txid={'ab' * 32}")
    await client.close()
    await double.stop()


async def test_esplora_mempool_then_confirmed(esplora: tuple[EsploraDouble, EsploraBackend]) -> None:
    double, backend = esplora
    txid = double.pay("bcrt1qshop", 150_000)
    seen = only(await backend.scan(["bcrt1qshop"]), "bcrt1qshop")
    assert seen == SeenPayment(f"{txid}:1", "bcrt1qshop", 150_000, 0, None, None)
    (block,) = double.mine()
    double.mine(2)
    snapshot = await backend.scan(["bcrt1qshop", "bcrt1qother"])
    assert only(snapshot, "bcrt1qshop") == SeenPayment(f"{txid}:1", "bcrt1qshop", 150_000, 3, 101, block)
    assert snapshot.tip_height == 103 and snapshot.payments["bcrt1qother"] == []
    double.set_tip(110)
    assert only(await backend.scan(["bcrt1qshop"]), "bcrt1qshop").confirmations == 10


async def test_esplora_keeps_a_payment_the_merchant_spent(esplora: tuple[EsploraDouble, EsploraBackend]) -> None:
    double, backend = esplora
    txid = double.pay("bcrt1qshop", 90_000)
    double.mine()
    double.spend(txid, 1, "bcrt1qcold")
    double.mine()
    assert only(await backend.scan(["bcrt1qshop"]), "bcrt1qshop").natural_id == f"{txid}:1"


async def test_esplora_reorg_moves_unconfirms_or_drops(esplora: tuple[EsploraDouble, EsploraBackend]) -> None:
    double, backend = esplora
    txid = double.pay("bcrt1qshop", 10_000)
    (old_block,) = double.mine()
    double.reorg(1, then="remine")
    moved = only(await backend.scan(["bcrt1qshop"]), "bcrt1qshop")
    assert (moved.natural_id, moved.block_height, moved.confirmations) == (f"{txid}:1", 101, 1)
    assert moved.block_hash == double.chain[101] != old_block
    double.reorg(1, then="mempool")
    back = only(await backend.scan(["bcrt1qshop"]), "bcrt1qshop")
    assert (back.natural_id, back.confirmations, back.block_hash) == (f"{txid}:1", 0, None)
    double.mine()
    double.reorg(1, then="drop")  # a double spend won
    assert (await backend.scan(["bcrt1qshop"])).payments == {"bcrt1qshop": []}


async def test_esplora_pages_through_history_with_few_requests(esplora: tuple[EsploraDouble, EsploraBackend]) -> None:
    double, backend = esplora
    for _ in range(60):
        double.pay("bcrt1qbusy", 1_000)
    double.mine()
    for _ in range(3):
        double.pay("bcrt1qbusy", 2_000)
    quiet = [f"bcrt1qquiet{i}" for i in range(5)]
    snapshot = await backend.scan(["bcrt1qbusy", *quiet])
    assert len(snapshot.payments["bcrt1qbusy"]) == 63
    assert sum(p.amount for p in snapshot.payments["bcrt1qbusy"]) == 66_000
    # the counts for each address, the busy one's mempool, 3 pages for its 60 confirmed (25 + 25 + 10), the tip
    assert len(double.requests) == 6 + 1 + 3 + 1
    double.requests.clear()
    double.mine()  # 63 confirmed: pages of 25, 25 and 13, no mempool request
    assert sum(p.amount for p in (await backend.scan(["bcrt1qbusy"])).payments["bcrt1qbusy"]) == 66_000
    assert len(double.requests) == 1 + 3 + 1


async def test_esplora_since_stops_paging_where_older_payments_begin(
    esplora: tuple[EsploraDouble, EsploraBackend],
) -> None:
    """A refund to a buyer's busy address: only what came after the refund's start height is needed, so the
    history is read no further back than the first page that reaches down to it."""
    double, backend = esplora
    for _ in range(60):
        double.pay("bcrt1qbuyer", 1_000)
    double.mine()
    start = await backend.tip_height()
    assert start == double.tip == 101
    new = [double.pay("bcrt1qbuyer", 7_000) for _ in range(3)]
    double.mine()
    double.requests.clear()
    snapshot = await backend.scan(["bcrt1qbuyer"], since={"bcrt1qbuyer": start})
    assert {p.natural_id for p in snapshot.payments["bcrt1qbuyer"] if p.block_height == 102} == {
        f"{txid}:1" for txid in new
    }
    assert len(double.requests) == 1 + 1 + 1  # the counts, one page of 25 (3 new, 22 at the start), the tip
    double.requests.clear()
    assert len((await backend.scan(["bcrt1qbuyer"])).payments["bcrt1qbuyer"]) == 63  # without: all of it
    assert len(double.requests) == 1 + 3 + 1


async def test_esplora_dust_cannot_push_a_payment_out_of_view(esplora: tuple[EsploraDouble, EsploraBackend]) -> None:
    """55 later dust transactions: more than a first page of /txs holds on mempool.space, more than
    /txs/mempool lists on either implementation. The payment stays in view, unconfirmed and confirmed."""
    double, backend = esplora
    txid = double.pay("bcrt1qshop", 150_000)
    for _ in range(55):
        double.pay("bcrt1qshop", 546)
    snapshot = await backend.scan(["bcrt1qshop"])
    assert len(snapshot.payments["bcrt1qshop"]) == 56
    paid = next(p for p in snapshot.payments["bcrt1qshop"] if p.natural_id == f"{txid}:1")
    assert (paid.amount, paid.confirmations) == (150_000, 0)
    assert "GET /address/bcrt1qshop/utxo" in double.requests  # the mempool list stopped at 50
    double.mine(2)
    snapshot = await backend.scan(["bcrt1qshop"])
    assert {p.natural_id: p.confirmations for p in snapshot.payments["bcrt1qshop"]}[f"{txid}:1"] == 2
    assert sum(p.amount for p in snapshot.payments["bcrt1qshop"]) == 150_000 + 55 * 546


async def test_esplora_refuses_a_history_shorter_than_its_count(
    esplora: tuple[EsploraDouble, EsploraBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server whose pages are smaller than 25 (mempool/electrs makes the size a setting) would end
    the history early, and one that ignores `last_txid` would repeat its first page forever."""
    double, backend = esplora
    for _ in range(30):
        double.pay("bcrt1qshop", 1_000)
    double.mine()
    double.chain_page = 40  # larger pages are fine
    assert len((await backend.scan(["bcrt1qshop"])).payments["bcrt1qshop"]) == 30
    double.chain_page = 10
    with pytest.raises(ProviderError, match="10 confirmed transactions listed of 30"):
        await backend.scan(["bcrt1qshop"])
    double.chain_page, double.requests = 25, []
    monkeypatch.setattr(esplora_double, "_TXID", re.compile("(?!)"))  # no last_txid parses: the first page again
    with pytest.raises(ProviderError, match="repeats"):
        await backend.scan(["bcrt1qshop"])
    assert len(double.requests) == 1 + 2  # the counts, then the first page twice: not forever


async def test_esplora_too_many_unspent_outputs_raises(esplora: tuple[EsploraDouble, EsploraBackend]) -> None:
    """Past 50 unconfirmed transactions the backend needs /utxo, which electrs refuses (HTTP 400) past
    its limit: an error, never a shorter list."""
    double, backend = esplora
    for _ in range(UTXO_LIMIT - 50):
        double.pay("bcrt1qshop", 1_000)
    double.mine()
    for _ in range(51):
        double.pay("bcrt1qshop", 546)
    with pytest.raises(ProviderError, match="HTTP 400"):
        await backend.scan(["bcrt1qshop"])


def amounts_as_text(double: EsploraDouble) -> None:
    as_served = double._json

    def patched(txid: str) -> dict[str, Any]:
        tx = as_served(txid)
        return {**tx, "vout": [{**out, "value": str(out["value"])} for out in tx["vout"]]}

    setattr(double, "_json", patched)  # mypy refuses assigning to a method


GARBAGE: dict[str, tuple[Callable[[EsploraDouble], object], str]] = {
    "counts without tx_count": (
        lambda d: setattr(d, "_stats", lambda txids, address: {"funded_txo_count": 0}),
        "unexpected answer",
    ),
    "a negative count": (lambda d: setattr(d, "_stats", lambda txids, address: {"tx_count": -1}), "negative"),
    "a transaction without status": (
        lambda d: setattr(d, "_json", lambda txid: {"txid": txid, "vout": []}),
        "unexpected answer",
    ),
    "an amount as text": (amounts_as_text, "unexpected answer"),
    "a page that is not a list": (
        lambda d: setattr(d, "_answer", lambda txids: web.json_response({"txs": txids})),
        "not a list",
    ),
}


@pytest.mark.parametrize(("garbage", "error"), GARBAGE.values(), ids=GARBAGE.keys())
async def test_esplora_garbage_raises(
    esplora: tuple[EsploraDouble, EsploraBackend], garbage: Callable[[EsploraDouble], object], error: str
) -> None:
    double, backend = esplora
    double.pay("bcrt1qshop", 10_000)
    double.mine()
    double.pay("bcrt1qshop", 20_000)
    garbage(double)
    with pytest.raises(ProviderError, match=error):
        await backend.scan(["bcrt1qshop"])


@pytest.mark.parametrize("fault", ERRORS)
@pytest.mark.parametrize("fault_on", ["", "/address/", "/txs/mempool", "/txs/chain", "/blocks/tip"])
async def test_esplora_outage_raises(
    esplora: tuple[EsploraDouble, EsploraBackend], fault: Fault, fault_on: str
) -> None:
    double, backend = esplora
    double.pay("bcrt1qshop", 10_000)
    double.mine()
    double.pay("bcrt1qshop", 20_000)
    double.fault, double.fault_on = fault, fault_on
    if fault is Fault.truncated and fault_on == "/blocks/tip":
        return  # the tip is plain text, which truncation leaves alone
    with pytest.raises(ProviderError):
        await backend.scan(["bcrt1qshop"])


async def test_esplora_cannot_see_through_an_outage_that_answers_empty(
    esplora: tuple[EsploraDouble, EsploraBackend],
) -> None:
    """Documented limit: HTTP 200 with an empty history is indistinguishable from an unpaid address."""
    double, backend = esplora
    double.pay("bcrt1qshop", 10_000)
    double.mine()
    double.fault = Fault.empty
    assert (await backend.scan(["bcrt1qshop"])).payments == {"bcrt1qshop": []}


# --- Solana ---


@pytest.fixture
async def solana() -> AsyncIterator[SolanaDouble]:
    double = SolanaDouble()
    await double.start()
    double.slow_seconds = TIMEOUT * 2
    yield double
    await double.stop()


async def sol_backend(double: SolanaDouble, commitment: str = "finalized") -> SolanaRpcBackend:
    return SolanaRpcBackend(double.url, commitment, TIMEOUT)


async def test_solana_payment_shows_once_finalized(solana: SolanaDouble) -> None:
    backend = await sol_backend(solana)
    payer, shop = solana.new_account(10 * LAMPORTS_PER_SOL), solana.new_account()
    sig = solana.transfer(payer, shop, LAMPORTS_PER_SOL)
    assert (await backend.scan([shop])).payments == {shop: []}
    solana.finalize()
    snapshot = await backend.scan([shop])
    assert only(snapshot, shop) == SeenPayment(f"{sig}:{shop}", shop, LAMPORTS_PER_SOL, 1, solana.slot, None)
    assert snapshot.tip_height == solana.finalized_slot
    await backend.close()


async def test_solana_confirmed_commitment_sees_forks_drop(solana: SolanaDouble) -> None:
    backend = await sol_backend(solana, "confirmed")
    payer, shop = solana.new_account(10 * LAMPORTS_PER_SOL), solana.new_account()
    sig = solana.transfer(payer, shop, 2 * LAMPORTS_PER_SOL)
    assert only(await backend.scan([shop]), shop).confirmations == 1  # the commitment is reached
    solana.drop(sig)
    assert (await backend.scan([shop])).payments == {shop: []}
    await backend.close()


async def test_solana_counts_only_successful_increases(solana: SolanaDouble) -> None:
    backend = await sol_backend(solana)
    payer, shop, cold = solana.new_account(10 * LAMPORTS_PER_SOL), solana.new_account(), solana.new_account()
    solana.transfer(payer, shop, 500_000)  # below the rent-exempt minimum: fails on chain
    paid = solana.transfer(payer, shop, LAMPORTS_PER_SOL, lookup_table=True)  # v0, key from a lookup table
    solana.transfer(shop, cold, solana.balance(shop) - 5_000)  # the merchant sweeps to zero
    solana.finalize()
    payments = (await backend.scan([shop, cold])).payments
    assert [(p.natural_id, p.amount) for p in payments[shop]] == [(f"{paid}:{shop}", LAMPORTS_PER_SOL)]
    assert [p.amount for p in payments[cold]] == [LAMPORTS_PER_SOL - 5_000]
    await backend.close()


async def test_solana_batches_pages_and_caches(solana: SolanaDouble) -> None:
    backend = await sol_backend(solana)
    payer = solana.new_account(10_000 * LAMPORTS_PER_SOL)
    shops = [solana.new_account() for _ in range(150)]
    busy = shops[0]
    for _ in range(1_001):
        solana.transfer(payer, busy, LAMPORTS_PER_SOL)
    solana.transfer(payer, shops[1], LAMPORTS_PER_SOL)
    solana.finalize()
    snapshot = await backend.scan(shops)
    assert len(snapshot.payments[busy]) == 1_001 and len(snapshot.payments[shops[1]]) == 1
    # 2 batches (getSlot + 150 addresses), 1 page for the busy address, 11 batches of getTransaction
    assert len(solana.requests) == 2 + 1 + 11
    solana.requests.clear()
    await backend.scan(shops)
    assert len(solana.requests) == 2 + 1  # finalized transactions come from the cache
    await backend.close()


async def test_solana_since_skips_older_signatures(solana: SolanaDouble) -> None:
    """A refund to a buyer's busy wallet: signatures at or below the refund's start slot are neither paged
    through nor fetched."""
    backend = await sol_backend(solana)
    payer, buyer = solana.new_account(10_000 * LAMPORTS_PER_SOL), solana.new_account()
    for _ in range(1_001):
        solana.transfer(payer, buyer, LAMPORTS_PER_SOL)
    solana.finalize()
    start = await backend.tip_height()
    assert start == solana.finalized_slot
    refund = solana.transfer(payer, buyer, 3 * LAMPORTS_PER_SOL)
    solana.finalize()
    solana.requests.clear()
    snapshot = await backend.scan([buyer], since={buyer: start})
    assert [(p.natural_id, p.amount) for p in snapshot.payments[buyer]] == [(f"{refund}:{buyer}", 3 * LAMPORTS_PER_SOL)]
    assert len(solana.requests) == 1 + 1  # getSlot and the first page; one getTransaction
    await backend.close()


@pytest.mark.parametrize("fault", ERRORS)
async def test_solana_outage_raises(solana: SolanaDouble, fault: Fault) -> None:
    backend = await sol_backend(solana)
    payer, shop = solana.new_account(10 * LAMPORTS_PER_SOL), solana.new_account()
    solana.transfer(payer, shop, LAMPORTS_PER_SOL)
    solana.finalize()
    solana.fault = fault
    with pytest.raises(ProviderError):
        await backend.scan([shop])
    await backend.close()


async def test_solana_rpc_error_raises(solana: SolanaDouble) -> None:
    backend = await sol_backend(solana)
    solana.rpc_error = (-32005, "Node is behind by 42 slots")
    with pytest.raises(ProviderError, match="Node is behind"):
        await backend.scan([solana.new_account()])
    await backend.close()


async def test_solana_cannot_see_through_an_outage_that_answers_empty(solana: SolanaDouble) -> None:
    """Documented limit: an empty signature list is indistinguishable from an unpaid address."""
    backend = await sol_backend(solana)
    payer, shop = solana.new_account(10 * LAMPORTS_PER_SOL), solana.new_account()
    solana.transfer(payer, shop, LAMPORTS_PER_SOL)
    solana.finalize()
    solana.fault = Fault.empty
    assert (await backend.scan([shop])).payments == {shop: []}
    await backend.close()


# --- Core RPC against litecoind -regtest ---


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.1)


@pytest.fixture
async def core(litecoind: Litecoind, request: pytest.FixtureRequest) -> AsyncIterator[CoreRpcBackend]:
    backend = CoreRpcBackend(Chain.ltc, f"{litecoind.url}/wallet/watch-{request.node.name[:40]}", 10)
    yield backend
    await backend.close()


@pytest.mark.nodes
async def test_core_watch_is_idempotent_and_scan_refuses_unwatched(litecoind: Litecoind, core: CoreRpcBackend) -> None:
    address, other = litecoind.address(), litecoind.address()
    await core.watch([address])
    await core.watch([address])
    assert (await core.scan([address])).payments == {address: []}
    with pytest.raises(ProviderError, match="does not watch"):
        await core.scan([address, other])
    litecoind.rpc("unloadwallet", core._wallet)  # as after a node restart
    with pytest.raises(ProviderError, match="RPC error -18"):
        await core.scan([address])
    assert (await core.scan([address])).payments == {address: []}  # loaded again


@pytest.mark.nodes
async def test_core_mempool_confirmations_reorg_and_spend(litecoind: Litecoind, core: CoreRpcBackend) -> None:
    address = litecoind.address()
    assert address.startswith("rltc1")
    await core.watch([address])
    txid = litecoind.send(address, Decimal("0.12345678"))

    async def in_mempool() -> bool:
        return bool((await core.scan([address])).payments[address])

    await eventually(in_mempool)
    payment = only(await core.scan([address]), address)
    assert payment.natural_id.startswith(f"{txid}:")
    assert payment == SeenPayment(payment.natural_id, address, 12_345_678, 0, None, None)

    (block,) = litecoind.mine()
    litecoind.mine(2)
    snapshot = await core.scan([address])
    payment = only(snapshot, address)
    assert (payment.confirmations, payment.block_hash) == (3, block)
    assert payment.block_height == snapshot.tip_height - 2

    litecoind.invalidate(block)  # back to the mempool
    assert only(await core.scan([address]), address).block_hash is None
    (new_block,) = litecoind.mine()
    moved = only(await core.scan([address]), address)
    assert (moved.natural_id, moved.confirmations, moved.block_hash) == (payment.natural_id, 1, new_block)

    litecoind.send(litecoind.address("funder"), Decimal("0.1"), wallet="merchant")  # the merchant spends it
    litecoind.mine()
    assert only(await core.scan([address]), address).natural_id == payment.natural_id


@pytest.mark.nodes
async def test_core_drops_a_payment_a_reorg_double_spent(litecoind: Litecoind, core: CoreRpcBackend) -> None:
    address = litecoind.address()
    await core.watch([address])
    litecoind.send(address, Decimal("0.5"))
    litecoind.mine()
    txid = only(await core.scan([address]), address).natural_id.split(":")[0]
    litecoind.double_spend(txid)
    assert (await core.scan([address])).payments == {address: []}


@pytest.mark.nodes
async def test_core_scans_in_one_request(litecoind: Litecoind, core: CoreRpcBackend) -> None:
    addresses = [litecoind.address() for _ in range(30)]
    await core.watch(addresses)
    litecoind.rpc("sendmany", "", {a: "0.01" for a in addresses[:3]}, wallet="funder")
    litecoind.mine()
    with patch.object(core._rpc, "_send", wraps=core._rpc._send) as sent:
        snapshot = await core.scan(addresses)
    assert sent.call_count == 1
    assert [len(snapshot.payments[a]) for a in addresses[:4]] == [1, 1, 1, 0]


@pytest.mark.nodes
async def test_core_unreachable_node_raises(litecoind: Litecoind) -> None:
    backend = CoreRpcBackend(Chain.ltc, f"http://shop:wrong@127.0.0.1:{litecoind.port}", TIMEOUT)
    with pytest.raises(ProviderError, match="HTTP 401") as caught:
        await backend.scan([])
    assert "wrong" not in str(caught.value)
    await backend.close()


# --- EVM RPC against anvil ---


def fresh_address(n: int) -> str:
    return f"0x{0x5A0000 + n:040x}"


@pytest.fixture
async def evm(anvil: Anvil) -> AsyncIterator[EvmRpcBackend]:
    backend = EvmRpcBackend(anvil.url, 3, TIMEOUT * 5)
    yield backend
    await backend.close()


@pytest.mark.nodes
async def test_evm_payment_confirmations_and_request_count(anvil: Anvil, evm: EvmRpcBackend) -> None:
    address, idle = fresh_address(1), fresh_address(2)
    tx = anvil.send(address, 10**18)
    height = anvil.block_number()
    anvil.mine(5)
    snapshot = await evm.scan([address, idle])
    assert snapshot.payments[idle] == []
    assert only(snapshot, address) == SeenPayment(tx, address, 10**18, 6, height, anvil.block_hash(height))

    anvil.mine()
    with patch.object(evm._rpc, "_send", wraps=evm._rpc._send) as sent:
        assert only(await evm.scan([address, idle]), address).confirmations == 7
    assert sent.call_count == 2  # eth_blockNumber + one batch: the anchor holds the payment


@pytest.mark.nodes
async def test_evm_reorg_moves_then_removes_a_payment(anvil: Anvil, evm: EvmRpcBackend) -> None:
    address = fresh_address(3)
    anvil.mine(20)
    anvil.send(address, 5 * 10**17)
    height = anvil.block_number()
    anvil.mine()
    before = only(await evm.scan([address]), address)
    anvil.reorg(2, [(anvil.tx_request(address, 5 * 10**17), 1)])  # mined again one block later
    moved = only(await evm.scan([address]), address)
    assert (moved.amount, moved.block_height) == (before.amount, height + 1)
    assert moved.block_hash != before.block_hash
    anvil.mine(10)
    assert only(await evm.scan([address]), address).confirmations == 11  # now held by the anchor
    anvil.reorg(12)  # deeper than the anchor: the payment is gone
    assert (await evm.scan([address])).payments == {address: []}


@pytest.mark.nodes
async def test_evm_sweep_keeps_credits_and_internal_transfers_count(anvil: Anvil, evm: EvmRpcBackend) -> None:
    address = fresh_address(4)
    first = anvil.send(address, 10**18)
    anvil.rpc("anvil_impersonateAccount", address)
    anvil.send(anvil.accounts[1], 9 * 10**17, sender=address)  # the merchant sweeps most of it
    forwarder = fresh_address(99)  # runtime code: CALL(gas, address, callvalue, 0, 0, 0, 0)
    anvil.rpc("anvil_setCode", forwarder, f"0x600060006000600034 73{address[2:]} 5af100".replace(" ", ""))
    anvil.send(forwarder, 3 * 10**17)  # an internal transfer: no transaction to `address`
    internal_height = anvil.block_number()
    anvil.mine()  # anvil_setBalance rewrites the state of the latest block in place
    anvil.rpc("anvil_setBalance", address, hex(int(anvil.rpc("eth_getBalance", address, "latest"), 16) + 7))
    anvil.mine()
    payments = (await evm.scan([address])).payments[address]
    assert [(p.natural_id, p.amount) for p in payments] == [
        (first, 10**18),
        (f"{address}@{internal_height}", 3 * 10**17),
        (f"{address}@{internal_height + 1}", 7),
    ]


@pytest.mark.nodes
async def test_evm_unreachable_node_raises() -> None:
    backend = EvmRpcBackend(f"http://127.0.0.1:{free_port()}/v2/SECRETKEY", 3, TIMEOUT)
    with pytest.raises(ProviderError) as caught:
        await backend.scan([fresh_address(5)])
    assert "SECRETKEY" not in str(caught.value)
    await backend.close()


@pytest.mark.nodes
async def test_evm_anchor_at_the_tip_does_not_double_count(anvil: Anvil) -> None:
    address = fresh_address(6)
    anvil.send(address, 10**15)
    backend = EvmRpcBackend(anvil.url, 1, TIMEOUT * 5)  # the anchor sits on the tip itself
    for _ in range(3):
        assert only(await backend.scan([address]), address).confirmations == 1
    await backend.close()


def forwarder(anvil: Anvil, to: str) -> str:
    """A contract that passes the value of every call on to `to`: an internal transfer, no transaction to `to`."""
    contract = fresh_address(0x4000 + int(to[-4:], 16))  # runtime code: CALL(gas, to, callvalue, 0, 0, 0, 0)
    anvil.rpc("anvil_setCode", contract, f"0x600060006000600034 73{to[2:]} 5af100".replace(" ", ""))
    return contract


def credits(snapshot: ChainSnapshot, address: str) -> list[tuple[str, int, int]]:
    return [(p.natural_id, p.amount, p.block_height or 0) for p in snapshot.payments[address]]


@pytest.mark.nodes
async def test_evm_each_payment_in_a_block_is_a_credit_so_a_reorg_only_moves_them(
    anvil: Anvil, evm: EvmRpcBackend
) -> None:
    """Issue 13, item 4: a block's balance increase is split into its transactions' values, so a reorg
    that spreads them over two blocks, or merges them into one, never counts any part twice."""
    address = fresh_address(7)
    a, b = anvil.signed([(address, 6 * 10**17), (address, 3 * 10**17)])
    via = {"from": anvil.accounts[1], "to": forwarder(anvil, address), "value": hex(10**17)}
    height = anvil.mine_together([a, b, via])
    tx_a, tx_b = (anvil.rpc("eth_getBlockByNumber", hex(height), False)["transactions"][i] for i in (0, 1))
    anvil.mine()
    assert credits(await evm.scan([address]), address) == [
        (tx_a, 6 * 10**17, height),
        (tx_b, 3 * 10**17, height),
        (f"{address}@{height}", 10**17, height),
    ]
    anvil.reorg(2, [(a, 0), (b, 1)])  # b moves one block up; the internal transfer is gone
    assert credits(await evm.scan([address]), address) == [(tx_a, 6 * 10**17, height), (tx_b, 3 * 10**17, height + 1)]
    anvil.reorg(2, [(a, 0), (b, 0)])  # merged into one block again
    assert credits(await evm.scan([address]), address) == [(tx_a, 6 * 10**17, height), (tx_b, 3 * 10**17, height)]
    assert anvil.balance(address) == 9 * 10**17


@pytest.mark.nodes
async def test_evm_a_payment_in_the_block_of_a_sweep_is_netted(anvil: Anvil, evm: EvmRpcBackend) -> None:
    address = fresh_address(8)
    first = anvil.send(address, 10**18)
    anvil.rpc("anvil_impersonateAccount", address)
    (paying,) = anvil.signed([(address, 5 * 10**17)])
    sweep = {"from": address, "to": anvil.accounts[1], "value": hex(2 * 10**17)}
    height = anvil.mine_together([paying, sweep])
    net = anvil.balance(address) - 10**18  # the payment, less the sweep and its fee
    tx = str(anvil.rpc("eth_getBlockByNumber", hex(height), False)["transactions"][0])
    assert credits(await evm.scan([address]), address) == [(first, 10**18, height - 1), (tx, net, height)]


@pytest.mark.nodes
@pytest.mark.parametrize(("tag", "behind"), [("safe", 32), ("finalized", 64)])  # anvil: tip − 32, tip − 64
async def test_evm_tag_depth_counts_at_or_below_the_tagged_block(anvil: Anvil, tag: BlockTag, behind: int) -> None:
    """Issue 13, item 7: ETH_CONFIRMATIONS=safe|finalized. A payment shows 0 confirmations until the
    node's tagged block reaches it, then its count from the tip."""
    address = fresh_address(9)
    backend = EvmRpcBackend(anvil.url, tag, TIMEOUT * 5)
    anvil.mine(2 * behind)  # the tag's block is past genesis
    tx = anvil.send(address, 10**16)
    height = anvil.block_number()
    anvil.mine(behind - 1)
    assert int(anvil.rpc("eth_getBlockByNumber", tag, False)["number"], 16) == height - 1
    assert only(await backend.scan([address]), address) == SeenPayment(
        tx, address, 10**16, 0, height, anvil.block_hash(height)
    )
    anvil.mine()
    assert only(await backend.scan([address]), address).confirmations == behind + 1
    anvil.mine()
    with patch.object(backend._rpc, "_send", wraps=backend._rpc._send) as sent:
        assert only(await backend.scan([address]), address).confirmations == behind + 2
    assert sent.call_count == 2  # tip and tag in one batch, then one batch: the anchor holds the payment
    await backend.close()


@pytest.fixture
async def pruned(anvil: Anvil) -> AsyncIterator[tuple[NodeWithoutHistory, EvmRpcBackend]]:
    node = NodeWithoutHistory(anvil.url)
    backend = EvmRpcBackend(await node.start(), 3, TIMEOUT * 5)
    yield node, backend
    await backend.close()
    await node.stop()


@pytest.mark.nodes
async def test_evm_a_state_the_node_no_longer_keeps_leaves_only_that_address_unknown(
    anvil: Anvil, pruned: tuple[NodeWithoutHistory, EvmRpcBackend]
) -> None:
    """Issue 13, item 7: an old invoice on a node without full history costs its own answer only."""
    node, backend = pruned
    old, new, idle = fresh_address(10), fresh_address(11), fresh_address(12)
    anvil.send(old, 10**17)
    anvil.mine(5)
    node.forget(old, below=anvil.block_number())  # its payment is older than the node's state window
    tx = anvil.send(new, 2 * 10**17)
    snapshot = await backend.scan([old, new, idle])
    assert old not in snapshot.payments  # unknown: neither paid nor "nothing"
    assert (only(snapshot, new).natural_id, snapshot.payments[idle]) == (tx, [])
    assert node.refused > 0

    node.error = {"code": -32005, "message": "limit exceeded"}  # any other refusal still fails the scan
    with pytest.raises(RpcError, match="limit exceeded"):
        await backend.scan([old, new])


@pytest.mark.nodes
async def test_core_tip_height_is_the_nodes_block_count(litecoind: Litecoind, core: CoreRpcBackend) -> None:
    assert await core.tip_height() == litecoind.rpc("getblockcount")


@pytest.mark.nodes
async def test_evm_since_reads_nothing_older_and_its_anchor_serves_no_older_scan(
    anvil: Anvil, evm: EvmRpcBackend
) -> None:
    """A refund to the buyer's own account, which has a past (a genesis balance, its own sends, an earlier
    payment of the same amount): with `since` no state below that height is read and only the new payment
    is found; a later scan of the whole history does not take the anchor that began there."""
    buyer, other = anvil.accounts[7], anvil.accounts[8]
    anvil.send(other, 10**18, sender=buyer)
    old = anvil.send(buyer, 5 * 10**17, sender=anvil.accounts[2])
    anvil.mine(2)
    start = await evm.tip_height()
    assert start == anvil.block_number()
    new = anvil.send(buyer, 5 * 10**17, sender=anvil.accounts[3])
    anvil.mine(4)
    read: list[int] = []
    fetch = evm._fetch

    async def recording(probes, heights=None, *, full=False):
        read.extend(h for _, h in probes)
        return await fetch(probes, heights, full=full)

    with patch.object(evm, "_fetch", recording):
        snapshot = await evm.scan([buyer], since={buyer: start})
    assert [(p.natural_id, p.amount) for p in snapshot.payments[buyer]] == [(new.lower(), 5 * 10**17)]
    assert read and min(read) == start
    whole = {p.natural_id for p in (await evm.scan([buyer])).payments[buyer]}
    assert {old.lower(), new.lower()} <= whole
