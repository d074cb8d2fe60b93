"""Checkout: the cart becomes an order with held stock and an invoice, in one transaction. A cart with
something physical needs the buyer's address and, when the shop offers any, a shipping option, whose price
is part of the total the invoice is priced from. The total comes from services.pricing, step by step: the
buyer's prices, the cart's voucher code (its use taken here), the coin's fee or discount, shipping."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.chains import Asset
from models.database import read_only
from models.enums import Chain, ProductKind
from models.orders import Invoice, Order, OrderItem
from models.shop import ShippingOption, User
from models.types import utcnow
from repositories.cart import CartRepo, CartRow
from repositories.catalog import CatalogRepo
from repositories.orders import OrderRepo
from repositories.shipping import ShippingRepo
from repositories.vouchers import VoucherRepo
from repositories.wallet import WalletRepo
from services.dto import PriceSteps, VoucherProblem
from services.money import amount_due, from_minor, to_basis_points
from services.orders.lifecycle import OrderLifecycle, OutOfStock, buyer
from services.outbox import notify_admins
from services.payments.rates import RateService
from services.pricing import order_columns, price_steps
from services.shop.catalog import line_name
from services.shop.prices import CartPrice, price_cart
from services.shop.shipping import open_draft
from services.shop.vouchers import VoucherRefused, code_problem
from services.wallet.goods import GoodsCipher
from services.wallet.merchant import Wallet


class CheckoutRefused(Exception):
    """The buyer may not check out now; `key` is the l10n string that explains why."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class AddressNeeded(CheckoutRefused):
    """The cart holds something physical, and the buyer has not given an address (or their draft is gone)."""

    def __init__(self) -> None:
        super().__init__("checkout.need_address")


class OptionNeeded(CheckoutRefused):
    """The shop offers shipping options and the buyer's choice is none of them (missing, disabled, forged),
    or they chose one and the shop offers none any more."""

    def __init__(self) -> None:
        super().__init__("checkout.need_shipping")


@dataclass(frozen=True, slots=True)
class ShippingChoice:
    """What the buyer chose for a cart with something physical: the draft of their address
    (services.shop.shipping.ShippingService.draft) and a shipping option (0: none, when none is offered)."""

    draft: str | None
    option_id: int = 0


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    order_id: int
    existing: bool  # the buyer already had an unpaid order: that one is shown again


@dataclass(frozen=True, slots=True)
class CoinPrice:
    """What paying in one coin or token costs: its network's fee (positive) or discount (negative), and the
    total."""

    asset: Asset
    fee_bp: int  # basis points
    total: Decimal


@dataclass(frozen=True, slots=True)
class Quote:
    """What checking out the cart now would cost, in the shop's currency, before the coin is chosen."""

    items: Decimal  # the goods, after the buyer's discounts and the code
    ships: bool  # something in the cart is physical
    shipping_name: str | None
    shipping: Decimal
    total: Decimal
    price: PriceSteps
    coins: list[CoinPrice]  # every coin the shop accepts, with its fee and total


@dataclass(frozen=True, slots=True)
class _Shipping:
    name: str | None
    minor: int
    address: str | None


class CheckoutService:
    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        wallet: Wallet,
        rates: RateService,
        goods: GoodsCipher | None = None,
    ) -> None:
        """`goods` seals shipping addresses: without it, a cart with something physical cannot check out."""
        self._session = session
        self._settings = settings
        self._wallet = wallet
        self._rates = rates
        self._goods = goods

    async def quote(self, user_id: int, option_id: int) -> Quote:
        """The cart's price with shipping option `option_id` (0: none), and per coin. Raises CheckoutRefused
        ("cart.empty"), OptionNeeded (see there) for a cart with something physical, or VoucherRefused when the
        cart's code can no longer be used or does not apply: the code is then taken off the cart (nothing else
        changes), so that the buyer sees the price without it before choosing again."""
        async with read_only(self._session):
            lines = await CartRepo(self._session).lines(user_id)
            if not lines:
                raise CheckoutRefused("cart.empty")
            ships = _physical(lines)
            option = await self._option(option_id) if ships else None
            priced = await price_cart(self._session, user_id, lines, utcnow(), option.price_minor if option else 0)
        if priced.problem is not None:
            await self._drop_code(user_id)
            raise VoucherRefused(priced.problem)
        breakdown = priced.breakdown()
        return Quote(
            from_minor(breakdown.goods),
            ships,
            option.name if option else None,
            from_minor(breakdown.shipping),
            from_minor(breakdown.total),
            price_steps(breakdown),
            [self._coin_price(priced, asset) for asset in self._wallet.assets],
        )

    async def checkout(
        self, user_id: int, chain: Chain, token: str | None = None, shipping: ShippingChoice | None = None
    ) -> CheckoutResult:
        """Turn the cart into an order paid on `chain` in its coin, or in the token `token` (a symbol of
        ETH_TOKENS / SOL_TOKENS) on it.

        One transaction creates the order and its items at today's prices, plus the chosen shipping option's
        price when the cart holds something physical (with the buyer's address, sealed for the order), holds
        the exact units until ORDER_TIMEOUT_MINUTES, takes the next derivation index of the chain (a token
        invoice too: an address is never used twice, whatever the asset), prices the invoice at the asset's
        locked rate (rounded up in its base units) and empties the cart, its voucher code included. The
        order stores each price step (services.pricing); a voucher that applies has one use taken by a
        conditional update, so of many checkouts racing for its last use exactly one gets it. If any line is
        short, nothing changes. Raises CheckoutRefused (AddressNeeded and OptionNeeded among them),
        services.orders.lifecycle.OutOfStock (with what is left of each short line), RateUnavailable (before
        anything is written), or VoucherRefused when the cart's code cannot be used (any more) or does not
        apply: nothing is placed and the code is taken off the cart, so the next try is at the price without
        it. `shipping` is ignored for a cart with nothing physical. A buyer with an unpaid order gets that
        order back instead of a second one.
        """
        asset = self._wallet.asset(chain, token)
        if asset is None:
            raise CheckoutRefused("checkout.chain_unavailable")
        async with read_only(self._session):
            existing = await OrderRepo(self._session).open_order_of(user_id)
        if existing is not None:
            return CheckoutResult(existing.id, existing=True)
        rate = await self._rates.rate(asset.symbol)  # network I/O stays outside the transaction
        try:
            async with self._session.begin():
                return await self._create_order(user_id, asset, rate.value, rate.source, rate.at, shipping)
        except VoucherRefused:  # rolled back: only the code comes off the cart
            await self._drop_code(user_id)
            raise

    async def _drop_code(self, user_id: int) -> None:
        """Take the cart's voucher code off, after it was refused."""
        async with self._session.begin():
            await CartRepo(self._session).drop_voucher(user_id)

    def _coin_fee_bp(self, chain: Chain) -> int:
        return to_basis_points(self._settings.coin_fee_percent(chain))

    def _coin_price(self, priced: CartPrice, asset: Asset) -> CoinPrice:
        fee = self._coin_fee_bp(asset.chain)
        return CoinPrice(asset, fee, from_minor(priced.breakdown(fee).total))

    async def _option(self, option_id: int) -> ShippingOption | None:
        """The chosen option for a cart with something physical (None: the shop offers none). Raises
        OptionNeeded."""
        offered = {o.id: o for o in await ShippingRepo(self._session).all(active_only=True)}
        if (offered or option_id) and option_id not in offered:
            raise OptionNeeded
        return offered.get(option_id)

    async def _shipping(self, user_id: int, lines: list[CartRow], choice: ShippingChoice | None) -> _Shipping:
        """The option, its price and the address a cart with something physical ships with."""
        if not _physical(lines):
            return _Shipping(None, 0, None)
        if self._goods is None:
            raise CheckoutRefused("checkout.no_address_key")
        address = open_draft(self._goods, user_id, choice.draft if choice else None)
        if address is None:
            raise AddressNeeded
        option = await self._option(choice.option_id if choice else 0)
        return _Shipping(option.name if option else None, option.price_minor if option else 0, address)

    async def _create_order(
        self,
        user_id: int,
        asset: Asset,
        rate: Decimal,
        source: str,
        rate_at: datetime,
        choice: ShippingChoice | None,
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
        shipping = await self._shipping(user_id, lines, choice)
        now = utcnow()
        until = now + timedelta(minutes=self._settings.order_timeout_minutes)
        on_sale = await CatalogRepo(s).variants_on_sale([v.id for _, _, v in lines])
        if hidden := [(line_name(p.name, v.name), 0) for _, p, v in lines if v.id not in on_sale]:
            raise OutOfStock(hidden)  # a buyer cannot hold what the shop no longer sells
        priced = await price_cart(s, user_id, lines, now, shipping.minor)
        if priced.problem is not None:
            raise VoucherRefused(priced.problem)
        breakdown = priced.breakdown(self._coin_fee_bp(asset.chain))
        order = await OrderLifecycle(s, self._settings).place(
            Order(
                user_id=user_id,
                fiat_currency=self._settings.fiat_currency,
                created_at=now,
                expires_at=until,
                shipping_name=shipping.name,
                **order_columns(breakdown),
            ),
            [
                OrderItem(
                    product_id=p.id,
                    variant_id=v.id,
                    product_name=line_name(p.name, v.name),
                    quantity=i.quantity,
                    unit_price_minor=v.price_minor,
                )
                for i, p, v in lines
            ],
            buyer(user.telegram_id),
        )
        voucher = priced.voucher
        if voucher is not None and breakdown.voucher_code is not None:
            vouchers = VoucherRepo(s)
            if not await vouchers.take_use(voucher.id, user_id, order.id, now):
                fresh = await vouchers.get(voucher.id)  # what changed since it was read: used up, most likely
                uses = await vouchers.uses_by(voucher.id, user_id)
                problem = code_problem(fresh, voucher.code, user_id, uses, now)
                raise VoucherRefused(problem or VoucherProblem("voucher.used_up", voucher.code))
        if shipping.address is not None and self._goods is not None:  # sealed for the order, now that it has an id
            await orders.set_address(order.id, self._goods.seal_address(shipping.address, order.id))
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
                amount_due=amount_due(asset, from_minor(breakdown.total), rate),
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


def _physical(lines: list[CartRow]) -> bool:
    return any(p.kind is ProductKind.physical for _, p, _ in lines)
