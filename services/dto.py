"""What services hand to handlers: plain frozen data, never ORM rows or aiogram objects."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from models.chains import Asset
from models.enums import Chain, OrderStatus, PaymentStatus, ProductKind

__all__ = ["Asset"]  # handlers read assets from these DTOs, and name the type from here


@dataclass(frozen=True, slots=True)
class UserDTO:
    id: int
    telegram_id: int
    username: str | None
    language: str
    timeout_count: int
    is_banned: bool


@dataclass(frozen=True, slots=True)
class NamedItem:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Page:
    items: list[NamedItem]
    page: int
    has_next: bool
    parent_id: int = 0  # the category of a subcategory page, the subcategory of a product page
    title: str = ""


@dataclass(frozen=True, slots=True)
class ProductCard:
    id: int
    subcategory_id: int
    name: str
    description: str
    price: Decimal
    kind: ProductKind
    on_sale: bool  # active, and so are its subcategory and category
    available: int
    in_cart: int


@dataclass(frozen=True, slots=True)
class CartLine:
    item_id: int
    product_id: int
    name: str
    quantity: int
    unit_price: Decimal
    available: int  # units on the shelf right now, besides what the buyer may already hold

    @property
    def subtotal(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class CartView:
    lines: list[CartLine]

    @property
    def total(self) -> Decimal:
        return sum((line.subtotal for line in self.lines), Decimal(0))


@dataclass(frozen=True, slots=True)
class OrderLine:
    name: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class PaymentView:
    natural_id: str
    amount: int
    confirmations: int
    block_height: int | None
    status: PaymentStatus


@dataclass(frozen=True, slots=True)
class InvoiceView:
    chain: Chain  # the network: where the address is watched
    unit: Asset  # what is paid: the network's coin or a token on it; amounts are in its base units
    address: str
    amount_due: int
    rate: Decimal
    rate_source: str
    rate_at: datetime
    expires_at: datetime
    uri: str


@dataclass(frozen=True, slots=True)
class OrderView:
    id: int
    status: OrderStatus
    created_at: datetime
    total: Decimal
    currency: str
    lines: list[OrderLine]
    invoice: InvoiceView | None
    payments: list[PaymentView]
    goods: list[str]  # decrypted digital goods, only for the buyer of a paid order
