"""What the admin services hand to handlers: plain frozen data and the errors they raise."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from models.chains import Asset
from models.enums import OrderProblem, OrderStatus, OutboxStatus, PaymentStatus, ProductKind, RefundBasis, RefundStatus
from services.dto import InvoiceView, OrderLine, OrderShipping, PriceSteps


class OrderBucket(StrEnum):
    """The admin's order lists: every order is in exactly one of them, and in "all". A paid order is "ready
    for shipment" while it holds physical items, else "delivered" (digital goods go out with the payment
    notice). Underpaid and paid-late orders stay listed after their problem is closed."""

    awaiting = "aw"
    confirming = "cf"
    ready = "rs"
    delivered = "dl"
    shipped = "sh"
    expired = "ex"
    cancelled = "cx"
    underpaid = "up"
    paid_late = "pl"
    all = "al"


# bucket -> (statuses, physical items: required / excluded / either)
BUCKETS: dict[OrderBucket, tuple[tuple[OrderStatus, ...], bool | None]] = {
    OrderBucket.awaiting: ((OrderStatus.awaiting_payment,), None),
    OrderBucket.confirming: ((OrderStatus.confirming,), None),
    OrderBucket.ready: ((OrderStatus.paid,), True),
    OrderBucket.delivered: ((OrderStatus.paid,), False),
    OrderBucket.shipped: ((OrderStatus.shipped,), None),
    OrderBucket.expired: ((OrderStatus.expired,), None),
    OrderBucket.cancelled: ((OrderStatus.cancelled,), None),
    OrderBucket.underpaid: ((OrderStatus.underpaid,), None),
    OrderBucket.paid_late: ((OrderStatus.paid_late,), None),
    OrderBucket.all: (tuple(OrderStatus), None),
}


def in_bucket(bucket: OrderBucket, status: OrderStatus, physical: bool) -> bool:
    statuses, needs_physical = BUCKETS[bucket]
    return status in statuses and needs_physical in (None, physical)


def bucket_of(status: OrderStatus, physical: bool) -> OrderBucket:
    """The one list an order shows up in, "all" aside."""
    return next(b for b in OrderBucket if b is not OrderBucket.all and in_bucket(b, status, physical))


class AdminAction(StrEnum):
    ship = "ship"
    cancel = "cancel"
    expire = "expire"
    confirm = "confirm"


class Resolution(StrEnum):
    fulfil = "fulfil"
    refund = "refund"  # refunded outside the bot
    onchain = "onchain"  # a refund the bot prepares and watches (services.admin.refunds)
    close = "close"
    resend = "resend"


class OrderMovedOn(Exception):
    """The order is no longer where the admin saw it (pressed twice, another admin, the observer)."""

    def __init__(self, status: OrderStatus, problem: OrderProblem | None = None) -> None:
        super().__init__(status, problem)
        self.status = status
        self.problem = problem


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: int
    created_at: datetime
    status: OrderStatus
    problem: OrderProblem | None
    total: Decimal
    currency: str
    buyer: str  # @username, else the Telegram id
    shipping: OrderShipping | None = None  # in the "ready for shipment" list


@dataclass(frozen=True, slots=True)
class OrderPage:
    bucket: OrderBucket
    rows: list[OrderRow]
    page: int
    has_next: bool


@dataclass(frozen=True, slots=True)
class BuyerInfo:
    telegram_id: int
    username: str | None
    language: str


@dataclass(frozen=True, slots=True)
class PaymentRow:
    natural_id: str
    amount: int
    confirmations: int
    block_height: int | None
    status: PaymentStatus
    url: str | None  # a public explorer, mainnet and testnet only


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of an order's history: a change (audit row) or a message sent about it (outbox row)."""

    at: datetime
    what: str  # an audit action ("order.paid") or an outbox kind ("paid", "admin.paid")
    role: str  # who acted ("observer", "outbox", "admin", "buyer"), or who a message went to ("buyer", "admin")
    telegram_id: int | None  # that admin's or buyer's Telegram id
    before: OrderStatus | None = None  # a change: the status before and after
    after: OrderStatus | None = None
    delivery: OutboxStatus | None = None  # a message: pending, sent or failed
    reason: str | None = None  # an admin's reason, or why a message failed

    @property
    def message(self) -> bool:
        return self.delivery is not None


@dataclass(frozen=True, slots=True)
class AdminOrderView:
    id: int
    status: OrderStatus
    problem: OrderProblem | None
    bucket: OrderBucket
    physical: bool
    created_at: datetime
    tracking: str | None
    shipping: OrderShipping | None  # None: nothing in it is shipped
    close_reason: str | None
    total: Decimal
    price: PriceSteps  # how the total came about
    currency: str
    buyer: BuyerInfo
    lines: list[OrderLine]
    invoice: InvoiceView | None
    payments: list[PaymentRow]
    timeline: list[TimelineEntry]
    actions: frozenset[AdminAction]


@dataclass(frozen=True, slots=True)
class RefundView:
    """A refund as admins see it. `uri` is the payment link for exactly the amount, once the address is in."""

    id: int
    order_id: int
    status: RefundStatus
    basis: RefundBasis
    unit: Asset  # the invoice's
    amount: int  # base units
    fiat: Decimal  # what it is worth in `currency`
    currency: str
    address: str | None
    uri: str | None
    txid: str | None


@dataclass(frozen=True, slots=True)
class RefundQuote:
    """What an admin chooses between before opening a refund: the coins as they arrived, or their fiat value
    at the invoice's rate in coins at today's rate (None when there is no current rate)."""

    order_id: int
    problem: OrderProblem
    unit: Asset  # the invoice's
    coins: int  # base units by the problem's rule (services.orders.refunds.refundable)
    fiat: Decimal  # those coins at the invoice's rate
    currency: str
    at_today: int | None  # `fiat` in base units at today's rate


@dataclass(frozen=True, slots=True)
class ProblemRow:
    id: int
    problem: OrderProblem
    status: OrderStatus
    unit: Asset | None  # what the invoice is paid in; None without an invoice
    due: int
    received: int  # non-reorged payments
    difference: int  # received − due, in base units
    difference_fiat: Decimal  # at the invoice's locked rate
    currency: str
    resolutions: tuple[Resolution, ...]
    refund: RefundView | None = None  # the open refund: while there is one, it is the only way to resolve
    refund_off_bot: bool = False  # money is owed back in a token, which the bot does not send (refund off-bot)


@dataclass(frozen=True, slots=True)
class ProblemPage:
    rows: list[ProblemRow]
    page: int
    has_next: bool


@dataclass(frozen=True, slots=True)
class VariantAdmin:
    id: int
    product_id: int
    product_name: str
    kind: ProductKind
    name: str  # "": a plain product's only variant
    price: Decimal
    reseller_price: Decimal | None
    available: int
    reserved: int
    sold: int
