"""Orders, the stock they hold, their invoices and the chain payments seen for them."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, str_enum
from models.chains import CHAINS, Asset, ChainFacts
from models.enums import Chain, OrderProblem, OrderStatus, PaymentStatus, RefundBasis, RefundMethod, RefundStatus
from models.types import BaseUnits, DecimalText, utcnow


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_status_expires_at", "status", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus), default=OrderStatus.awaiting_payment)
    problem: Mapped[OrderProblem | None] = mapped_column(str_enum(OrderProblem))
    # The price, step by step (services.pricing), in minor units of fiat_currency: the items at catalog prices,
    # the reseller and tier discounts, the voucher's discount, the coin's fee (negative: a discount), shipping
    # (shipping_minor, below), the buyer's store credit it used, and the total the invoice is priced from (0: the
    # credit paid it all, and there is no invoice). total = subtotal − discounts − credit + fee + shipping.
    subtotal_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    reseller_discount_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    tier_name: Mapped[str | None] = mapped_column(String(64))
    tier_discount_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    voucher_code: Mapped[str | None] = mapped_column(String(32))
    voucher_discount_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    credit_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    coin_fee_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    total_minor: Mapped[int]
    fiat_currency: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    grace_used: Mapped[bool] = mapped_column(default=False)  # the one underpayment extension
    expiry_warned_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    tracking: Mapped[str | None] = mapped_column(Text)
    # The shipping option the buyer chose, as it was named and priced then (None: nothing to ship, or the shop
    # offered no options), and where to send the parcel: sealed (services.wallet.goods), NULL once erased.
    shipping_name: Mapped[str | None] = mapped_column(String(64))
    shipping_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    address_erased_at: Mapped[datetime | None]  # ADDRESS_RETENTION_DAYS after shipping or closing
    closed_at: Mapped[datetime | None]  # expired, cancelled, or a problem resolved
    close_reason: Mapped[str | None] = mapped_column(Text)


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("product_variants.id", ondelete="SET NULL"))
    # What was bought, as named then: the product, and its variant's name when it has one ("Editor Pro · 12 months").
    product_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    unit_price_minor: Mapped[int]


class Reservation(Base):
    """The hold of one stock unit by one order. A unit can be held once: stock_unit_id is unique."""

    __tablename__ = "reservations"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    stock_unit_id: Mapped[int] = mapped_column(ForeignKey("stock_units.id", ondelete="CASCADE"), unique=True)
    reserved_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class Invoice(Base):
    """What the buyer must pay: `amount_due` base units of one asset (see models.chains.Asset) to a one-time
    address of `chain`. The address index comes from the network's counter, whatever the asset, so an address
    is never used for two invoices."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("chain", "derivation_index"),
        # The observer reads a chain's watched invoices a page at a time in id order (PaymentRepo.watched): each
        # page a range of this index, not a sort of every invoice of the chain.
        Index("ix_invoices_chain_id", "chain", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    chain: Mapped[Chain] = mapped_column(str_enum(Chain))  # the network
    # The asset, locked at checkout: its symbol, the token's contract or mint (NULL: the network's own coin)
    # and its decimals, so the invoice reads the same after the token has left the settings.
    asset: Mapped[str] = mapped_column(String(16), default=lambda ctx: _native(ctx).symbol)
    token: Mapped[str | None] = mapped_column(String(64))
    decimals: Mapped[int] = mapped_column(default=lambda ctx: _native(ctx).decimals)
    derivation_index: Mapped[int]
    address: Mapped[str] = mapped_column(String(128), unique=True)
    amount_due: Mapped[int] = mapped_column(BaseUnits())
    rate: Mapped[Decimal] = mapped_column(DecimalText())  # fiat per unit of the asset, locked at checkout
    rate_source: Mapped[str] = mapped_column(String(128))
    rate_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def unit(self) -> Asset:
        """The asset its amounts (due, and each payment's) are counted in."""
        return Asset(self.chain, self.asset, self.decimals, self.token)


def _native(context: Any) -> ChainFacts:
    """An invoice written without its asset is in its network's own coin (as every invoice before tokens)."""
    return CHAINS[Chain(context.get_current_parameters()["chain"])]


class InvoiceMessage(Base):
    """A message showing an order's invoice with its pay and cancel buttons, as the buyer holds it. When the
    order stops awaiting payment, each is edited (through the outbox) to say so, and its row is removed."""

    __tablename__ = "invoice_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int]
    message_id: Mapped[int]
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    """One chain payment to an invoice address, in the invoice's asset, stored once under its natural id
    (e.g. txid:vout; for a token: tx hash:log index, or signature:token account)."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("chain", "natural_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[Chain] = mapped_column(str_enum(Chain))
    natural_id: Mapped[str] = mapped_column(String(192))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    amount: Mapped[int] = mapped_column(BaseUnits())
    confirmations: Mapped[int] = mapped_column(default=0)
    block_height: Mapped[int | None]
    block_hash: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus), default=PaymentStatus.seen)
    # Consecutive scans that did not show it. Only a few misses in a row count as a reorg, so one
    # provider answering "nothing" during an outage cannot un-credit anything.
    missing_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DerivationCounter(Base):
    """The next unused derivation index per chain, taken with UPDATE ... RETURNING."""

    __tablename__ = "derivation_counters"

    chain: Mapped[Chain] = mapped_column(str_enum(Chain), primary_key=True)
    next_index: Mapped[int] = mapped_column(default=0)


class Refund(Base):
    """Money going back to the buyer of an order with a problem. An order has at most one open refund (the
    service checks under the order's row lock); a cancelled one stays as history.

    On chain, the merchant's own wallet pays `amount` to the buyer's `address`, and the refund closes when
    the observer sees exactly that amount arrive there at depth, in a block above `watch_from`: the buyer's
    address is not fresh like an invoice's, and an older payment of the same amount proves nothing. The
    payment that closed it is `txid` (its natural id), which closes no other refund. The asset is the
    invoice's, copied as the invoice locks it (symbol, token, decimals), so the amount reads in the unit it
    was paid in; the bot opens refunds in a network's own coin only (services.orders.refunds.sent_on_chain).
    While it awaits the address, the buyer may take it as store credit instead: it closes as credited (method
    credit), worth `fiat_minor` on their ledger."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("chain", "txid"), Index("ix_refunds_chain_status", "chain", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    problem: Mapped[OrderProblem] = mapped_column(str_enum(OrderProblem))  # the problem it resolves
    method: Mapped[RefundMethod] = mapped_column(str_enum(RefundMethod))
    basis: Mapped[RefundBasis] = mapped_column(str_enum(RefundBasis))
    status: Mapped[RefundStatus] = mapped_column(str_enum(RefundStatus), default=RefundStatus.awaiting_address)
    chain: Mapped[Chain] = mapped_column(str_enum(Chain))
    # The invoice's asset as the invoice locked it: symbol ("LTC", "USDT"), the token's contract or mint (None:
    # the chain's coin) and decimals.
    asset: Mapped[str] = mapped_column(String(16))
    token: Mapped[str | None] = mapped_column(String(64))
    decimals: Mapped[int]
    amount: Mapped[int] = mapped_column(BaseUnits())
    fiat_minor: Mapped[int]  # what it is worth in the order's currency (at `rate`)
    rate: Mapped[Decimal] = mapped_column(DecimalText())  # fiat per unit: the invoice's (coin basis) or today's
    address: Mapped[str | None] = mapped_column(String(128))  # where to, as the chain writes it
    watch_from: Mapped[int | None]  # the chain's height (SOL: slot) when the address came in
    txid: Mapped[str | None] = mapped_column(String(192))  # natural id of the payment that closed it
    opened_by: Mapped[int]  # the admin's Telegram id
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    address_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    @property
    def unit(self) -> Asset:
        """The asset `amount` is counted in: the invoice's."""
        return Asset(self.chain, self.asset, self.decimals, self.token)
