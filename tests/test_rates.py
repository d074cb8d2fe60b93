"""Exchange rates against doubles of CoinGecko, Kraken and Coinbase."""

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from aiohttp import ClientSession

from config import Settings
from models.enums import Chain
from services.payments.rates import (
    Coinbase,
    CoinGecko,
    Kraken,
    PriceSource,
    RateService,
    RateUnavailable,
    rate_service_from_settings,
)
from tests.doubles import Fault
from tests.doubles.prices import CoinbaseDouble, CoinGeckoDouble, KrakenDouble

FAULTS = [Fault.server_error, Fault.rate_limited, Fault.timeout, Fault.truncated]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Apis:
    def __init__(self) -> None:
        self.gecko, self.kraken, self.coinbase = CoinGeckoDouble(), KrakenDouble(), CoinbaseDouble()
        self.all = (self.gecko, self.kraken, self.coinbase)
        self.services: list[RateService] = []

    def sources(self) -> list[PriceSource]:
        return [CoinGecko(self.gecko.url), Kraken(self.kraken.url), Coinbase(self.coinbase.url)]

    def service(self, clock: Clock, fiat: str = "USD", max_age_seconds: int = 300) -> RateService:
        service = RateService(
            fixed={},
            fiat=fiat,
            max_age_seconds=max_age_seconds,
            sources=self.sources(),
            timeout_seconds=2,  # under the doubles' 5 s "timeout" fault; 0.5 s timed out healthy doubles on a busy CI
            clock=clock,
        )
        self.services.append(service)  # closed by the fixture
        return service


@pytest.fixture
async def apis() -> AsyncIterator[Apis]:
    apis = Apis()
    for api in apis.all:
        await api.start()
    yield apis
    for service in apis.services:
        await service.close()
    for api in apis.all:
        await api.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


# --- fixed rates ---


async def test_fixed_rates_are_returned_as_configured(clock: Clock) -> None:
    service = RateService(fixed={Chain.btc: Decimal("60000")}, fiat="usd", max_age_seconds=300, sources=[], clock=clock)
    rate = await service.rate(Chain.btc)
    assert (rate.symbol, rate.fiat, rate.value, rate.source) == ("BTC", "USD", Decimal("60000"), "fixed")
    assert rate.at == clock.now
    with pytest.raises(RateUnavailable, match="SOL"):  # never silently online
        await service.rate(Chain.sol)


def test_fixed_rates_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RateService(fixed={Chain.btc: Decimal(0)}, fiat="USD", max_age_seconds=300)


async def test_factory_reads_settings() -> None:
    settings = Settings(_env_file=None, rates_fixed="BTC=60000,SOL=150.5", fiat_currency="EUR")
    rate = await rate_service_from_settings(settings).rate(Chain.sol)
    assert (rate.value, rate.fiat, rate.source) == (Decimal("150.5"), "EUR", "fixed")


# --- public APIs ---


async def test_median_of_three_sources(apis: Apis, clock: Clock) -> None:
    apis.gecko.prices[Chain.btc] = Decimal("60000.10")
    apis.kraken.prices[Chain.btc] = Decimal("60300.00000")
    apis.coinbase.prices[Chain.btc] = Decimal("60100.5")
    service = apis.service(clock)
    rate = await service.rate(Chain.btc)
    assert rate.value == Decimal("60100.5") and rate.fiat == "USD"
    assert rate.source == "median(coingecko,kraken,coinbase)"
    assert rate.at == clock.now and rate.at.tzinfo is UTC
    assert (await service.rate(Chain.sol)).value == Decimal("150")


async def test_prices_never_pass_through_float(apis: Apis, clock: Clock) -> None:
    for api in apis.all:
        api.prices[Chain.eth] = Decimal("3456.7890123456789012")  # more digits than a float holds
    assert (await apis.service(clock).rate(Chain.eth)).value == Decimal("3456.7890123456789012")


async def test_eur_when_the_sources_quote_it(apis: Apis, clock: Clock) -> None:
    for api in apis.all:
        api.fiat = "EUR"
    service = apis.service(clock, fiat="eur")
    assert (await service.rate(Chain.eth)).value == Decimal("3000")


async def test_a_fiat_nobody_quotes_is_unavailable(apis: Apis, clock: Clock) -> None:
    service = apis.service(clock, fiat="EUR")  # the doubles quote USD only
    with pytest.raises(RateUnavailable):
        await service.rate(Chain.btc)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
async def test_one_source_down_leaves_the_median_of_two(
    apis: Apis, clock: Clock, fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    apis.kraken.fault = fault
    apis.gecko.prices[Chain.ltc] = Decimal("80")
    apis.coinbase.prices[Chain.ltc] = Decimal("81")
    service = apis.service(clock)
    with caplog.at_level(logging.WARNING, logger="services.payments.rates"):
        rate = await service.rate(Chain.ltc)
    assert rate.value == Decimal("80.5") and rate.source == "median(coingecko,coinbase)"
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("rate source kraken dropped") and "127.0.0.1" not in line


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
async def test_two_sources_down_is_unavailable(apis: Apis, clock: Clock, fault: Fault) -> None:
    apis.gecko.fault = fault
    apis.coinbase.fault = Fault.server_error
    service = apis.service(clock)
    for chain in Chain:
        with pytest.raises(RateUnavailable):
            await service.rate(chain)


@pytest.mark.parametrize("price", [Decimal(0), Decimal(-1)])
async def test_a_non_positive_price_drops_that_source(apis: Apis, clock: Clock, price: Decimal) -> None:
    apis.coinbase.prices[Chain.sol] = price
    service = apis.service(clock)
    assert (await service.rate(Chain.sol)).source == "median(coingecko,kraken)"
    assert (await service.rate(Chain.btc)).source == "median(coingecko,kraken)"  # the whole answer is doubtful


async def test_a_missing_coin_drops_that_source(apis: Apis, clock: Clock) -> None:
    del apis.gecko.prices[Chain.eth]
    del apis.kraken.prices[Chain.eth]
    service = apis.service(clock)
    with pytest.raises(RateUnavailable):
        await service.rate(Chain.eth)


async def test_an_outlier_is_left_out_and_disagreement_refused(apis: Apis, clock: Clock) -> None:
    apis.kraken.prices[Chain.btc] = Decimal("90000")  # 50% off the other two
    assert (await apis.service(clock).rate(Chain.btc)).source == "median(coingecko,coinbase)"
    apis.coinbase.fault = Fault.server_error
    service = apis.service(clock)
    with pytest.raises(RateUnavailable):  # 60000 vs 90000: no way to tell which one is right
        await service.rate(Chain.btc)
    assert (await service.rate(Chain.sol)).source == "median(coingecko,kraken)"


# --- cache and staleness ---


async def test_one_fetch_serves_all_chains_for_a_minute(apis: Apis, clock: Clock) -> None:
    service = apis.service(clock)
    await asyncio.gather(*(service.rate(chain) for chain in Chain for _ in range(5)))
    clock.advance(59)
    for chain in Chain:
        await service.rate(chain)
    assert [len(api.requests) for api in apis.all] == [1, 1, 4]  # Coinbase: one spot request per coin
    clock.advance(1)
    apis.gecko.prices[Chain.btc] = apis.kraken.prices[Chain.btc] = Decimal("61000")
    assert (await service.rate(Chain.btc)).value == Decimal("61000")
    assert [len(api.requests) for api in apis.all] == [2, 2, 8]


async def test_failed_refresh_keeps_the_rate_until_it_is_stale(apis: Apis, clock: Clock) -> None:
    service = apis.service(clock, max_age_seconds=300)
    first = await service.rate(Chain.btc)
    for api in apis.all:
        api.fault = Fault.server_error
    clock.advance(120)
    assert await service.rate(Chain.btc) == first  # refresh failed; still young enough
    assert len(apis.gecko.requests) == 2
    clock.advance(180)
    assert await service.rate(Chain.btc) == first  # exactly max_age
    clock.advance(1)
    with pytest.raises(RateUnavailable):
        await service.rate(Chain.btc)
    for api in apis.all:
        api.fault = Fault.none
    clock.advance(60)
    assert (await service.rate(Chain.btc)).at == clock.now


async def test_shared_session_is_not_closed(apis: Apis, clock: Clock) -> None:
    async with ClientSession() as session:
        service = RateService(fixed={}, fiat="USD", max_age_seconds=300, sources=apis.sources(), session=session)
        assert (await service.rate(Chain.eth)).value == Decimal("3000")
        await service.close()
        assert not session.closed


async def test_stablecoins_get_the_median_of_the_sources_not_a_fixed_one(apis: Apis, clock: Clock) -> None:
    """Issue 16: USDT and USDC are priced like the coins, by the same three sources and the same rule, under
    their own pair names (Kraken: USDTZUSD, USDCUSD); nothing assumes 1.00."""
    apis.gecko.prices["usdt"], apis.kraken.prices["usdt"], apis.coinbase.prices["usdt"] = (
        Decimal("0.9991"),
        Decimal("1.0004"),
        Decimal("0.9997"),
    )
    service = RateService(
        fixed={}, fiat="USD", max_age_seconds=300, symbols=["USDT", "usdc"], sources=apis.sources(), clock=clock
    )
    apis.services.append(service)
    usdt = await service.rate("USDT")
    assert (usdt.symbol, usdt.value, usdt.source) == ("USDT", Decimal("0.9997"), "median(coingecko,kraken,coinbase)")
    assert (await service.rate("usdc")).value == Decimal("0.9998")
    assert (await service.rate(Chain.btc)).value == Decimal("60000")  # one fetch serves coins and tokens
    assert [len(api.requests) for api in apis.all] == [1, 1, 6]
    with pytest.raises(RateUnavailable, match="USDT"):  # and a token without two agreeing sources is refused
        apis.kraken.fault = apis.coinbase.fault = Fault.server_error
        clock.advance(400)
        await service.rate("USDT")
