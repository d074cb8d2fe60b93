"""What services hand to handlers: plain frozen data, never ORM rows or aiogram objects."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

from models.enums import Chain, OrderStatus, PaymentStatus, ProductKind

Item = TypeVar("Item")


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
class ProductRow:
    """A product in a buyer's list: enough to choose without opening it."""

    id: int
    name: str
    price: Decimal
    available: int


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    items: list[Item]
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
    chain: Chain
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
    goods_unreadable: bool = False  # sealed under a GOODS_KEY the shop no longer has
    received: int = 0  # base units of the payments seen and not reorged away
    remainder: int = 0  # what the invoice still asks for while that is short of counting as paid; else 0
