"""What a buyer pays: the rules that apply to them (reseller prices, their spend tier, the code on their cart),
loaded inside the caller's transaction and run through services.pricing."""

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.promotions import Voucher
from models.shop import Category, Product
from repositories.cart import CartRow, PricedCart
from repositories.catalog import CatalogRepo
from repositories.loyalty import LoyaltyRepo, Standing
from repositories.vouchers import VoucherRepo
from services.dto import VoucherProblem
from services.money import from_minor
from services.pricing import Breakdown, BuyerTerms, PriceLine, TierTerms, VoucherIssue, VoucherTerms, price
from services.shop.vouchers import VoucherInfo, code_problem, last_day, voucher_terms

STACK = "pricing.stack"  # shop setting: "1" when reseller prices and tiers both apply to one line


@dataclass(frozen=True, slots=True)
class CartPrice:
    """A cart's price for its buyer, before the coin is chosen."""

    lines: list[PriceLine]
    buyer: BuyerTerms
    voucher: Voucher | None  # the cart's code
    terms: VoucherTerms | None  # its terms, when the buyer may use it
    problem: VoucherProblem | None  # why the cart's code takes nothing off (it is still on the cart)
    shipping_minor: int = 0
    credit_minor: int = 0  # the store credit the buyer applies (their balance; 0: none)

    def breakdown(self, coin_fee_bp: int = 0) -> Breakdown:
        """Every step, with the fee (or discount) of the coin the buyer pays in."""
        return price(self.lines, self.buyer, self.terms, coin_fee_bp, self.shipping_minor, self.credit_minor)


async def buyer_terms(session: AsyncSession, user_id: int) -> BuyerTerms:
    """The buyer's reseller flag, their tier by lifetime spend, and whether the shop stacks the two."""
    return terms_of(await LoyaltyRepo(session).standing(user_id, STACK))


def terms_of(standing: Standing) -> BuyerTerms:
    """The buyer's terms from their standing read with the setting STACK (`buyer_terms`; the card reads it in its
    one statement, CatalogRepo.shelf)."""
    tier = standing.tier
    return BuyerTerms(
        reseller=standing.reseller,
        tier=TierTerms(tier.name, tier.percent_bp, tier.category_id) if tier else None,
        stack=standing.setting == "1",
    )


async def price_lines(session: AsyncSession, rows: list[CartRow]) -> list[PriceLine]:
    """Cart lines as pricing sees them: at their variant's price and reseller price."""
    return _price_lines(rows, await CatalogRepo(session).categories_of([p.id for _, p, _ in rows]))


def _price_lines(rows: list[CartRow], categories: dict[int, int]) -> list[PriceLine]:
    return [
        PriceLine(p.id, categories[p.id], item.quantity, v.price_minor, v.reseller_price_minor) for item, p, v in rows
    ]


async def price_cart(
    session: AsyncSession,
    user_id: int,
    cart: PricedCart,
    now: datetime,
    shipping_minor: int = 0,
    credit_minor: int = 0,
    standing: Standing | None = None,
) -> CartPrice:
    """The cart's price for its buyer (a cart read with CartRepo.to_price: its lines, categories and voucher),
    with the cart's code when they may use it and it applies, and up to `credit_minor` of their store credit.
    `standing`: the buyer's, when read with the cart (CartRepo.to_price_for_buyer, the setting STACK)."""
    voucher = cart.voucher
    problem = await usable(session, voucher, voucher.code, user_id, now) if voucher else None
    terms = voucher_terms(voucher) if voucher is not None and problem is None else None
    priced = CartPrice(
        _price_lines(cart.lines, cart.categories),
        terms_of(standing) if standing is not None else await buyer_terms(session, user_id),
        voucher,
        terms,
        problem,
        shipping_minor,
        credit_minor,
    )
    issue = priced.breakdown().voucher_issue
    if voucher is None or issue is None:
        return priced
    return replace(priced, terms=None, problem=await issue_problem(session, voucher, issue))


async def usable(
    session: AsyncSession, voucher: Voucher | None, code: str, user_id: int, now: datetime
) -> VoucherProblem | None:
    """Why the buyer cannot use the voucher now (see services.shop.vouchers.code_problem), or None."""
    uses = await VoucherRepo(session).uses_by(voucher.id, user_id) if voucher is not None else 0
    return code_problem(voucher, code, user_id, uses, now)


async def issue_problem(session: AsyncSession, voucher: Voucher, issue: VoucherIssue) -> VoucherProblem:
    """A voucher that does not apply to a cart, explained: what it is for, or the minimum order."""
    if issue is VoucherIssue.min_order:
        return VoucherProblem("voucher.min_order", voucher.code, amount=from_minor(voucher.min_order_minor))
    return VoucherProblem("voucher.out_of_scope", voucher.code, scope=await scope_name(session, voucher))


async def scope_name(session: AsyncSession, voucher: Voucher) -> str | None:
    """The product or category the voucher is for; None when it is for everything."""
    repo = CatalogRepo(session)
    if voucher.product_id is not None:
        product = await repo.get(Product, voucher.product_id)
        return product.name if product else None
    if voucher.category_id is not None:
        category = await repo.get(Category, voucher.category_id)
        return category.name if category else None
    return None


async def voucher_info(session: AsyncSession, voucher: Voucher) -> VoucherInfo:
    return VoucherInfo(
        id=voucher.id,
        code=voucher.code,
        kind=voucher.kind,
        value=voucher.value,
        min_order=from_minor(voucher.min_order_minor),
        scope=await scope_name(session, voucher),
        valid_from=voucher.valid_from,
        last_day=last_day(voucher.valid_until),
        max_uses=voucher.max_uses,
        per_buyer=voucher.per_buyer,
        uses=voucher.uses,
        is_active=voucher.is_active,
        batch=voucher.batch,
    )
