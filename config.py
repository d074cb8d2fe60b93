"""All settings of the shop, read from the environment and an optional `.env` file.

Nothing here runs at import: `bot/__main__.py` builds `Settings()` once and passes it down;
tests build their own. `.env.example` documents every variable.
"""

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.chains import CHAINS, PRICED, TOKENS
from models.enums import Chain, Network

ROOT = Path(__file__).resolve().parent
BlockTag = Literal["safe", "finalized"]  # JSON-RPC block tags ETH_CONFIRMATIONS may name instead of a count
TOKEN_RE = re.compile(r"^\d{5,20}:[A-Za-z0-9_-]{30,}$")
CONTRACT_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
MINT_RE = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")  # a base58 public key


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ROOT / ".env", env_file_encoding="utf-8", extra="ignore")

    # Telegram
    bot_token: SecretStr = SecretStr("")
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str = ""
    telegram_webhook_secret: SecretStr = SecretStr("")
    telegram_webhook_path: str = "/telegram/webhook"  # served on the processing server in webhook mode
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    default_language: Literal["en", "de"] = "en"

    # Storage
    database_url: str = "sqlite+aiosqlite:///data/shop.db"
    redis_url: str = ""

    # Processing server (webhook, health, metrics)
    processing_host: str = "127.0.0.1"
    processing_port: int = 8080
    log_level: str = "INFO"
    loop_lag_probe_ms: int = Field(0, ge=0)  # > 0: /metrics shows the longest event-loop stall (for measuring)
    webhook_secret: SecretStr = SecretStr("")  # empty: POST WEBHOOK_PATH answers 404
    webhook_path: str = "/payments/webhook"
    webhook_tolerance_seconds: int = Field(300, ge=1)

    # Shop
    shop_name: str = ""  # empty: the built-in texts say "the shop"
    support_contact: str = ""  # e.g. @myshop_support or an e-mail address, shown in /terms and /paysupport
    fiat_currency: str = "USD"
    order_timeout_minutes: int = Field(30, ge=1)
    max_user_timeouts: int = Field(3, ge=1)
    free_cancels_per_day: int = Field(3, ge=0)  # a buyer's cancels beyond this in 24 h count as timeouts
    address_retention_days: int = Field(30, ge=0)  # shipping addresses are erased this long after ship or close
    credit_expiry_days: int = Field(0, ge=0)  # store credit unused this long expires; 0: never
    # Per buyer and kind of update (messages, button presses): a burst, then a steady rate; admins are exempt.
    throttle_burst: int = Field(10, ge=1)
    throttle_per_minute: int = Field(30, ge=1)
    # Channel and group access: the renewal invoice goes out this many days before the end; an invite link
    # works for this many hours (and for one person).
    access_renewal_days: int = Field(3, ge=0)
    access_invite_hours: int = Field(24, ge=1)

    # Wallet
    network: Network = Network.mainnet
    btc_xpub: str = ""
    ltc_xpub: str = ""
    eth_xpub: str = ""
    sol_key_file: Path = Path("data/sol.key")
    wallet_key: SecretStr = SecretStr("")
    goods_key: SecretStr = SecretStr("")
    gap_limit_warn: int = 15
    eth_chain_id: int = 1

    # Chain watching
    btc_backend: Literal["esplora", "core-rpc"] = "esplora"
    ltc_backend: Literal["esplora", "core-rpc"] = "esplora"
    btc_esplora_url: str = ""  # default per NETWORK, see esplora_url()
    ltc_esplora_url: str = ""
    btc_rpc_url: SecretStr = SecretStr("")
    ltc_rpc_url: SecretStr = SecretStr("")
    eth_rpc_url: SecretStr = SecretStr("")
    sol_rpc_url: SecretStr = SecretStr("")
    sol_commitment: Literal["confirmed", "finalized"] = "finalized"
    btc_confirmations: int = Field(CHAINS[Chain.btc].default_confirmations, ge=1)
    ltc_confirmations: int = Field(CHAINS[Chain.ltc].default_confirmations, ge=1)
    # A count from the tip, or a tag: a payment counts once its block is at or below the node's safe or finalized block
    eth_confirmations: Annotated[int, Field(ge=1)] | BlockTag = CHAINS[Chain.eth].default_confirmations
    provider_timeout_seconds: float = Field(10.0, gt=0)
    observer_interval_seconds: int = Field(30, ge=1)
    check_now_seconds: int = Field(30, ge=0)  # "check now" asks at most this often per invoice; 0: every tap
    payment_tolerance_percent: Decimal = Field(Decimal(0), ge=0, lt=100)
    underpaid_grace_minutes: int = Field(30, ge=0)
    monitor_hours: int = Field(24, ge=0)

    # Tokens taken on the networks above: "USDT:0xdAC1…,USDC:0xA0b8…" (symbol:contract), "USDC:EPjF…"
    # (symbol:mint). Their decimals are read from the chain at startup.
    eth_tokens: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    sol_tokens: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

    # Rates: "BTC=60000,USDT=1" (fiat per coin or token) pins them; otherwise public APIs are asked.
    # Per network: a fee (positive) or discount (negative) in percent of the goods, "ETH=1.5,SOL=-2"; a token
    # pays its network's.
    coin_fees: Annotated[dict[Chain, Decimal], NoDecode] = Field(default_factory=dict)

    rates_fixed: Annotated[dict[str, Decimal], NoDecode] = Field(default_factory=dict)
    rate_max_age_seconds: int = 300

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("webhook_path", "telegram_webhook_path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in "?#{} "):
            raise ValueError("must be an absolute URL path like /payments/webhook")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL like https://api.telegram.org")
        return value.rstrip("/")

    @field_validator("rates_fixed", mode="before")
    @classmethod
    def _parse_rates(cls, value: object) -> object:
        if isinstance(value, dict):  # e.g. {Chain.btc: ...} from code: a chain stands for its coin's symbol
            value = ",".join(f"{coin}={amount}" for coin, amount in value.items())
        if not isinstance(value, str):
            return value
        rates: dict[str, Decimal] = {}
        for pair in filter(None, value.replace(" ", "").split(",")):
            coin, _, amount = pair.partition("=")
            symbol = coin.upper()
            try:
                if symbol not in PRICED:
                    raise ValueError(f"unknown symbol {coin!r}; known: {', '.join(PRICED)}")
                rates[symbol] = Decimal(amount)
            except (ValueError, InvalidOperation) as e:
                raise ValueError(f"expected SYMBOL=PRICE pairs like BTC=60000 or USDT=1, got {pair!r}") from e
        return rates

    @field_validator("eth_tokens", mode="before")
    @classmethod
    def _parse_eth_tokens(cls, value: object) -> object:
        return _tokens(value, CONTRACT_RE, "SYMBOL:0x-contract", str.lower)

    @field_validator("sol_tokens", mode="before")
    @classmethod
    def _parse_sol_tokens(cls, value: object) -> object:
        return _tokens(value, MINT_RE, "SYMBOL:base58-mint", str)

    @field_validator("coin_fees", mode="before")
    @classmethod
    def _parse_coin_fees(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        fees: dict[Chain, Decimal] = {}
        for pair in filter(None, value.replace(" ", "").split(",")):
            coin, _, percent = pair.partition("=")
            try:
                fees[Chain(coin.lower())] = Decimal(percent)
            except (ValueError, InvalidOperation) as e:
                raise ValueError(f"expected COIN=PERCENT pairs like ETH=1.5,SOL=-2, got {pair!r}") from e
        return fees

    @field_validator("coin_fees")
    @classmethod
    def _check_coin_fees(cls, fees: dict[Chain, Decimal]) -> dict[Chain, Decimal]:
        for chain, percent in fees.items():
            if not (percent.is_finite() and Decimal(-100) < percent <= 100) or percent != round(percent, 2):
                raise ValueError(f"{chain.upper()}: a fee from -99.99 to 100 percent, at most two decimals")
        return fees

    def coin_fee_percent(self, chain: Chain) -> Decimal:
        """The fee (positive) or discount (negative) in percent for paying in `chain`: the one place that looks
        it up, so assets can get fees of their own by changing only this."""
        return self.coin_fees.get(chain, Decimal(0))

    @property
    def sqlite_path(self) -> Path | None:
        """The DB file when DATABASE_URL is SQLite, resolved against the repo root."""
        prefix = "sqlite+aiosqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        path = Path(self.database_url.removeprefix(prefix))
        return path if path.is_absolute() else ROOT / path

    def confirmations(self, chain: Chain) -> int:
        """Depth at which a payment counts. A chain without a setting (SOL, which has finality: one means
        SOL_COMMITMENT reached) counts at its table default. ETH_CONFIRMATIONS=safe|finalized counts the
        same way: the backend shows a payment at 0 confirmations until its block is at or below that
        block, so one is enough."""
        eth = self.eth_confirmations if isinstance(self.eth_confirmations, int) else 1
        depths = {Chain.btc: self.btc_confirmations, Chain.ltc: self.ltc_confirmations, Chain.eth: eth}
        return depths.get(chain, CHAINS[chain].default_confirmations)

    @property
    def sol_key_path(self) -> Path:
        return self.sol_key_file if self.sol_key_file.is_absolute() else ROOT / self.sol_key_file

    @property
    def resolved_database_url(self) -> str:
        path = self.sqlite_path
        return f"sqlite+aiosqlite:///{path}" if path else self.database_url


def _tokens(value: object, pattern: re.Pattern[str], shape: str, canonical: Callable[[str], str]) -> object:
    """ETH_TOKENS / SOL_TOKENS: comma-separated SYMBOL:address, each symbol one of models.chains.TOKENS and
    each symbol and address at most once."""
    if not isinstance(value, str):
        return value
    tokens: dict[str, str] = {}
    for pair in filter(None, value.replace(" ", "").split(",")):
        symbol, _, address = pair.partition(":")
        symbol = symbol.upper()
        if symbol not in TOKENS:
            raise ValueError(f"unknown token {symbol!r} in {pair!r}; known: {', '.join(TOKENS)}")
        if not pattern.fullmatch(address):
            raise ValueError(f"expected {shape} pairs, got {pair!r}")
        if symbol in tokens or canonical(address) in tokens.values():
            raise ValueError(f"{pair!r}: each token and each address may appear once")
        tokens[symbol] = canonical(address)
    return tokens


class ConfigError(Exception):
    """A setting is missing or wrong. The message names the variable and is safe to print."""


MIN_SECRET_LENGTH = 16
MIN_SECRET_SYMBOLS = 8  # different characters: "aaaaaaaaaaaaaaaa" is long but guessable


def check_secrets(settings: Settings) -> None:
    """WALLET_KEY and GOODS_KEY seal keys and goods, WEBHOOK_SECRET authenticates payment hints: each one
    that is set must be at least 16 characters with at least 8 different ones. Raises ConfigError naming
    the first weak one (never showing it)."""
    for name in ("wallet_key", "goods_key", "webhook_secret"):
        secret: str = getattr(settings, name).get_secret_value()
        if secret and (len(secret) < MIN_SECRET_LENGTH or len(set(secret)) < MIN_SECRET_SYMBOLS):
            raise ConfigError(
                f"{name.upper()}: too weak; use at least {MIN_SECRET_LENGTH} random characters, "
                "for example the output of `openssl rand -hex 32` (see README.md, 'Settings')"
            )


def check_bot_token(settings: Settings) -> None:
    if not TOKEN_RE.match(settings.bot_token.get_secret_value()):
        raise ConfigError(
            "BOT_TOKEN is missing or malformed: set it to the token @BotFather gave you "
            "(see README.md, 'Talking to @BotFather')."
        )
