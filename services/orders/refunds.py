"""Refunds from the buyer's side, and the rule for what an order's problem lets the shop give back.

The admin opens a refund (services.admin.refunds); the buyer is asked where to send it and answers here. The
address is checked for the refund's chain and the shop's network, and must not be one of the shop's own
invoice addresses; then it is watched (imported into core-rpc's wallet) and the chain's height noted, and
only then stored: the admins get the payment link only for an address the observer can see paid. Instead of
an address, the buyer may take the refund as store credit (`take_credit`), while it still waits for one.
"""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.chains import Asset
from models.database import read_only
from models.enums import Network, OrderProblem, RefundStatus
from models.orders import Order, Refund
from models.types import utcnow
from repositories.credit import CreditRepo
from repositories.orders import OrderRepo
from repositories.payments import PaymentRepo
from repositories.refunds import RefundRepo
from repositories.users import UserRepo
from services.money import from_minor
from services.orders.lifecycle import OrderLifecycle, buyer
from services.payments.watch import PaymentWatch
from services.shop.catalog import NotFound
from services.wallet.addresses import parse_address

REFUNDABLE = (OrderProblem.overpaid, OrderProblem.underpaid, OrderProblem.paid_late, OrderProblem.delivery_failed)


def refundable(problem: OrderProblem, due: int, received: int) -> int:
    """What the shop owes back, in base units of the invoice's asset, for an order with `problem`: the excess
    of an overpayment; all that arrived for an underpaid or late-paid order (which closed without its goods)
    and for one whose goods could not be delivered; nothing for a reorg (the money is gone). Never negative."""
    if problem not in REFUNDABLE:
        return 0
    return max(received - due if problem is OrderProblem.overpaid else received, 0)


def sent_on_chain(unit: Asset) -> bool:
    """Whether the bot prepares and watches a refund in `unit`: in a network's own coin, yes; in a token, no,
    the admin refunds it off-bot. The token backends read fresh invoice addresses for the one token each was
    made for, and a buyer's address may receive several tokens and a long history of them."""
    return unit.token is None


class OwnAddress(Exception):
    """The address is one of the shop's own invoice addresses: paying it would pay the shop."""


class WatchUnavailable(Exception):
    """The chain's provider could not be asked to watch the address; nothing was stored. Try again later."""


class NoCredit(Exception):
    """This refund cannot become store credit: it is worth no whole cent, or its order is priced in another
    currency than the shop's FIAT_CURRENCY now (credit is counted in that). Nothing was changed."""


@dataclass(frozen=True, slots=True)
class RefundAsk:
    """A refund as its buyer sees it while giving the address."""

    id: int
    order_id: int
    unit: Asset  # the invoice's, on its network (`unit.chain`)
    network: Network
    amount: int  # base units
    address: str | None  # once given
    credit: Decimal | None  # what it is worth as store credit, in `currency`; None: it cannot be (NoCredit)
    currency: str


@dataclass(frozen=True, slots=True)
class CreditTaken:
    """A refund the buyer took as store credit."""

    order_id: int
    credit: Decimal
    balance: Decimal  # the buyer's store credit now
    currency: str


class BuyerRefundService:
    def __init__(self, session: AsyncSession, settings: Settings, watch: PaymentWatch) -> None:
        self._session = session
        self._settings = settings
        self._watch = watch

    async def asking(self, refund_id: int, user_id: int) -> RefundAsk:
        """The buyer's refund that waits for their address. Raises NotFound for another buyer's, a missing
        one, or one that no longer waits for an address (given, or withdrawn). Read-only."""
        async with read_only(self._session):
            refund, order = await self._waiting(refund_id, user_id)
            return self._ask(refund, order)

    async def give_address(self, refund_id: int, user_id: int, text: str) -> RefundAsk:
        """Take `text` as where the buyer wants the refund: checked (raises
        services.wallet.addresses.NotAnAddress, OwnAddress), watched from the chain's height now (raises
        WatchUnavailable, storing nothing), then stored with the admins told (OrderLifecycle.refund_address).
        Raises NotFound as `asking` does, also when the refund moved on meanwhile."""
        async with read_only(self._session):
            refund, _ = await self._waiting(refund_id, user_id)
            address = parse_address(refund.chain, self._settings.network, text)
            if await PaymentRepo(self._session).invoice_by_address(refund.chain, address) is not None:
                raise OwnAddress
        height = await self._watch.watch_refund(refund.chain, address)  # no I/O inside a transaction
        if height is None:
            raise WatchUnavailable
        async with self._session.begin():
            order = await OrderRepo(self._session).locked(refund.order_id)
            refund, _ = await self._waiting(refund_id, user_id)
            lifecycle = OrderLifecycle(self._session, self._settings)
            who = buyer(await UserRepo(self._session).telegram_id(user_id))
            if order is None or not await lifecycle.refund_address(order, refund, who, address, height, utcnow()):
                raise NotFound
            return self._ask(refund, order)

    async def take_credit(self, refund_id: int, user_id: int) -> CreditTaken:
        """Take the buyer's refund as store credit instead of an on-chain payment (OrderLifecycle.refund_credited):
        its fiat worth goes on their ledger, the refund closes as credited and the order's problem with it, in one
        transaction on the row-locked order. Raises NotFound as `asking` does (so a second press, or one after the
        address was given, changes nothing), NoCredit when it cannot become credit."""
        async with self._session.begin():
            refund, _ = await self._waiting(refund_id, user_id)
            order = await OrderRepo(self._session).locked(refund.order_id)
            if order is None:
                raise NotFound
            if self._credit(refund, order) is None:
                raise NoCredit
            lifecycle = OrderLifecycle(self._session, self._settings)
            who = buyer(await UserRepo(self._session).telegram_id(user_id))
            if not await lifecycle.refund_credited(order, refund, who, utcnow()):
                raise NotFound  # an address came in, or the admin cancelled it, meanwhile
            balance = await CreditRepo(self._session).balance(user_id)
            currency = self._settings.fiat_currency
            return CreditTaken(order.id, from_minor(refund.fiat_minor), from_minor(balance), currency)

    async def _waiting(self, refund_id: int, user_id: int) -> tuple[Refund, Order]:
        refund = await RefundRepo(self._session).get(refund_id)
        order = await OrderRepo(self._session).owned(refund.order_id, user_id) if refund else None
        if refund is None or order is None or refund.status is not RefundStatus.awaiting_address:
            raise NotFound
        return refund, order

    def _credit(self, refund: Refund, order: Order) -> Decimal | None:
        """What the refund is worth as store credit: its `fiat_minor`, the value the admin was shown and chose
        (on the coin basis the coins at the invoice's locked rate, on the fiat basis that fiat amount itself).
        None when that is no whole cent, or the order's currency is not FIAT_CURRENCY, in which credit counts."""
        if refund.fiat_minor <= 0 or order.fiat_currency != self._settings.fiat_currency:
            return None
        return from_minor(refund.fiat_minor)

    def _ask(self, refund: Refund, order: Order) -> RefundAsk:
        return RefundAsk(
            refund.id,
            refund.order_id,
            refund.unit,
            self._settings.network,
            refund.amount,
            refund.address,
            self._credit(refund, order),
            self._settings.fiat_currency,
        )
