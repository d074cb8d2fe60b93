"""Exchange rates (fiat per 1 coin); services.money turns a fiat total into base units at one.

Rates are pinned by RATES_FIXED, or else taken as the median of public price APIs: CoinGecko
(an aggregate over many exchanges), Kraken and Coinbase (two large exchanges with direct USD and
EUR markets). They are asked concurrently, once per `cache_seconds` for all four chains.

A rate needs at least two sources that answered and agree within `max_deviation` of their median:
one source alone can be stale, mis-mapped or simply wrong, and nothing would show it. When that
cannot be had, or the last good rate is older than `max_age_seconds`, `rate()` raises
RateUnavailable and checkout refuses, never quoting a wrong price.
"""

import asyncio
import json
import logging
import statistics
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from aiohttp import ClientError, ClientSession, ClientTimeout

from config import Settings
from models.chains import CHAINS
from models.enums import Chain

log = logging.getLogger(__name__)

MIN_SOURCES = 2

GetJson = Callable[[str, Mapping[str, str]], Awaitable[Any]]  # (url, query) -> parsed JSON


@dataclass(frozen=True)
class Rate:
    chain: Chain
    fiat: str
    value: Decimal  # fiat per 1 coin
    source: str  # "fixed" or e.g. "median(coingecko,kraken,coinbase)"
    at: datetime  # tz-aware UTC


class RateUnavailable(Exception):
    """No fresh rate for this coin. The message is safe to show to a buyer."""

    def __init__(self, chain: Chain) -> None:
        super().__init__(
            f"{CHAINS[chain].symbol} payments are unavailable right now: there is no current exchange rate."
        )
        self.chain = chain


class BadAnswer(Exception):
    """A price API answered, but not with a usable price."""


# What a missing or bad answer raises: network, timeout, status, JSON, missing key, wrong type, bad number.
ANSWER_ERRORS = (ClientError, TimeoutError, BadAnswer, ValueError, LookupError, TypeError, ArithmeticError)


def _price(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise BadAnswer("price is not a number")
    price = Decimal(value)
    if not price.is_finite() or price <= 0:
        raise BadAnswer("price is not positive")
    return price


class PriceSource(Protocol):
    name: str

    async def prices(self, get: GetJson, fiat: str) -> dict[Chain, Decimal]:
        """Prices of all four coins in `fiat` (upper case); any problem raises."""


class _HttpSource:
    default_url = ""

    def __init__(self, base_url: str = "") -> None:
        self.base_url = (base_url or self.default_url).rstrip("/")


class CoinGecko(_HttpSource):
    """GET /api/v3/simple/price?ids=bitcoin,...&vs_currencies=usd -> {"bitcoin": {"usd": 67187.33}, ...}"""

    name, default_url = "coingecko", "https://api.coingecko.com"

    async def prices(self, get: GetJson, fiat: str) -> dict[Chain, Decimal]:
        query = {"ids": ",".join(c.coingecko_id for c in CHAINS.values()), "vs_currencies": fiat.lower()}
        body = await get(f"{self.base_url}/api/v3/simple/price", query)
        return {chain: _price(body[c.coingecko_id][fiat.lower()]) for chain, c in CHAINS.items()}


class Kraken(_HttpSource):
    """GET /0/public/Ticker?pair=XBTUSD,... -> {"error": [], "result": {"XXBTZUSD": {"c": ["67187.1", "0.01"]}}}

    Kraken answers under its own pair names: "XXBTZUSD" for the old assets, "SOLUSD" for new ones.
    `c` is the last trade closed, [price, lot volume].
    """

    name, default_url = "kraken", "https://api.kraken.com"

    async def prices(self, get: GetJson, fiat: str) -> dict[Chain, Decimal]:
        query = {"pair": ",".join(c.kraken_asset + fiat for c in CHAINS.values())}
        body = await get(f"{self.base_url}/0/public/Ticker", query)
        if body["error"]:
            raise BadAnswer(f"error {str(body['error'])[:100]}")
        result = body["result"]

        def pair(asset: str) -> str:
            return asset + fiat if asset + fiat in result else f"X{asset}Z{fiat}"

        return {chain: _price(result[pair(c.kraken_asset)]["c"][0]) for chain, c in CHAINS.items()}


class Coinbase(_HttpSource):
    """GET /v2/prices/BTC-USD/spot -> {"data": {"amount": "67187.15", "base": "BTC", "currency": "USD"}}"""

    name, default_url = "coinbase", "https://api.coinbase.com"

    async def prices(self, get: GetJson, fiat: str) -> dict[Chain, Decimal]:
        async def spot(symbol: str) -> Decimal:
            data = (await get(f"{self.base_url}/v2/prices/{symbol}-{fiat}/spot", {}))["data"]
            if data["base"] != symbol or data["currency"] != fiat:
                raise BadAnswer("answer for another pair")
            return _price(data["amount"])

        answers = await asyncio.gather(*(spot(c.coinbase_symbol) for c in CHAINS.values()), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return {chain: answer for chain, answer in zip(CHAINS, answers, strict=True) if isinstance(answer, Decimal)}


class RateService:
    """One per process: caches the rates and shares one in-flight fetch between concurrent callers."""

    def __init__(
        self,
        *,
        fixed: Mapping[Chain, Decimal],
        fiat: str,
        max_age_seconds: int,
        cache_seconds: int = 60,
        sources: Sequence[PriceSource] | None = None,
        timeout_seconds: float = 5.0,
        max_deviation: Decimal = Decimal("0.05"),
        session: ClientSession | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if any(not value.is_finite() or value <= 0 for value in fixed.values()):
            raise ValueError("fixed rates must be positive")
        self._fixed = dict(fixed)
        self._fiat = fiat.upper()
        self._max_age = timedelta(seconds=max_age_seconds)
        self._cache_for = timedelta(seconds=cache_seconds)
        self._sources: list[PriceSource] = [CoinGecko(), Kraken(), Coinbase()] if sources is None else list(sources)
        self._timeout = ClientTimeout(total=timeout_seconds)
        self._max_deviation = max_deviation
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._rates: dict[Chain, Rate] = {}
        self._next_fetch: datetime | None = None
        self._lock = asyncio.Lock()

    async def rate(self, chain: Chain) -> Rate:
        """The current rate of `chain` in the shop's fiat. Fetches at most once per `cache_seconds`
        (failed fetches included, so an outage is not hammered); changes nothing else.

        Raises RateUnavailable: the chain is missing from a non-empty fixed table, or no rate
        younger than `max_age_seconds` could be had.
        """
        if self._fixed:
            if chain not in self._fixed:
                raise RateUnavailable(chain)
            return Rate(chain, self._fiat, self._fixed[chain], "fixed", self._clock())
        if self._fetch_due():
            async with self._lock:
                if self._fetch_due():  # another caller may have fetched while we waited
                    await self._fetch()
        rate = self._rates.get(chain)
        if rate is None or self._clock() - rate.at > self._max_age:
            raise RateUnavailable(chain)
        return rate

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _fetch_due(self) -> bool:
        return self._next_fetch is None or self._clock() >= self._next_fetch

    async def _fetch(self) -> None:
        answers = await asyncio.gather(*(self._ask(source) for source in self._sources))
        now = self._clock()
        for chain in Chain:
            quotes = {s.name: a[chain] for s, a in zip(self._sources, answers, strict=True) if a and chain in a}
            middle = statistics.median(quotes.values()) if quotes else Decimal(0)
            agreeing = {name: p for name, p in quotes.items() if abs(p - middle) <= middle * self._max_deviation}
            if len(agreeing) >= MIN_SOURCES:
                value, source = statistics.median(agreeing.values()), f"median({','.join(agreeing)})"
                self._rates[chain] = Rate(chain, self._fiat, value, source, now)
            else:
                log.warning("rate %s: %d of %d answers agree, need %d", chain, len(agreeing), len(quotes), MIN_SOURCES)
        self._next_fetch = now + self._cache_for

    async def _ask(self, source: PriceSource) -> dict[Chain, Decimal] | None:
        try:
            return await source.prices(self._get_json, self._fiat)
        except ANSWER_ERRORS as e:
            reason = str(e) if isinstance(e, BadAnswer) else type(e).__name__
            log.warning("rate source %s dropped: %s", source.name, reason)
            return None

    async def _get_json(self, url: str, query: Mapping[str, str]) -> Any:
        if self._session is None:
            self._session = ClientSession()
        headers = {"Accept": "application/json"}
        async with self._session.get(url, params=query, headers=headers, timeout=self._timeout) as response:
            if response.status != 200:
                raise BadAnswer(f"HTTP {response.status}")
            return json.loads(await response.text(), parse_float=Decimal)


def rate_service_from_settings(settings: Settings) -> RateService:
    return RateService(
        fixed=settings.rates_fixed, fiat=settings.fiat_currency, max_age_seconds=settings.rate_max_age_seconds
    )
