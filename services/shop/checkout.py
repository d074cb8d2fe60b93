"""Checkout: the cart becomes an order with held stock and an invoice, in one transaction."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from models.enums import Chain
from models.orders import Invoice, Order, OrderItem
from models.shop import User
from models.types import utcnow
from repositories.cart import CartRepo
from repositories.catalog import CatalogRepo
from repositories.orders import OrderRepo
from repositories.stock import StockRepo
from repositories.wallet import WalletRepo
from services.money import amount_due, format_fiat, from_minor
from services.outbox import notify_admins
from services.payments.rates import RateService
from services.wallet.merchant import Wallet


class CheckoutRefused(Exception):
    """The buyer may not check out now; `key` is the l10n string that explains why."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class OutOfStock(Exception):
    def __init__(self, shortages: list[tuple[str, int]]) -> None:
        super().__init__(shortages)
        self.shortages = shortages  # (product name, units left)


class _Short(Exception):
    def __init__(self, products: dict[int, str]) -> None:
        super().__init__(products)
        self.products = products


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    order_id: int
    existing: bool  # the buyer already had an unpaid order: that one is shown again


class CheckoutService:
    def __init__(self, session: AsyncSession, settings: Settings, wallet: Wallet, rates: RateService) -> None:
        self._session = session
        self._settings = settings
        self._wallet = wallet
        self._rates = rates

    async def checkout(self, user_id: int, chain: Chain) -> CheckoutResult:
        """Turn the cart into an order paid in `chain`.

        One transaction creates the order and its items at today's prices, holds the exact units until
        ORDER_TIMEOUT_MINUTES, takes the next derivation index, prices the invoice at the locked rate
        (rounded up in base units) and empties the cart. If any line is short, nothing changes.
        Raises CheckoutRefused, OutOfStock, or RateUnavailable (before anything is written).
        A buyer with an unpaid order gets that order back instead of a second one.
        """
        if chain not in self._wallet.chains:
            raise CheckoutRefused("checkout.chain_unavailable")
        async with read_only(self._session):
            existing = await OrderRepo(self._session).open_order_of(user_id)
        if existing is not None:
            return CheckoutResult(existing.id, existing=True)
        rate = await self._rates.rate(chain)  # network I/O stays outside the transaction
        try:
            async with self._session.begin():
                return await self._create_order(user_id, chain, rate.value, rate.source, rate.at)
        except _Short as short:
            async with read_only(self._session):
                catalog, ids = CatalogRepo(self._session), list(short.products)
                left, on_sale = await StockRepo(self._session).available(ids), await catalog.on_sale(ids)
            raise OutOfStock(
                [(name, left[pid] if pid in on_sale else 0) for pid, name in short.products.items()]
            ) from None

    async def _create_order(
        self, user_id: int, chain: Chain, rate: Decimal, source: str, rate_at: datetime
    ) -> CheckoutResult:
        s = self._session
        # Lock the buyer's row (PostgreSQL) so a double-tapped checkout cannot create two orders.
        user = (await s.execute(select(User).where(User.id == user_id).with_for_update())).scalar_one()
        if user.is_banned:
            raise CheckoutRefused("error.banned")
        if user.timeout_count >= self._settings.max_user_timeouts:
            raise CheckoutRefused("checkout.too_many_timeouts")
        orders = OrderRepo(s)
        existing = await orders.open_order_of(user_id)
        if existing is not None:
            return CheckoutResult(existing.id, existing=True)
        lines = await CartRepo(s).lines(user_id)
        if not lines:
            raise CheckoutRefused("cart.empty")
        now = utcnow()
        until = now + timedelta(minutes=self._settings.order_timeout_minutes)
        total_minor = sum(item.quantity * product.price_minor for item, product in lines)
        order = await orders.add(
            Order(
                user_id=user_id,
                total_minor=total_minor,
                fiat_currency=self._settings.fiat_currency,
                created_at=now,
                expires_at=until,
            ),
            [
                OrderItem(product_id=p.id, product_name=p.name, quantity=i.quantity, unit_price_minor=p.price_minor)
                for i, p in lines
            ],
        )
        stock, on_sale = StockRepo(s), await CatalogRepo(s).on_sale([p.id for _, p in lines])
        short = {
            p.id: p.name
            for i, p in lines
            if p.id not in on_sale or len(await stock.reserve(p.id, i.quantity, order.id, until)) < i.quantity
        }
        if short:
            raise _Short(short)
        index = await WalletRepo(s).take_next_index(chain)
        await orders.add_invoice(
            Invoice(
                order_id=order.id,
                chain=chain,
                derivation_index=index,
                address=self._wallet.address(chain, index),
                amount_due=amount_due(chain, from_minor(total_minor), rate),
                rate=rate,
                rate_source=source,
                rate_at=rate_at,
                expires_at=until,
                created_at=now,
            )
        )
        await CartRepo(s).clear(user_id)
        await notify_admins(
            s,
            self._settings.admin_ids,
            "admin.new_order",
            order.id,
            total=format_fiat(from_minor(total_minor), self._settings.fiat_currency),
        )
        return CheckoutResult(order.id, existing=False)
