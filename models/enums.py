"""Enumerations shared by the ORM, services and chain backends. Values are what the DB stores."""

from enum import StrEnum


class Chain(StrEnum):
    btc = "btc"
    ltc = "ltc"
    eth = "eth"
    sol = "sol"


class Network(StrEnum):
    mainnet = "mainnet"
    testnet = "testnet"
    regtest = "regtest"


class ProductKind(StrEnum):
    digital = "digital"  # units, each a sealed text payload ("Unit")
    physical = "physical"  # units, each a parcel ("Unit")
    file = "file"  # units, each a sealed document delivered with sendDocument
    unlimited = "unlimited"  # one sealed payload (text or a document) for every buyer: no units, never sells out
    channel = "channel"  # access to a Telegram channel or group for some days (models.access)

    @property
    def keeps_stock(self) -> bool:
        """Sold unit by unit from the shelf (held at checkout, sold when paid); an unlimited product is not."""
        return self is not ProductKind.unlimited

    @property
    def sealed_units(self) -> bool:
        """Each unit carries a sealed payload (text or a document) that its buyer receives."""
        return self in (ProductKind.digital, ProductKind.file)

    @classmethod
    def counted(cls) -> tuple["ProductKind", ...]:
        """Sold as units without a payload, whose available count the admin sets: parcels, access seats."""
        return cls.physical, cls.channel


class MediaType(StrEnum):
    """What a category's or product's picture is: a photo, or a short video."""

    photo = "photo"
    video = "video"


class ReviewStatus(StrEnum):
    pending = "pending"  # written, not yet seen by an admin: buyers do not see it
    approved = "approved"  # shown to buyers and counted in the product's rating
    hidden = "hidden"  # an admin decided against showing it


class StockStatus(StrEnum):
    available = "available"
    reserved = "reserved"
    sold = "sold"


class OrderStatus(StrEnum):
    awaiting_payment = "awaiting_payment"
    confirming = "confirming"
    paid = "paid"
    shipped = "shipped"
    expired = "expired"
    cancelled = "cancelled"
    underpaid = "underpaid"
    paid_late = "paid_late"

    # The status groups: every rule that asks "is this order open / sold / ..." asks one of these.
    @classmethod
    def open(cls) -> tuple["OrderStatus", ...]:
        """Waiting for its money: the stock is held and the invoice is live."""
        return cls.awaiting_payment, cls.confirming

    @classmethod
    def sold(cls) -> tuple["OrderStatus", ...]:
        """Paid at depth: the units are sold and the goods are the buyer's."""
        return cls.paid, cls.shipped

    @classmethod
    def unfulfilled(cls) -> tuple["OrderStatus", ...]:
        """Closed with money on it but without the goods: the stock went back when it closed."""
        return cls.underpaid, cls.paid_late

    @classmethod
    def closed(cls) -> tuple["OrderStatus", ...]:
        """Everything that is no longer open; still watched for a while (late payments, reorgs)."""
        return tuple(s for s in cls if s not in cls.open())


class OrderProblem(StrEnum):
    """Why an order sits in the admins' problem queue; None when there is nothing to look at."""

    underpaid = "underpaid"
    overpaid = "overpaid"
    paid_late = "paid_late"
    reorged = "reorged"
    delivery_failed = "delivery_failed"


class PaymentStatus(StrEnum):
    seen = "seen"  # on chain or in the mempool, below the confirmation depth
    confirmed = "confirmed"  # reached the depth and counted towards its invoice
    reorged = "reorged"  # vanished from the chain; no longer counted


class OutboxStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"


class VoucherKind(StrEnum):
    percent = "percent"  # value in basis points: 1000 is 10 %
    fixed = "fixed"  # value in minor units of FIAT_CURRENCY


class RefundMethod(StrEnum):
    """How a refund reaches the buyer. A refund opens on chain; the buyer may take it as store credit instead
    while it waits for their address, which closes the same record."""

    onchain = "onchain"  # the merchant's own wallet pays the buyer's address; the observer proves it
    credit = "credit"  # the buyer took its fiat worth as store credit (services.credit.ledger)


class RefundBasis(StrEnum):
    """What the admin chose to give back: the coins that arrived, or what they were worth in fiat at the
    invoice's rate, in coins at today's rate."""

    coin = "coin"
    fiat = "fiat"


class RefundStatus(StrEnum):
    awaiting_address = "awaiting_address"  # the buyer was asked where to send it
    awaiting_payment = "awaiting_payment"  # the admin has the payment link; the observer watches the address
    refunded = "refunded"  # a payment of exactly the amount reached the address at depth
    credited = "credited"  # the buyer took it as store credit instead of an address
    cancelled = "cancelled"  # withdrawn by an admin

    @classmethod
    def open(cls) -> tuple["RefundStatus", ...]:
        return cls.awaiting_address, cls.awaiting_payment


class AccessState(StrEnum):
    """Where a buyer's access to a channel or group stands; each step is a conditional update out of one state."""

    inviting = "inviting"  # paid: an invite link is to be made and sent
    active = "active"  # the link went out; a member until `until`
    removing = "removing"  # over and not renewed: being removed from the chat
    ended = "ended"  # removed (or could not be: see last_error)


class CreditKind(StrEnum):
    """What a store credit ledger entry records (services.credit.ledger)."""

    refund_credit = "refund_credit"  # the shop owed the buyer money for an order and gave credit instead
    spend = "spend"  # credit paid part or all of an order at checkout
    give_back = "give_back"  # that order expired or was cancelled unpaid: its credit comes back
    admin_adjustment = "admin_adjustment"  # an admin added or took credit, with a reason
    expiry = "expiry"  # the balance went unused for CREDIT_EXPIRY_DAYS
