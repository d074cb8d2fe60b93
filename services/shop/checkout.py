"""Checkout: the cart becomes an order with held stock and an invoice, in one transaction. A cart with
something physical needs the buyer's address and, when the shop offers any, a shipping option, whose price
is part of the total the invoice is priced from. The total comes from services.pricing, step by step: the
buyer's prices, the cart's voucher code (its use taken here), the store credit they apply (spent here), the
coin's fee or discount, shipping. An order the credit pays entirely has no invoice: it is paid at once."""

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from config import Settings
from models.chains import Asset
from models.database import read_only
from models.enums import Chain, ProductKind
from models.orders import Invoice, Order, OrderItem
from models.shop import CartItem, Product, ShippingOption, User, Variant
from models.types import utcnow
from repositories.cart import CartRepo, CartRow
from repositories.credit import CreditRepo, InsufficientCredit
from repositories.orders import OrderRepo
from repositories.shipping import ShippingRepo
from repositories.vouchers import VoucherRepo
from repositories.wallet import TakenIndex, WalletRepo
from services.credit.ledger import CreditLedger
from services.dto import OrderView, PriceSteps, VoucherProblem
from services.money import amount_due, from_minor, to_basis_points
from services.orders.buyer import order_view
from services.orders.lifecycle import Actor, OrderLifecycle, OutOfStock, buyer
from services.outbox import notify_admins
from services.payments.rates import Rate, RateService, RateUnavailable
from services.pricing import Breakdown, order_columns, price_steps
from services.shop.catalog import line_name
from services.shop.limits import check_limits
from services.shop.prices import STACK, CartPrice, buyer_terms, price_cart, price_lines
from services.shop.shipping import open_draft
from services.shop.vouchers import VoucherRefused, code_problem
from services.wallet.goods import GoodsCipher
from services.wallet.merchant import Wallet

PAID_WITH_CREDIT = "paid with store credit"  # the reason on the audit row of an order credit paid entirely


class CheckoutRefused(Exception):
    """The buyer may not check out now; `key` is the l10n string that explains why."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class AddressNeeded(CheckoutRefused):
    """The cart holds something physical, and the buyer has not given an address (or their draft is gone)."""

    def __init__(self) -> None:
        super().__init__("checkout.need_address")


class CreditChanged(CheckoutRefused):
    """The buyer's store credit no longer covers what they were shown (spent, adjusted or expired meanwhile), or
    they asked to pay with credit alone and it does not cover the total. Nothing was placed."""

    def __init__(self) -> None:
        super().__init__("checkout.credit_changed")


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
    view: OrderView | None = None  # a new invoice as its buyer sees it, from what was written (None: read it)


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
    total: Decimal  # what the invoice would be for (0: the credit applied pays it all)
    price: PriceSteps
    coins: list[CoinPrice]  # every coin the shop accepts, with its fee and total
    balance: Decimal = Decimal(0)  # the buyer's store credit, applied or not
    credit: Decimal = Decimal(0)  # what of it pays this order, when applied

    @property
    def covered(self) -> bool:
        """The credit applied pays the whole order: no coin is needed."""
        return self.credit > 0 and self.total == 0


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

    async def quote(self, user_id: int, option_id: int, use_credit: bool = False, *, first: bool = False) -> Quote:
        """The cart's price with shipping option `option_id` (0: none), and per coin; with `use_credit`, the
        buyer's store credit pays what it can (the coins' fees then apply to the rest). Raises CheckoutRefused
        ("cart.empty"), OptionNeeded (see there) for a cart with something physical, or VoucherRefused when the
        cart's code can no longer be used or does not apply: the code is then taken off the cart (nothing else
        changes), so that the buyer sees the price without it before choosing again. With `first` (checkout's
        first screen, which asks for the address before any price), after reading only the cart it raises
        CheckoutRefused("checkout.no_chains") when the shop takes no coin, and AddressNeeded for a cart with
        something physical."""
        async with read_only(self._session):
            read = await CartRepo(self._session).to_price_for_buyer(user_id, STACK)
            cart = read.cart
            if not cart.lines:
                raise CheckoutRefused("cart.empty")
            ships = _physical(cart.lines)
            if first and not self._wallet.assets:
                raise CheckoutRefused("checkout.no_chains")
            if first and ships:
                raise AddressNeeded
            option = await self._option(option_id) if ships else None
            balance = read.credit_minor or 0
            shipping = option.price_minor if option else 0
            priced = await price_cart(
                self._session, user_id, cart, utcnow(), shipping, balance if use_credit else 0, read.standing
            )
        if priced.problem is not None:
            await self._drop_code(user_id)
            raise VoucherRefused(priced.problem)
        breakdown = priced.breakdown()
        fees = {asset: self._coin_fee_bp(asset.chain) for asset in self._wallet.assets}
        totals = {fee: priced.breakdown(fee).total for fee in set(fees.values())}  # most coins share "no fee"
        return Quote(
            from_minor(breakdown.goods),
            ships,
            option.name if option else None,
            from_minor(breakdown.shipping),
            from_minor(breakdown.total),
            price_steps(breakdown),
            [CoinPrice(asset, fee, from_minor(totals[fee])) for asset, fee in fees.items()],
            from_minor(balance),
            from_minor(breakdown.credit),
        )

    async def checkout(
        self,
        user_id: int,
        chain: Chain | None,
        token: str | None = None,
        shipping: ShippingChoice | None = None,
        use_credit: bool = False,
    ) -> CheckoutResult:
        """Turn the cart into an order paid on `chain` in its coin, or in the token `token` (a symbol of
        ETH_TOKENS / SOL_TOKENS) on it; with `use_credit`, the buyer's store credit pays what it can first.

        One transaction creates the order and its items at today's prices, plus the chosen shipping option's
        price when the cart holds something physical (with the buyer's address, sealed for the order), holds
        the exact units until ORDER_TIMEOUT_MINUTES, takes the next derivation index of the chain (a token
        invoice too: an address is never used twice, whatever the asset), prices the invoice at the asset's
        locked rate (rounded up in its base units) and empties the cart, its voucher code included. The
        order stores each price step (services.pricing); a voucher that applies has one use taken by a
        conditional update, so of many checkouts racing for its last use exactly one gets it. If any line is
        short, nothing changes. A product's per-buyer limit (services.shop.limits) is checked here, in the
        transaction, against the buyer's open and sold orders. An unlimited product holds no unit. Raises
        CheckoutRefused (AddressNeeded and OptionNeeded among them), services.shop.limits.LimitReached,
        services.orders.lifecycle.OutOfStock (with what is left of each short line), RateUnavailable (before
        anything is written), or VoucherRefused when the cart's code cannot be used (any more) or does not
        apply: nothing is placed and the code is taken off the cart, so the next try is at the price without
        it. `shipping` is ignored for a cart with nothing physical. A buyer with an unpaid order gets that
        order back instead of a second one.

        The credit used is spent in the same transaction (services.credit.ledger: one conditional write, so
        checkouts racing for the same credit never take it below zero). When it pays the whole order (`chain`
        may then be None) there is no invoice: the order is paid at once through the lifecycle's `pay`, and its
        goods go out. Raises CreditChanged when the credit no longer covers what it was to pay, or when `chain`
        is None and it does not cover the total; nothing is placed then.
        """
        asset = self._wallet.asset(chain, token) if chain is not None else None
        if chain is not None and asset is None:
            raise CheckoutRefused("checkout.chain_unavailable")
        if asset is None and not use_credit:
            raise CreditChanged
        try:  # network I/O stays outside the transaction
            rate = await self._rates.rate(asset.symbol) if asset else None
        except RateUnavailable:  # no price without a rate, but an unpaid order is still shown
            async with read_only(self._session):
                existing = await OrderRepo(self._session).open_order_of(user_id)
            if existing is not None:
                return CheckoutResult(existing, existing=True)
            raise
        try:
            async with self._session.begin():
                return await self._create_order(user_id, asset, rate, shipping, use_credit)
        except VoucherRefused:  # rolled back: only the code comes off the cart
            await self._drop_code(user_id)
            raise
        except InsufficientCredit:  # rolled back: spent or taken meanwhile
            raise CreditChanged from None

    async def _drop_code(self, user_id: int) -> None:
        """Take the cart's voucher code off, after it was refused."""
        async with self._session.begin():
            await CartRepo(self._session).drop_voucher(user_id)

    def _coin_fee_bp(self, chain: Chain) -> int:
        return to_basis_points(self._settings.coin_fee_percent(chain))

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
        self, user_id: int, asset: Asset | None, rate: Rate | None, choice: ShippingChoice | None, use_credit: bool
    ) -> CheckoutResult:
        s = self._session
        # Lock the buyer's row (PostgreSQL) so a double-tapped checkout cannot create two orders.
        telegram_id, banned, timeouts = (await s.execute(_buyer_locked(), {"user_id": user_id})).one()
        orders = OrderRepo(s)
        # A statement of its own, after the lock is granted: one statement reads the snapshot taken when it
        # started, before it waited for the lock, and would miss the order a double tap committed meanwhile.
        read = await CartRepo(s).to_check_out(user_id, STACK)
        if read.open_order is not None:  # shown again before anything else is checked
            return CheckoutResult(read.open_order, existing=True)
        if banned:
            raise CheckoutRefused("error.banned")
        if timeouts >= self._settings.max_user_timeouts:
            raise CheckoutRefused("checkout.too_many_timeouts")
        cart = read.cart
        lines = cart.lines
        if not lines:
            raise CheckoutRefused("cart.empty")
        shipping = await self._shipping(user_id, lines, choice)
        now = utcnow()
        until = now + timedelta(minutes=self._settings.order_timeout_minutes)
        if hidden := [(line_name(p.name, v.name), 0) for _, p, v in lines if v.id not in cart.on_sale]:
            raise OutOfStock(hidden)  # a buyer cannot hold what the shop no longer sells
        await check_limits(s, user_id, [(p, i.quantity) for i, p, _ in lines], now)
        credit = await CreditRepo(s).balance(user_id, lock=True) if use_credit else 0
        priced = await price_cart(s, user_id, cart, now, shipping.minor, credit, read.standing)
        if priced.problem is not None:
            raise VoucherRefused(priced.problem)
        breakdown = priced.breakdown(self._coin_fee_bp(asset.chain) if asset else 0)
        if breakdown.total and (asset is None or rate is None):
            raise CreditChanged  # to be paid with credit alone, and it no longer covers the total
        who = buyer(telegram_id)
        items = _order_items(lines)
        view: OrderView | None = None

        async def complete(order: Order) -> None:
            """Everything the order needs besides its held units (the lifecycle holds them last)."""
            nonlocal view
            voucher = priced.voucher
            if voucher is not None and breakdown.voucher_code is not None:
                vouchers = VoucherRepo(s)
                if not await vouchers.take_use(voucher.id, user_id, order.id, now):
                    fresh = await vouchers.get(voucher.id)  # what changed since it was read: used up, most likely
                    uses = await vouchers.uses_by(voucher.id, user_id)
                    problem = code_problem(fresh, voucher.code, user_id, uses, now)
                    raise VoucherRefused(problem or VoucherProblem("voucher.used_up", voucher.code))
            if shipping.address is not None and self._goods is not None:  # sealed for the order, now it has an id
                sealed = self._goods.seal_address(shipping.address, order.id)
                await orders.set_address(order.id, sealed)
                set_committed_value(order, "address_enc", sealed)  # what was written, for the view: no re-read
            if breakdown.credit:
                await CreditLedger(s).spend(user_id, order.id, breakdown.credit, str(who), now)
            await CartRepo(s).clear(user_id, code=cart.voucher is not None)
            # The invoice's index locks the chain's counter row (PostgreSQL) until commit: the last but the hold.
            if asset is not None and rate is not None and breakdown.total:
                invoice = await self._invoice(order, asset, breakdown, rate, now)
                # Unpaid: nothing paid, no goods, nothing to review, no warranty yet; the address was derived now.
                view = order_view(order, items, invoice, self._settings, self._goods, physical=_physical(lines))

        order = await self._place(user_id, who, items, breakdown, now, until, shipping.name, complete, cart.left)
        if view is None:  # the credit paid it all
            await OrderLifecycle(s, self._settings).pay(order, who, now, reason=PAID_WITH_CREDIT)
        return CheckoutResult(order.id, existing=False, view=view)

    async def place_renewal(
        self, user_id: int, product: Product, variant: Variant, asset: Asset, rate: Rate, until: datetime
    ) -> int:
        """Inside the caller's transaction: an order for one unit of `product`'s `variant` placed for the buyer
        without their cart (a renewal of channel access), at what that variant costs them today (their reseller
        and tier prices and the coin's fee; no voucher), with its unit held and its invoice in `asset` open until
        `until`. Returns the order's id. Raises OutOfStock (the caller's transaction must roll back)."""
        s, now = self._session, utcnow()
        who = buyer((await s.execute(select(User.telegram_id).where(User.id == user_id))).scalar_one())
        lines = [
            (CartItem(user_id=user_id, product_id=product.id, variant_id=variant.id, quantity=1), product, variant)
        ]
        priced = CartPrice(await price_lines(s, lines), await buyer_terms(s, user_id), None, None, None)
        breakdown = priced.breakdown(self._coin_fee_bp(asset.chain))

        async def invoice(order: Order) -> None:
            await self._invoice(order, asset, breakdown, rate, now)

        return (await self._place(user_id, who, _order_items(lines), breakdown, now, until, None, invoice)).id

    async def _place(
        self,
        user_id: int,
        who: Actor,
        items: list[OrderItem],
        breakdown: Breakdown,
        now: datetime,
        until: datetime,
        shipping_name: str | None,
        then: Callable[[Order], Awaitable[None]],
        left: Mapping[int, int | None] | None = None,
    ) -> Order:
        """The order with its items and price steps, `then` (the rest of what is written for it), and every unit
        held until `until` (OrderLifecycle.place, with the counters `left` when read already). Raises
        OutOfStock."""
        return await OrderLifecycle(self._session, self._settings).place(
            Order(
                user_id=user_id,
                fiat_currency=self._settings.fiat_currency,
                created_at=now,
                expires_at=until,
                shipping_name=shipping_name,
                **order_columns(breakdown),
            ),
            items,
            who,
            then,
            left,
        )

    async def _invoice(self, order: Order, asset: Asset, breakdown: Breakdown, rate: Rate, now: datetime) -> Invoice:
        """The order's invoice: the network's next address, the total in the asset at the locked rate."""
        chain = asset.chain
        taken = await WalletRepo(self._session).take_next_index(chain)
        await self._warn_gap(chain, taken)
        invoice = Invoice(
            order_id=order.id,
            chain=chain,
            asset=asset.symbol,
            token=asset.token,
            decimals=asset.decimals,
            derivation_index=taken.index,
            address=self._wallet.address(chain, taken.index),
            amount_due=amount_due(asset, from_minor(breakdown.total), rate.value),
            rate=rate.value,
            rate_source=rate.source,
            rate_at=rate.at,
            expires_at=order.expires_at,
            created_at=now,
        )
        await OrderRepo(self._session).add_invoice(invoice)
        return invoice

    async def _warn_gap(self, chain: Chain, taken: TakenIndex) -> None:
        """Tell admins once when the index taken makes the run of unused addresses after the last paid one
        longer than GAP_LIMIT_WARN: a wallet with a smaller gap limit stops looking before later payments."""
        run = taken.index - (-1 if taken.last_paid is None else taken.last_paid)
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


@functools.cache
def _buyer_locked() -> Select[tuple[int, bool, int]]:
    """The buyer `user_id`'s Telegram id, ban and timeouts, their row locked on PostgreSQL; built once, as
    every checkout's first statement. Over the table's columns: a Core select, which the session runs without
    the ORM's result setup (the same SQL)."""
    users = User.__table__.c
    return (
        select(users.telegram_id, users.is_banned, users.timeout_count)
        .where(users.id == bindparam("user_id"))
        .with_for_update()
    )


def _order_items(lines: list[CartRow]) -> list[OrderItem]:
    """An order line for each cart line, at its variant's price today."""
    return [
        OrderItem(
            product_id=p.id,
            variant_id=v.id,
            product_name=line_name(p.name, v.name),
            quantity=i.quantity,
            unit_price_minor=v.price_minor,
        )
        for i, p, v in lines
    ]


def _physical(lines: list[CartRow]) -> bool:
    return any(p.kind is ProductKind.physical for _, p, _ in lines)
