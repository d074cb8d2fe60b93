"""The payment webhook: signed hints only make the observer look; nothing else gets through."""

import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import func, select

from models.enums import Chain, Network, OrderStatus
from models.ops import OutboxMessage, WebhookEvent
from models.orders import Order, Payment
from processing.chains.base import ProviderError
from processing.chains.core_rpc import CoreRpcBackend
from processing.chains.evm_rpc import EvmRpcBackend
from processing.web import HINT_CHECKS, WebDeps, create_web_app
from processing.webhook import MAX_BODY, sign
from services.money import format_amount
from services.payments.seen import ChainSnapshot, SeenPayment
from tests.keys import LTC_TTUB
from tests.nodes import Anvil, Litecoind, anvil_fixture, anvil_session_fixture, litecoind_fixture  # noqa: F401
from tests.payflow import Shop, fresh_addresses
from tests.shop import seed_product

SECRET = "webhook-test-secret-5f0c1e"
PATH = "/payments/webhook"
BUYER = 401
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_WEBHOOK_EXAMPLES", "1000"))  # per database: 2,000 cases


class StaticChain:
    """A chain backend that shows whatever payments the test put there, and counts its good scans."""

    name = "static"

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.payments: dict[str, list[SeenPayment]] = {}
        self.scans = 0
        self.down = False  # scans fail with ProviderError
        self.tip = 100

    async def watch(self, addresses: Sequence[str], *, rescan_recent: bool = False) -> None:
        pass

    async def scan(self, addresses: Sequence[str], *, since: Mapping[str, int] | None = None) -> ChainSnapshot:
        if self.down:
            raise ProviderError("HTTP 503")
        self.scans += 1
        return ChainSnapshot(self.tip, {a: list(self.payments.get(a, [])) for a in addresses})

    async def tip_height(self) -> int:
        if self.down:
            raise ProviderError("HTTP 503")
        return self.tip

    async def close(self) -> None:
        pass


def hint(address: str, event_id: str | None = None, chain: str = "ltc", txid: str | None = None) -> bytes:
    return json.dumps(
        {"event_id": event_id or uuid.uuid4().hex, "chain": chain, "address": address, "txid": txid}
    ).encode()


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {"X-Shop-Timestamp": str(ts), "X-Shop-Signature": sign(secret, ts, body), "Content-Type": "application/json"}


@dataclass
class Hooked:
    shop: Shop
    chain: StaticChain
    client: TestClient[Any, Any]
    deps: WebDeps

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        response = await self.client.post(PATH, data=body, headers=headers)
        text = await response.text()
        await self.client.app[HINT_CHECKS].wait()
        return response.status, (json.loads(text) if text.startswith("{") else text)

    async def state(self) -> tuple[int, int, tuple[str, ...], int]:
        """(webhook events, payments, order statuses, outbox messages)."""
        async with self.shop.sessions() as s:
            events = (await s.execute(select(func.count()).select_from(WebhookEvent))).scalar_one()
            payments = (await s.execute(select(func.count()).select_from(Payment))).scalar_one()
            statuses = tuple((await s.execute(select(Order.status).order_by(Order.id))).scalars())
            outbox = (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
        return events, payments, statuses, outbox

    def requests(self, outcome: str) -> float:
        value = self.deps.metrics.registry.get_sample_value("shop_webhook_requests_total", {"outcome": outcome})
        return value or 0.0


@pytest.fixture(name="hooked")
async def hooked_fixture(settings, sessions, goods) -> AsyncIterator[Hooked]:
    hooked_settings = settings.model_copy(update={"webhook_secret": SecretStr(SECRET)})
    chain = StaticChain(Chain.ltc)
    shop = Shop.build(hooked_settings, sessions, goods, Chain.ltc, chain)
    deps = WebDeps(
        sessions=sessions, scheduler=AsyncIOScheduler(timezone="UTC"), observer=shop.observer, settings=hooked_settings
    )
    async with TestClient(TestServer(create_web_app(deps))) as client:
        yield Hooked(shop, chain, client, deps)


async def test_only_a_valid_signed_hint_changes_anything(hooked: Hooked, sessions, goods, caplog) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await hooked.shop.order(BUYER, product, 1, Chain.ltc)
    hooked.chain.payments[invoice.address] = [
        SeenPayment("ab" * 32 + ":0", invoice.address, invoice.amount_due, 6, 95, "cd" * 32)
    ]
    body = hint(invoice.address, "evt-1", txid="ab" * 32)
    now = int(time.time())
    big = b'{"event_id": "x", "pad": "' + b"a" * (65 * 1024) + b'"}'
    bad_shape = [
        b"not json",
        b"[]",
        b'{"chain": "ltc", "address": "x"}',
        hint(invoice.address, chain="doge"),
        hint("has space"),
        b'{"event_id": "e", "chain": "ltc", "address": "x", "txid": 5}',
        b"\xff\xfe",
        b"[" * 50_000,
    ]
    cases: list[tuple[str, bytes, dict[str, str], int]] = [
        ("no headers", body, {}, 401),
        ("no signature", body, {"X-Shop-Timestamp": str(now)}, 401),
        ("no timestamp", body, {"X-Shop-Signature": signed(body)["X-Shop-Signature"]}, 401),
        ("stale", body, signed(body, timestamp=now - 400), 401),
        ("future", body, signed(body, timestamp=now + 400), 401),
        ("timestamp not a number", body, {**signed(body), "X-Shop-Timestamp": "1e9"}, 401),
        ("wrong secret", body, signed(body, secret="guess"), 401),
        ("bad hex", body, {**signed(body), "X-Shop-Signature": "sha256=" + "zz" * 32}, 401),
        ("short hex", body, {**signed(body), "X-Shop-Signature": signed(body)["X-Shop-Signature"][:-2]}, 401),
        ("no prefix", body, {**signed(body), "X-Shop-Signature": signed(body)["X-Shop-Signature"][7:]}, 401),
        ("tampered body", body.replace(b"evt-1", b"evt-2"), signed(body), 401),
        ("65 KiB signed", big, signed(big), 413),
        ("65 KiB unsigned", big, {}, 413),
        *((f"malformed {b[:20]!r}", b, signed(b), 400) for b in bad_shape),
    ]
    before = await hooked.state()
    assert before[:3] == (0, 0, ("awaiting_payment",))
    for name, data, headers, expected in cases:
        status, reply = await hooked.post(data, headers)
        assert status == expected, name
        assert set(reply) == {"error"} and SECRET not in json.dumps(reply) and "evt-1" not in json.dumps(reply), name
        assert await hooked.state() == before, name
    assert hooked.chain.scans == 0
    assert (
        hooked.requests("bad_timestamp"),
        hooked.requests("bad_signature"),
        hooked.requests("too_large"),
        hooked.requests("malformed"),
    ) == (5, 6, 2, len(bad_shape))

    assert await hooked.post(body, signed(body)) == (202, {"status": "accepted"})
    events, payments, statuses, outbox = await hooked.state()
    assert (events, payments, statuses) == (1, 1, ("paid",)) and outbox > before[3]
    assert hooked.chain.scans == 1

    # The same event again, even freshly signed: answered, and nothing happens (no second check).
    assert await hooked.post(body, signed(body)) == (202, {"status": "duplicate"})
    assert hooked.chain.scans == 1 and (await hooked.state())[0] == 1

    # Unknown address: 202 as well, logged, no provider traffic. The window's edge still counts.
    with caplog.at_level(logging.INFO, logger="processing.webhook"):
        other = hint("ltc1qunknownaddress0000000000000000000000")
        assert (await hooked.post(other, signed(other, timestamp=int(time.time()) - 295)))[0] == 202
    assert hooked.chain.scans == 1 and (await hooked.state())[:3] == (2, 1, ("paid",))
    assert "no invoice has ltc address ltc1qunknownaddress" in caplog.text
    metrics = hooked.deps.metrics.registry
    assert metrics.get_sample_value("shop_webhook_hint_checks_total", {"result": "checked"}) == 1
    assert metrics.get_sample_value("shop_webhook_hint_checks_total", {"result": "unknown_address"}) == 1


async def test_without_webhook_secret_there_is_no_webhook(settings, sessions, goods) -> None:
    shop = Shop.build(settings, sessions, goods, Chain.ltc, StaticChain(Chain.ltc))
    deps = WebDeps(
        sessions=sessions, scheduler=AsyncIOScheduler(timezone="UTC"), observer=shop.observer, settings=settings
    )
    async with TestClient(TestServer(create_web_app(deps))) as client:
        body = hint("ltc1qanything")
        response = await client.post(PATH, data=body, headers=signed(body, secret=""))
        assert response.status == 404
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(WebhookEvent))).scalar_one() == 0


_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
_JSON = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_FIELD = st.one_of(
    st.sampled_from(["btc", "ltc", "eth", "sol", "doge", "", "LTC"]),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=130),
    st.text(max_size=140),
    _JSON,
)
_HINT_LIKE = st.fixed_dictionaries(
    {}, optional={"event_id": _FIELD, "chain": _FIELD, "address": _FIELD, "txid": _FIELD, "extra": _JSON}
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    body = draw(
        st.one_of(
            st.binary(max_size=300),
            _HINT_LIKE.map(lambda d: json.dumps(d).encode()),
            _JSON.map(lambda v: json.dumps(v).encode()),
        )
    )
    now = int(time.time())
    timestamp = draw(
        st.one_of(
            st.just(str(now)),
            st.integers(-(10**7), 10**7).map(lambda d: str(now + d)),
            st.text(alphabet=_PRINTABLE, max_size=15),
        )
    )
    signing = draw(st.sampled_from(["valid", "valid", "wrong secret", "garbage", "missing"]))
    headers: dict[str, str] = {"X-Shop-Timestamp": timestamp} if draw(st.booleans()) or signing == "valid" else {}
    if signing == "valid" and timestamp.isdigit():
        headers["X-Shop-Signature"] = sign(SECRET, int(timestamp), body)
    elif signing == "wrong secret" and timestamp.isdigit():
        headers["X-Shop-Signature"] = sign(SECRET + "x", int(timestamp), body)
    elif signing == "garbage":
        headers["X-Shop-Signature"] = draw(st.text(alphabet=_PRINTABLE, max_size=80))
    return body, headers


@given(case=requests())
@hypothesis_settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_fuzzed_requests_never_fail_the_server_or_change_state(
    hooked: Hooked, case: tuple[bytes, dict[str, str]]
) -> None:
    body, headers = case
    events, *rest = await hooked.state()
    status, reply = await hooked.post(body, headers)
    assert status in (202, 400, 401), (status, reply)
    after_events, *after_rest = await hooked.state()
    assert after_rest == rest  # no invoices match random addresses: no payment, order or message appears
    assert after_events == events + (status == 202 and reply == {"status": "accepted"})
    assert status == 202 or set(reply) == {"error"}


async def test_signed_hint_gets_a_mined_payment_paid_without_a_cycle(
    settings, sessions, goods, litecoind: Litecoind
) -> None:
    """Real litecoind, no observer cycle ever runs (as if OBSERVER_INTERVAL_SECONDS were an hour)."""
    regtest = settings.model_copy(
        update={
            "network": Network.regtest,
            "ltc_xpub": LTC_TTUB,
            "btc_xpub": "",
            "eth_xpub": "",
            "ltc_confirmations": 2,
            "observer_interval_seconds": 3600,
            "webhook_secret": SecretStr(SECRET),
        }
    )
    backend = CoreRpcBackend(Chain.ltc, f"{litecoind.url}/wallet/hint-{uuid.uuid4().hex[:8]}", 10)
    shop = Shop.build(regtest, sessions, goods, Chain.ltc, backend)
    deps = WebDeps(
        sessions=sessions, scheduler=AsyncIOScheduler(timezone="UTC"), observer=shop.observer, settings=regtest
    )
    app = create_web_app(deps)
    try:
        async with TestClient(TestServer(app)) as client:
            product = await seed_product(sessions, units=2, goods=goods)
            await fresh_addresses(sessions, Chain.ltc)
            invoice = await shop.order(BUYER, product, 1, Chain.ltc)
            await shop.observer.watch_invoice(Chain.ltc, invoice.address)  # as checkout does
            # A hint before the payment changes nothing.
            body = hint(invoice.address)
            assert (await client.post(PATH, data=body, headers=signed(body))).status == 202
            await app[HINT_CHECKS].wait()
            assert await shop.status(invoice.order_id) is OrderStatus.awaiting_payment

            txid = litecoind.send(invoice.address, Decimal(format_amount(Chain.ltc, invoice.amount_due)))
            litecoind.mine(2)
            assert await shop.status(invoice.order_id) is OrderStatus.awaiting_payment  # nobody looked yet
            body = hint(invoice.address.upper(), txid=txid)  # bech32 in capitals, as some notifiers send it
            started = time.perf_counter()
            response = await client.post(PATH, data=body, headers=signed(body))
            answered = time.perf_counter() - started
            assert response.status == 202
            await app[HINT_CHECKS].wait()
            paid = time.perf_counter() - started
            assert await shop.status(invoice.order_id) is OrderStatus.paid
            texts = await shop.sent_texts(BUYER)
            delivered = time.perf_counter() - started
    finally:
        await backend.close()
    assert any(t.startswith(f"✅ Order #{invoice.order_id} is paid.") and "KEY-Editor Pro 1y-" in t for t in texts)
    print(
        f"\nwebhook latency: 202 after {answered * 1000:.1f} ms, order paid after {paid * 1000:.1f} ms, "
        f"'paid' message sent after {delivered * 1000:.1f} ms"
    )


async def test_an_eth_hint_finds_its_invoice_whatever_the_letter_case(settings, sessions, goods, anvil: Anvil) -> None:
    """Issue 13, item 7: providers send ETH addresses in lowercase, our invoices show them EIP-55 mixed
    case. Hex is case-insensitive, so the hint must find the invoice (it used to be "unknown")."""
    hooked = settings.model_copy(update={"eth_confirmations": 1, "webhook_secret": SecretStr(SECRET)})
    backend = EvmRpcBackend(anvil.url, 1, 10)
    shop = Shop.build(hooked, sessions, goods, Chain.eth, backend)
    deps = WebDeps(
        sessions=sessions, scheduler=AsyncIOScheduler(timezone="UTC"), observer=shop.observer, settings=hooked
    )
    app = create_web_app(deps)
    product = await seed_product(sessions, units=1, goods=goods)
    invoice = await shop.order(BUYER, product, 1, Chain.eth)
    assert invoice.address not in (invoice.address.lower(), "0x" + invoice.address[2:].upper())
    try:
        async with TestClient(TestServer(app)) as client:
            for address in (invoice.address.lower(), "0x" + invoice.address[2:].upper()):
                body = hint(address, chain="eth")
                assert (await client.post(PATH, data=body, headers=signed(body))).status == 202
                await app[HINT_CHECKS].wait()
                assert await shop.status(invoice.order_id) is OrderStatus.awaiting_payment  # found, nothing paid yet
            anvil.send(invoice.address, invoice.amount_due)
            body = hint(invoice.address.lower(), chain="eth")
            assert (await client.post(PATH, data=body, headers=signed(body))).status == 202
            await app[HINT_CHECKS].wait()
    finally:
        await backend.close()
    assert await shop.status(invoice.order_id) is OrderStatus.paid
    metrics = deps.metrics.registry
    assert metrics.get_sample_value("shop_webhook_hint_checks_total", {"result": "checked"}) == 3
    assert metrics.get_sample_value("shop_webhook_hint_checks_total", {"result": "unknown_address"}) == 0


async def test_size_limit_holds_for_streamed_bodies_and_ends_exactly_at_64_kib(hooked: Hooked) -> None:
    async def chunks(total: int):  # chunked transfer: no Content-Length to reject early
        for _ in range(total // 4096):
            yield b"x" * 4096

    streamed = await hooked.client.post(PATH, data=chunks(MAX_BODY + 4096), headers=signed(b"whatever"))
    assert streamed.status == 413 and await streamed.json() == {"error": "body too large"}
    exact = b" " * (MAX_BODY - 2) + b"{}"  # the largest allowed body: signed, read, then found malformed
    assert (await hooked.post(exact, signed(exact)))[0] == 400
    assert (await hooked.state())[0] == 0
