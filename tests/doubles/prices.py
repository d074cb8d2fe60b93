"""Doubles of the public price APIs that services.payments.rates asks, speaking their wire formats.

    gecko, kraken, coinbase = CoinGeckoDouble(), KrakenDouble(), CoinbaseDouble()
    url = await gecko.start()
    gecko.prices[Chain.btc] = Decimal("60000.5")   # what the API quotes now (by lowercase symbol: "usdt")
    gecko.fault = Fault.rate_limited                # see tests.doubles.Fault

Each quotes one fiat (`fiat`, default USD) and answers other fiats as the real API does:
- CoinGecko `/api/v3/simple/price?ids=bitcoin,...&vs_currencies=usd` -> {"bitcoin": {"usd": 60000.5}},
  prices as JSON numbers; an unknown vs_currency gives an empty object per coin.
- Kraken `/0/public/Ticker?pair=XBTUSD,...` -> {"error": [], "result": {"XXBTZUSD": {"c": [...], ...}}}, keyed
  by Kraken's own pair names (XXBTZUSD, SOLUSD, USDTZUSD, USDCUSD), prices as strings; an unknown pair gives
  HTTP 200 with an `error` entry.
- Coinbase `/v2/prices/BTC-USD/spot` -> {"data": {"amount": "60000.5", "base": "BTC", "currency": "USD"}};
  an unknown pair gives HTTP 404 with `errors`.
"""

import json
from decimal import Decimal

from aiohttp import web

from models.enums import Chain
from tests.doubles import FaultyServer

# By lowercase symbol (a Chain is its coin's): stablecoins trade near 1 USD, not at it.
PRICES: dict[str, Decimal] = {
    Chain.btc: Decimal("60000"),
    Chain.ltc: Decimal("80"),
    Chain.eth: Decimal("3000"),
    Chain.sol: Decimal("150"),
    "usdt": Decimal("1.0003"),
    "usdc": Decimal("0.9998"),
}
GECKO_IDS = {
    "bitcoin": Chain.btc,
    "litecoin": Chain.ltc,
    "ethereum": Chain.eth,
    "solana": Chain.sol,
    "tether": "usdt",
    "usd-coin": "usdc",
}
KRAKEN_ASSETS = {"XBT": Chain.btc, "LTC": Chain.ltc, "ETH": Chain.eth, "SOL": Chain.sol, "USDT": "usdt", "USDC": "usdc"}
# Kraken's pair names: "X{asset}Z{fiat}" for the oldest, "USDTZUSD" for Tether, "{asset}{fiat}" for the rest
KRAKEN_NAMES = {"XBT": "XXBTZ{fiat}", "LTC": "XLTCZ{fiat}", "ETH": "XETHZ{fiat}", "USDT": "USDTZ{fiat}"}


class _PriceDouble(FaultyServer):
    def __init__(self, fiat: str = "USD") -> None:
        super().__init__()
        self.fiat = fiat
        self.prices: dict[str, Decimal] = dict(PRICES)


class CoinGeckoDouble(_PriceDouble):
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v3/simple/price", self._price)

    async def _price(self, request: web.Request) -> web.Response:
        vs = request.query["vs_currencies"]
        entries = []
        for coin in request.query["ids"].split(","):
            chain = GECKO_IDS.get(coin)
            if chain is None:
                continue
            quoted = vs == self.fiat.lower() and chain in self.prices
            # str(Decimal) is a valid JSON number; the real API sends numbers, not strings
            entries.append(f'"{coin}": {{"{vs}": {self.prices[chain]}}}' if quoted else f'"{coin}": {{}}')
        return web.Response(text="{" + ", ".join(entries) + "}", content_type="application/json")


class KrakenDouble(_PriceDouble):
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/0/public/Ticker", self._ticker)

    async def _ticker(self, request: web.Request) -> web.Response:
        result = {}
        for pair in request.query["pair"].split(","):
            asset, fiat = pair[:-3], pair[-3:]
            chain = KRAKEN_ASSETS.get(asset)
            if chain is None or fiat != self.fiat or chain not in self.prices:
                return web.json_response({"error": ["EQuery:Unknown asset pair"]})
            name = KRAKEN_NAMES.get(asset, "{asset}{fiat}").format(asset=asset, fiat=fiat)
            result[name] = _ticker(str(self.prices[chain]))
        return web.json_response({"error": [], "result": result})


def _ticker(last: str) -> dict[str, object]:
    return {
        "a": [last, "1", "1.000"],
        "b": [last, "2", "2.000"],
        "c": [last, "0.00100000"],
        "v": ["100.0", "2000.0"],
        "p": [last, last],
        "t": [1000, 20000],
        "l": [last, last],
        "h": [last, last],
        "o": last,
    }


class CoinbaseDouble(_PriceDouble):
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/prices/{pair}/spot", self._spot)

    async def _spot(self, request: web.Request) -> web.Response:
        base, _, fiat = request.match_info["pair"].partition("-")
        chain = next((c for c in self.prices if c.upper() == base), None)
        if chain is None or fiat != self.fiat:
            body = {"errors": [{"id": "not_found", "message": "Invalid currency"}]}
            return web.json_response(body, status=404)
        data = {"amount": str(self.prices[chain]), "base": base, "currency": fiat}
        return web.Response(text=json.dumps({"data": data}), content_type="application/json")
