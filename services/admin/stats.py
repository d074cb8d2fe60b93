"""The admin's statistics: orders, revenue per coin and in fiat, conversion and best sellers for today,
7 and 30 days (UTC calendar days); a 30-day revenue chart; a CSV reconciliation export per period.

Revenue counts paid and shipped orders by the day they were paid: fiat from their totals, per coin the
payments still on chain. Read-only throughout.
"""

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.chains import CHAINS, Asset
from models.database import read_only
from models.orders import Refund
from models.types import utcnow
from repositories.refunds import RefundRepo
from repositories.stats import StatsRepo
from services.admin.chart import revenue_png
from services.money import format_amount, from_minor
from services.payments.explorer import tx_id
from services.pricing import Breakdown, order_breakdown
from services.shop.shipping import order_shipping
from services.wallet.goods import GoodsCipher

TOP_PRODUCTS = 5
CHART_DAYS = 30
CSV_HEADER = (
    "order_id",
    "created_at",
    "status",
    "chain",
    "asset",
    "address",
    "due",
    "received",
    "difference",
    "fiat_total",
    "fiat_currency",
    "shipping",
    "shipping_fiat",
    "shipping_address",
    "subtotal_fiat",
    "reseller_discount_fiat",
    "tier",
    "tier_discount_fiat",
    "voucher",
    "voucher_discount_fiat",
    "coin_fee_fiat",
    "credit_fiat",
    "refund",
    "refund_amount",
    "refund_address",
    "refund_txid",
)


class Period(StrEnum):
    today = "today"
    week = "7d"
    month = "30d"

    @property
    def days(self) -> int:
        return {Period.today: 1, Period.week: 7, Period.month: 30}[self]

    def since(self, now: datetime) -> datetime:
        """Midnight UTC at the start of the period's first day."""
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight - timedelta(days=self.days - 1)


@dataclass(frozen=True, slots=True)
class PeriodStats:
    period: Period
    orders: int  # created in the period, any status
    sold: int  # paid in the period and still paid or shipped
    revenue: dict[str, Decimal]  # fiat currency -> sum of those orders' totals
    received: dict[Asset, int]  # base units still on chain, paid to those orders, per asset
    invoices: int  # created in the period
    invoices_paid: int  # of them, whose order got paid

    @property
    def conversion(self) -> Decimal | None:
        """Invoices paid ÷ created, as a percentage with one decimal; None without invoices."""
        if not self.invoices:
            return None
        return (Decimal(100 * self.invoices_paid) / self.invoices).quantize(Decimal("0.1"))


@dataclass(frozen=True, slots=True)
class TopProduct:
    name: str
    units: int
    revenue: Decimal


@dataclass(frozen=True, slots=True)
class Overview:
    periods: list[PeriodStats]
    top: list[TopProduct]  # over the last 30 days


@dataclass(frozen=True, slots=True)
class Export:
    filename: str
    content: bytes
    orders: int


class AdminStatsService:
    def __init__(self, session: AsyncSession, settings: Settings, goods: GoodsCipher | None) -> None:
        """`goods` opens shipping addresses for the reconciliation export."""
        self._session = session
        self._settings = settings
        self._goods = goods

    async def overview(self, now: datetime | None = None) -> Overview:
        now = now or utcnow()
        async with read_only(self._session):
            repo = StatsRepo(self._session)
            periods = [await self._period(repo, period, period.since(now)) for period in Period]
            top = await repo.top_products(Period.month.since(now), TOP_PRODUCTS)
        return Overview(periods, [TopProduct(name, units, from_minor(total)) for name, units, total in top])

    async def revenue_chart(self, now: datetime | None = None) -> bytes:
        """A PNG bar chart of the last 30 days' revenue in the shop's currency, one bar per UTC day."""
        now = now or utcnow()
        first = Period.month.since(now)
        async with read_only(self._session):
            sold = await StatsRepo(self._session).sold(first)
        per_day: dict[date, int] = defaultdict(int)
        for _, paid_at, total, currency in sold:
            if currency == self._settings.fiat_currency:
                per_day[paid_at.astimezone(UTC).date()] += total
        days = [first.date() + timedelta(days=n) for n in range(CHART_DAYS)]
        return await revenue_png(
            [(d, from_minor(per_day[d])) for d in days], self._settings.fiat_currency, f"{days[0]} … {days[-1]} (UTC)"
        )

    async def reconciliation(self, period: Period, now: datetime | None = None) -> Export:
        """CSV, one row per order created in the period: what was due and what arrived (payments still on
        chain), the difference (negative: short), the fiat total (shipping included), the shipping option,
        its price and the shipping address (decrypted: the export is for admins only; empty once erased),
        how the total came about: the items at catalog prices, the reseller, tier and voucher discounts (with
        the tier and the code), the coin's fee (negative: a discount) and the store credit that paid part of it
        (fiat_total is what the invoice was for; an order credit paid entirely has no invoice columns), and its
        refund (the latest not cancelled): status, amount, address and the transaction that paid it. Amounts in
        whole coins. The credit ledger has an export of its own (services.admin.credit)."""
        now = now or utcnow()
        async with read_only(self._session):
            repo = StatsRepo(self._session)
            orders = await repo.orders_with_invoices(period.since(now))
            received: dict[int, int] = defaultdict(int)
            for order_id, _, amount in await repo.received([o.id for o, _ in orders]):
                received[order_id] += amount
            refunds = await RefundRepo(self._session).latest([o.id for o, _ in orders])
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for order, invoice in orders:
            coin = (
                []
                if invoice is None
                else [
                    invoice.chain.value,
                    invoice.asset,
                    invoice.address,
                    format_amount(invoice.unit, invoice.amount_due),
                    format_amount(invoice.unit, received[order.id]),
                    _signed(invoice.unit, received[order.id] - invoice.amount_due),
                ]
            )
            writer.writerow(
                [
                    order.id,
                    order.created_at.isoformat(timespec="seconds"),
                    order.status.value,
                    *(coin or ["", "", "", "", "", ""]),
                    str(from_minor(order.total_minor)),
                    order.fiat_currency,
                    order.shipping_name or "",
                    str(from_minor(order.shipping_minor)),
                    order_shipping(order, self._goods).address or "",
                    *_price_columns(order_breakdown(order)),
                    *_refund(refunds.get(order.id)),
                ]
            )
        name = f"orders-{period.value}-{now.astimezone(UTC).date().isoformat()}.csv"
        return Export(name, out.getvalue().encode(), len(orders))

    @staticmethod
    async def _period(repo: StatsRepo, period: Period, since: datetime) -> PeriodStats:
        sold = await repo.sold(since)
        revenue: dict[str, int] = defaultdict(int)
        for _, _, total, currency in sold:
            revenue[currency] += total
        received: dict[Asset, int] = defaultdict(int)
        for _, asset, amount in await repo.received([order_id for order_id, *_ in sold]):
            received[asset] += amount
        invoices, paid = await repo.invoices(since)
        return PeriodStats(
            period,
            await repo.orders_created(since),
            len(sold),
            {c: from_minor(v) for c, v in sorted(revenue.items())},
            dict(sorted(received.items(), key=_shown_order)),
            invoices,
            paid,
        )


def _price_columns(price: Breakdown) -> list[str]:
    return [
        str(from_minor(price.subtotal)),
        str(from_minor(price.reseller_discount)),
        price.tier_name or "",
        str(from_minor(price.tier_discount)),
        price.voucher_code or "",
        str(from_minor(price.voucher_discount)),
        str(from_minor(price.coin_fee)),
        str(from_minor(price.credit)),
    ]


def _refund(refund: Refund | None) -> list[str]:
    """Its status, amount (in the invoice's asset, as the row's other amounts), address and transaction."""
    if refund is None:
        return ["", "", "", ""]
    amount = format_amount(refund.unit, refund.amount)
    return [refund.status.value, amount, refund.address or "", tx_id(refund.txid) if refund.txid else ""]


def _signed(asset: Asset, amount: int) -> str:
    return format_amount(asset, amount) if amount >= 0 else "-" + format_amount(asset, -amount)


def _shown_order(item: tuple[Asset, int]) -> tuple[bool, int, str]:
    """Coins first in the chains' order, then tokens by network and symbol."""
    asset = item[0]
    return asset.token is not None, list(CHAINS).index(asset.chain), asset.symbol
