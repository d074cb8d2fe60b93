"""Checkout: the cart becomes an order with held stock and an invoice, in one transaction."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.chains import Asset
from models.database import read_only
from models.enums import Chain
from models.orders import Invoice, Order, OrderItem
from models.shop import User
from models.types import utcnow
from repositories.cart import CartRepo
from repositories.catalog import CatalogRepo
from repositories.orders import OrderRepo
from repositories.wallet import WalletRepo
from services.money import amount_due, from_minor
from services.orders.lifecycle import OrderLifecycle, OutOfStock, buyer
from services.outbox import notify_admins
from services.payments.rates import RateService
from services.wallet.merchant import Wallet


class CheckoutRefused(Exception):
    """The buyer may not check out now; `key` is the l10n string that explains why."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


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

    async def checkout(self, user_id: int, chain: Chain, token: str | None = None) -> CheckoutResult:
        """Turn the cart into an order paid on `chain` in its coin, or in the token `token` (a symbol of
        ETH_TOKENS / SOL_TOKENS) on it.

        One transaction creates the order and its items at today's prices, holds the exact units until
        ORDER_TIMEOUT_MINUTES, takes the next derivation index of the chain (a token invoice too: an
        address is never used twice, whatever the asset), prices the invoice at the asset's locked rate
        (rounded up in its base units) and empties the cart. If any line is short, nothing changes.
        Raises CheckoutRefused, services.orders.lifecycle.OutOfStock (with what is left of each short
        line), or RateUnavailable (before anything is written).
        A buyer with an unpaid order gets that order back instead of a second one.
        """
        asset = self._wallet.asset(chain, token)
        if asset is None:
            raise CheckoutRefused("checkout.chain_unavailable")
        async with read_only(self._session):
            existing = await OrderRepo(self._session).open_order_of(user_id)
        if existing is not None:
            return CheckoutResult(existing.id, existing=True)
        rate = await self._rates.rate(asset.symbol)  # network I/O stays outside the transaction
        async with self._session.begin():
            return await self._create_order(user_id, asset, rate.value, rate.source, rate.at)

    async def _create_order(
        self, user_id: int, asset: Asset, rate: Decimal, source: str, rate_at: datetime
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
        on_sale = await CatalogRepo(s).on_sale([p.id for _, p in lines])
        if hidden := [(p.name, 0) for _, p in lines if p.id not in on_sale]:
            raise OutOfStock(hidden)  # a buyer cannot hold what the shop no longer sells
        order = await OrderLifecycle(s, self._settings).place(
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
            buyer(user.telegram_id),
        )
        chain = asset.chain
        index = await WalletRepo(s).take_next_index(chain)
        await self._warn_gap(chain, index)
        await orders.add_invoice(
            Invoice(
                order_id=order.id,
                chain=chain,
                asset=asset.symbol,
                token=asset.token,
                decimals=asset.decimals,
                derivation_index=index,
                address=self._wallet.address(chain, index),
                amount_due=amount_due(asset, from_minor(total_minor), rate),
                rate=rate,
                rate_source=source,
                rate_at=rate_at,
                expires_at=until,
                created_at=now,
            )
        )
        await CartRepo(s).clear(user_id)
        return CheckoutResult(order.id, existing=False)

    async def _warn_gap(self, chain: Chain, index: int) -> None:
        """Tell admins once when this index makes the run of unused addresses after the last paid one longer
        than GAP_LIMIT_WARN: a wallet with a smaller gap limit stops looking before later payments."""
        last_paid = await WalletRepo(self._session).last_paid_index(chain)
        run = index - (-1 if last_paid is None else last_paid)
        if run == self._settings.gap_limit_warn + 1:
            limit = self._settings.gap_limit_warn
            await notify_admins(
                self._session,
                self._settings.admin_ids,
                "admin.gap_limit",
                None,
                coin=chain.upper(),
                gap=run,
                limit=limit,
            )
