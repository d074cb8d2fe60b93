"""What services hand to handlers: plain frozen data, never ORM rows or aiogram objects."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Generic, TypeVar

from models.chains import Asset
from models.enums import Chain, MediaType, OrderStatus, PaymentStatus, ProductKind

__all__ = ["Asset"]  # handlers read assets from these DTOs, and name the type from here

Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class UserDTO:
    id: int
    telegram_id: int
    username: str | None
    language: str
    is_banned: bool


@dataclass(frozen=True, slots=True)
class GoodsFile:
    """A document sold as goods: its file name and bytes. Never log it."""

    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class NamedItem:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class ProductRow:
    """A product in a buyer's list: enough to choose without opening it."""

    id: int
    name: str
    price: Decimal  # the lowest of its variants' prices
    available: int | None  # None: an unlimited product, which never sells out
    price_varies: bool = False  # its variants cost different amounts: the price is "from"


@dataclass(frozen=True, slots=True)
class StockLine:
    """A product in the /stock list."""

    place: str  # "Category / Subcategory"
    id: int
    name: str
    price: Decimal  # the lowest of its variants' prices
    available: int | None  # None: unlimited
    price_varies: bool = False  # its variants cost different amounts: the price is "from"


@dataclass(frozen=True, slots=True)
class Media:
    """A photo or video Telegram keeps: `file_id` sends it, `unique_id` recognises it in a message."""

    type: MediaType
    file_id: str
    unique_id: str


@dataclass(frozen=True, slots=True)
class Rating:
    """The approved reviews of a product."""

    count: int
    stars: int  # their stars added up

    @property
    def average(self) -> Decimal:
        """Stars per review to one decimal (half up); 0 without reviews."""
        if not self.count:
            return Decimal(0)
        return (Decimal(self.stars) / self.count).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    items: list[Item]
    page: int
    has_next: bool
    parent_id: int = 0  # the category of a subcategory page, the subcategory of a product page
    title: str = ""
    media: Media | None = None  # shown above the list: the category's picture for the lists inside it


MAX_QUANTITY = 100_000  # units of one product in one cart: an unlimited product's only bound


@dataclass(frozen=True, slots=True)
class BuyerLimit:
    """A product's per-buyer limit: `units` per `days` days, of which `left` may still be bought now."""

    units: int
    days: int
    left: int


@dataclass(frozen=True, slots=True)
class VariantChoice:
    """One of a product's variants as its card offers it."""

    id: int
    name: str
    price: Decimal
    available: int | None  # None: a variant of an unlimited product, which never sells out


@dataclass(frozen=True, slots=True)
class ProductCard:
    """A product as one buyer sees it, with the variant they chose (or its only one). Without a chosen variant
    (several to choose from) the price is the lowest, the availability the sum, and nothing can be added."""

    id: int
    subcategory_id: int
    name: str  # the product's, with the chosen variant's name when it has one
    description: str
    price: Decimal
    kind: ProductKind
    on_sale: bool  # active, and so are its subcategory and category
    available: int | None  # None: an unlimited product, which never sells out
    in_cart: int
    media: Media | None = None
    rating: Rating = Rating(0, 0)
    your_price: Decimal | None = None  # what one costs this buyer, when that is less than the price
    reseller: bool = False  # ... because of their reseller price
    tier_name: str | None = None  # ... or of their tier
    limit: BuyerLimit | None = None  # the per-buyer limit, and how many more this buyer may buy now
    warranty_days: int | None = None
    variants: tuple[VariantChoice, ...] = ()  # offered as buttons when there are several
    variant_id: int = 0  # the chosen one (0: none chosen yet)
    variant_refused: bool = False  # the button named a variant this product does not offer (any more)

    @property
    def room(self) -> int:
        """How many more the buyer may put in the cart: what is on the shelf and what their limit leaves,
        less what the cart holds; an unlimited product without a limit is bounded by MAX_QUANTITY only."""
        caps = [c for c in (self.available, self.limit.left if self.limit else None) if c is not None]
        return max(min(caps, default=MAX_QUANTITY) - self.in_cart, 0)

    @property
    def price_varies(self) -> bool:
        return not self.variant_id and len({v.price for v in self.variants}) > 1


@dataclass(frozen=True, slots=True)
class PriceSteps:
    """A price step by step in the shop's currency (services.pricing): what the invoice, the buyer's and the
    admin's order views, the cart and the checkout show."""

    subtotal: Decimal  # the items at catalog prices
    reseller_discount: Decimal
    tier_name: str | None
    tier_discount: Decimal
    voucher_code: str | None
    voucher_discount: Decimal
    coin_fee: Decimal  # negative: a discount for paying in that coin
    shipping: Decimal
    total: Decimal  # what the invoice is for
    credit: Decimal = Decimal(0)  # store credit that paid part (or all) of it

    @property
    def adjusted(self) -> bool:
        """Something besides shipping makes the total differ from the items' catalog prices."""
        return any((self.reseller_discount, self.tier_discount, self.voucher_discount, self.credit, self.coin_fee))


@dataclass(frozen=True, slots=True)
class CartLine:
    item_id: int
    product_id: int
    name: str
    quantity: int
    unit_price: Decimal
    available: int | None  # units on the shelf right now, besides what the buyer may already hold; None: unlimited
    physical: bool = False  # shipped: checkout asks for an address

    @property
    def subtotal(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class VoucherProblem:
    """Why a voucher code cannot be used: `key` is the l10n string that says so, filled in with the code and, as
    the reason needs, a date, an amount or what the code is for."""

    key: str
    code: str = ""
    date: datetime | None = None
    amount: Decimal | None = None
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class CartView:
    lines: list[CartLine]
    price: PriceSteps | None = None  # the goods' price for this buyer, discounts and the code's included
    code: str | None = None  # the voucher code on the cart
    code_problem: VoucherProblem | None = None  # why that code takes nothing off now

    @property
    def total(self) -> Decimal:
        if self.price is not None:
            return self.price.total
        return sum((line.subtotal for line in self.lines), Decimal(0))

    @property
    def ships(self) -> bool:
        """Something in it is physical: checkout asks where to send it."""
        return any(line.physical for line in self.lines)


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


class AddressState(StrEnum):
    given = "given"
    missing = "missing"  # a physical order placed before the shop asked for addresses
    erased = "erased"  # ADDRESS_RETENTION_DAYS after shipping or closing
    unreadable = "unreadable"  # sealed under another GOODS_KEY, or no key is set now


@dataclass(frozen=True, slots=True)
class OrderShipping:
    """What an order with physical items says about its shipping."""

    option: str | None  # None: the shop offered no options when it was placed
    price: Decimal  # included in the order's total
    address: str | None  # decrypted, only for admins and the order's buyer
    state: AddressState
    erased_at: datetime | None


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
    shipping: OrderShipping | None  # None: nothing in it is shipped
    tracking: str | None  # once shipped
    price: PriceSteps  # how the total came about
    goods_unreadable: bool = False  # sealed under a GOODS_KEY the shop no longer has
    received: int = 0  # base units of the payments seen and not reorged away
    remainder: int = 0  # what the invoice still asks for while that is short of counting as paid; else 0
    reviewable: tuple[NamedItem, ...] = ()  # products of a received order the buyer has not reviewed yet
    files: tuple[GoodsFile, ...] = ()  # documents among the goods, only for the buyer of a paid order
    warranty_until: datetime | None = None  # a paid order whose products carry a warranty: when it ends
    under_warranty: bool = False  # ... and it has not yet: the buyer may report a problem (services.orders.warranty)

    @property
    def address_editable(self) -> bool:
        """The buyer may still change where it is shipped: until it is paid."""
        return self.shipping is not None and self.status in OrderStatus.open()
