"""POST WEBHOOK_PATH: a signed hint "look at this address now", for a node's walletnotify or a provider.

A hint is never trusted for money. It only makes the observer check one address at once, through the
same code path as a cycle, so a payment is seen without waiting for OBSERVER_INTERVAL_SECONDS. A
forged, replayed or garbled hint therefore changes nothing but a log line and a counter.

Wire format:
    X-Shop-Timestamp: <unix seconds>
    X-Shop-Signature: sha256=<hex HMAC-SHA256(WEBHOOK_SECRET, f"{timestamp}." + raw body)>
    {"event_id": str, "chain": "btc|ltc|eth|sol", "address": str, "txid": str | null}

Checks, in this order and before the body is parsed: size (64 KiB, 413), timestamp within
WEBHOOK_TOLERANCE_SECONDS (401), signature (constant-time, 401); then the body's shape (400). A valid
hint answers 202 whether the address is known or not, and a replayed event_id answers 202 and does
nothing. The check itself runs in a tracked background task (see HintChecks).
"""

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.enums import Chain
from models.types import utcnow
from services.payments.hints import HintService, PaymentHint

if TYPE_CHECKING:  # at run time the CLI's `notify` imports this module and must stay quick to start
    from processing.metrics import ShopMetrics

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
BODY_TIMEOUT_SECONDS = 10
CHECK_CONCURRENCY = 4
TIMESTAMP_HEADER = "X-Shop-Timestamp"
SIGNATURE_HEADER = "X-Shop-Signature"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_TOKEN = re.compile(r"[A-Za-z0-9]{1,128}")  # addresses and txids: base58, bech32, hex
_EVENT_ID = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces
_CHAINS = frozenset(chain.value for chain in Chain)

Check = Callable[[Chain, str], Awaitable[bool | None]]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Shop-Signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def timestamp_fresh(header: str | None, now: float, tolerance: int) -> bool:
    if header is None or not _TIMESTAMP.fullmatch(header):
        return False
    return abs(now - int(header)) <= tolerance


def signature_valid(secret: str, timestamp: str, body: bytes, header: str | None) -> bool:
    match = _SIGNATURE.fullmatch(header or "")
    if match is None:
        return False
    expected = sign(secret, int(timestamp), body).removeprefix("sha256=")
    return hmac.compare_digest(expected.encode(), match.group(1).lower().encode())


def parse_hint(body: bytes) -> PaymentHint | None:
    """The hint in a signed body, or None when it is not exactly the documented shape."""
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):  # bad UTF-8 or JSON; absurd nesting
        return None
    if not isinstance(data, dict):
        return None
    event_id, chain, address, txid = (data.get(k) for k in ("event_id", "chain", "address", "txid"))
    if not (
        isinstance(event_id, str)
        and _EVENT_ID.fullmatch(event_id)
        and isinstance(chain, str)
        and chain in _CHAINS
        and isinstance(address, str)
        and _TOKEN.fullmatch(address)
        and (txid is None or (isinstance(txid, str) and _TOKEN.fullmatch(txid)))
    ):
        return None
    return PaymentHint(event_id=event_id, chain=Chain(chain), address=address, txid=txid)


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, reading at most limit + 1 bytes; None when it is larger than `limit`."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    while len(body) <= limit:
        chunk = await request.content.read(limit + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return None if len(body) > limit else bytes(body)


class HintChecks:
    """Runs the observer's check for accepted hints as background tasks the app keeps and awaits.

    At most CHECK_CONCURRENCY run at once. A hint for an address whose check is still waiting to
    start is coalesced into it: that check has not looked at the chain yet, so it sees the same news.
    """

    def __init__(self, check: Check, metrics: "ShopMetrics", concurrency: int = CHECK_CONCURRENCY) -> None:
        self._check = check
        self._metrics = metrics
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: set[tuple[Chain, str]] = set()

    def start(self, hint: PaymentHint, received: float) -> None:
        key = (hint.chain, hint.address)
        if key in self._waiting:
            self._metrics.hint_checks.labels("coalesced").inc()
            return
        self._waiting.add(key)
        task = asyncio.create_task(self._run(hint, received), name=f"hint-{hint.chain}-{hint.event_id[:16]}")
        self._tasks.add(task)  # the loop holds only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Until every started check has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self, timeout: float = 10) -> None:
        """Let running checks finish for a while on shutdown, then cancel the rest."""
        try:
            await asyncio.wait_for(self.wait(), timeout)
        except TimeoutError:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, hint: PaymentHint, received: float) -> None:
        async with self._slots:
            self._waiting.discard((hint.chain, hint.address))
            try:
                found = await self._check(hint.chain, hint.address)
            except Exception:  # a bug or a database outage: keep serving, say why in the log
                log.exception("webhook hint %s: the %s check failed", hint.event_id, hint.chain)
                result = "error"
            else:
                result = {True: "checked", False: "unknown_address", None: "provider_failed"}[found]
                if found is False:
                    log.info("webhook hint %s: no invoice has %s address %s", hint.event_id, hint.chain, hint.address)
                elif found is None:
                    log.warning(
                        "webhook hint %s: the %s provider could not tell; the observer retries",
                        hint.event_id,
                        hint.chain,
                    )
            self._metrics.hint_checks.labels(result).inc()
            self._metrics.hint_seconds.observe(time.monotonic() - received)


def payment_webhook(
    secret: str, tolerance: int, sessions: async_sessionmaker[AsyncSession], checks: HintChecks, metrics: "ShopMetrics"
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The POST handler. Error bodies are {"error": reason} and never echo the request."""

    def answer(code: int, outcome: str, key: str, value: str) -> web.Response:
        metrics.webhook_requests.labels(outcome).inc()
        return web.json_response({key: value}, status=code)

    async def handle(request: web.Request) -> web.Response:
        received = time.monotonic()
        try:
            async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
                body = await read_limited(request, MAX_BODY)
        except TimeoutError:
            return answer(408, "slow_body", "error", "body too slow")
        if body is None:
            return answer(413, "too_large", "error", "body too large")
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        if timestamp is None or not timestamp_fresh(timestamp, time.time(), tolerance):
            return answer(401, "bad_timestamp", "error", "missing or stale timestamp")
        if not signature_valid(secret, timestamp, body, request.headers.get(SIGNATURE_HEADER)):
            return answer(401, "bad_signature", "error", "bad signature")
        hint = parse_hint(body)
        if hint is None:
            return answer(400, "malformed", "error", "malformed body")
        try:
            async with sessions() as session:
                new = await HintService(session).remember(hint, utcnow(), tolerance)
        except (SQLAlchemyError, OSError) as e:
            log.warning("webhook hint %s not stored: %s", hint.event_id, type(e).__name__)
            return answer(503, "unavailable", "error", "try again later")
        if not new:
            return answer(202, "duplicate", "status", "duplicate")
        checks.start(hint, received)
        return answer(202, "accepted", "status", "accepted")

    return handle
