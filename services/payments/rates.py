"""Exchange rates (fiat per 1 coin or token); services.money turns a fiat total into base units at one.

Rates are pinned by RATES_FIXED, or else taken as the median of public price APIs: CoinGecko
(an aggregate over many exchanges), Kraken and Coinbase (two large exchanges with direct USD and
EUR markets). They are asked concurrently, once per `cache_seconds` for every symbol the shop
takes: the four coins and the configured tokens. A stablecoin gets the same rule as a coin: its
price is what the sources say (USDT trades near, not at, 1 USD), never an assumed 1.00.

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
from models.chains import CHAINS, PRICED, PriceIds

log = logging.getLogger(__name__)

MIN_SOURCES = 2

GetJson = Callable[[str, Mapping[str, str]], Awaitable[Any]]  # (url, query) -> parsed JSON


@dataclass(frozen=True)
class Rate:
    symbol: str  # "BTC", "USDT"
    fiat: str
    value: Decimal  # fiat per 1 coin or token
    source: str  # "fixed" or e.g. "median(coingecko,kraken,coinbase)"
    at: datetime  # tz-aware UTC


class RateUnavailable(Exception):
    """No fresh rate for this coin or token. The message is safe to show to a buyer."""

    def __init__(self, symbol: str) -> None:
        super().__init__(f"{symbol} payments are unavailable right now: there is no current exchange rate.")
        self.symbol = symbol


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

    async def prices(self, get: GetJson, fiat: str, wanted: Sequence[PriceIds]) -> dict[str, Decimal]:
        """Prices in `fiat` (upper case) of every wanted symbol, by symbol; any problem raises."""


class _HttpSource:
    default_url = ""

    def __init__(self, base_url: str = "") -> None:
        self.base_url = (base_url or self.default_url).rstrip("/")


class CoinGecko(_HttpSource):
    """GET /api/v3/simple/price?ids=bitcoin,...&vs_currencies=usd -> {"bitcoin": {"usd": 67187.33}, ...}"""

    name, default_url = "coingecko", "https://api.coingecko.com"

    async def prices(self, get: GetJson, fiat: str, wanted: Sequence[PriceIds]) -> dict[str, Decimal]:
        query = {"ids": ",".join(c.coingecko_id for c in wanted), "vs_currencies": fiat.lower()}
        body = await get(f"{self.base_url}/api/v3/simple/price", query)
        return {c.symbol: _price(body[c.coingecko_id][fiat.lower()]) for c in wanted}


class Kraken(_HttpSource):
    """GET /0/public/Ticker?pair=XBTUSD,... -> {"error": [], "result": {"XXBTZUSD": {"c": ["67187.1", "0.01"]}}}

    Kraken answers under its own pair names: "XXBTZUSD" for the old assets, "SOLUSD" for new ones,
    "USDTZUSD" for Tether. `c` is the last trade closed, [price, lot volume].
    """

    name, default_url = "kraken", "https://api.kraken.com"

    async def prices(self, get: GetJson, fiat: str, wanted: Sequence[PriceIds]) -> dict[str, Decimal]:
        query = {"pair": ",".join(c.kraken_asset + fiat for c in wanted)}
        body = await get(f"{self.base_url}/0/public/Ticker", query)
        if body["error"]:
            raise BadAnswer(f"error {str(body['error'])[:100]}")
        result = body["result"]

        def pair(asset: str) -> str:
            names = (asset + fiat, f"X{asset}Z{fiat}", f"{asset}Z{fiat}")
            return next((name for name in names if name in result), names[0])

        return {c.symbol: _price(result[pair(c.kraken_asset)]["c"][0]) for c in wanted}


class Coinbase(_HttpSource):
    """GET /v2/prices/BTC-USD/spot -> {"data": {"amount": "67187.15", "base": "BTC", "currency": "USD"}}"""

    name, default_url = "coinbase", "https://api.coinbase.com"

    async def prices(self, get: GetJson, fiat: str, wanted: Sequence[PriceIds]) -> dict[str, Decimal]:
        async def spot(symbol: str) -> Decimal:
            data = (await get(f"{self.base_url}/v2/prices/{symbol}-{fiat}/spot", {}))["data"]
            if data["base"] != symbol or data["currency"] != fiat:
                raise BadAnswer("answer for another pair")
            return _price(data["amount"])

        answers = await asyncio.gather(*(spot(c.coinbase_symbol) for c in wanted), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return {c.symbol: answer for c, answer in zip(wanted, answers, strict=True) if isinstance(answer, Decimal)}


class RateService:
    """One per process: caches the rates and shares one in-flight fetch between concurrent callers."""

    def __init__(
        self,
        *,
        fixed: Mapping[str, Decimal],
        fiat: str,
        max_age_seconds: int,
        symbols: Sequence[str] = (),
        cache_seconds: int = 60,
        sources: Sequence[PriceSource] | None = None,
        timeout_seconds: float = 5.0,
        max_deviation: Decimal = Decimal("0.05"),
        session: ClientSession | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """fixed: rates by symbol (a Chain stands for its coin's symbol); when given, the APIs are never
        asked. symbols: what to quote besides the four coins (the configured tokens); each one of PRICED."""
        if any(not value.is_finite() or value <= 0 for value in fixed.values()):
            raise ValueError("fixed rates must be positive")
        self._fixed = {symbol.upper(): value for symbol, value in fixed.items()}
        wanted = dict.fromkeys([c.symbol for c in CHAINS.values()] + [s.upper() for s in symbols])
        self._wanted = [PRICED[symbol] for symbol in wanted]
        self._fiat = fiat.upper()
        self._max_age = timedelta(seconds=max_age_seconds)
        self._cache_for = timedelta(seconds=cache_seconds)
        self._sources: list[PriceSource] = [CoinGecko(), Kraken(), Coinbase()] if sources is None else list(sources)
        self._timeout = ClientTimeout(total=timeout_seconds)
        self._max_deviation = max_deviation
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._rates: dict[str, Rate] = {}
        self._next_fetch: datetime | None = None
        self._lock = asyncio.Lock()

    async def rate(self, symbol: str) -> Rate:
        """The current rate of a coin or token (by symbol, any case; a Chain stands for its coin) in the
        shop's fiat. Fetches at most once per `cache_seconds` (failed fetches included, so an outage is not
        hammered); changes nothing else.

        Raises RateUnavailable: the symbol is missing from a non-empty fixed table, or no rate
        younger than `max_age_seconds` could be had.
        """
        symbol = symbol.upper()
        if self._fixed:
            if symbol not in self._fixed:
                raise RateUnavailable(symbol)
            return Rate(symbol, self._fiat, self._fixed[symbol], "fixed", self._clock())
        if self._fetch_due():
            async with self._lock:
                if self._fetch_due():  # another caller may have fetched while we waited
                    await self._fetch()
        rate = self._rates.get(symbol)
        if rate is None or self._clock() - rate.at > self._max_age:
            raise RateUnavailable(symbol)
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
        for symbol in (c.symbol for c in self._wanted):
            quotes = {s.name: a[symbol] for s, a in zip(self._sources, answers, strict=True) if a and symbol in a}
            middle = statistics.median(quotes.values()) if quotes else Decimal(0)
            agreeing = {name: p for name, p in quotes.items() if abs(p - middle) <= middle * self._max_deviation}
            if len(agreeing) >= MIN_SOURCES:
                value, source = statistics.median(agreeing.values()), f"median({','.join(agreeing)})"
                self._rates[symbol] = Rate(symbol, self._fiat, value, source, now)
            else:
                log.warning("rate %s: %d of %d answers agree, need %d", symbol, len(agreeing), len(quotes), MIN_SOURCES)
        self._next_fetch = now + self._cache_for

    async def _ask(self, source: PriceSource) -> dict[str, Decimal] | None:
        try:
            return await source.prices(self._get_json, self._fiat, self._wanted)
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
    """Quotes the four coins and every configured token."""
    return RateService(
        fixed=settings.rates_fixed,
        fiat=settings.fiat_currency,
        max_age_seconds=settings.rate_max_age_seconds,
        symbols=[*settings.eth_tokens, *settings.sol_tokens],
    )
