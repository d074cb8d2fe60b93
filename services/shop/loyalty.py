"""The buyer's side of loyalty: their account (lifetime spend, tier and the next one, reseller prices, their
vouchers, whom they invited, their store credit) and arriving through someone's referral link."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from models.promotions import Tier
from models.shop import Category
from models.types import utcnow
from repositories.catalog import CatalogRepo
from repositories.credit import CreditRepo
from repositories.loyalty import LoyaltyRepo
from repositories.settings import ShopSettingsRepo
from repositories.users import UserRepo
from repositories.vouchers import VoucherRepo
from services.money import from_minor
from services.orders.rewards import REFERRAL_REWARD
from services.shop.catalog import NotFound
from services.shop.prices import voucher_info
from services.shop.vouchers import VoucherInfo, parse_value, value_text

MAX_USER_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class TierView:
    id: int
    name: str
    threshold: Decimal
    percent_bp: int
    category: str | None  # None: every product


@dataclass(frozen=True, slots=True)
class AccountView:
    user_id: int  # what the referral link carries
    spend: Decimal  # delivered orders, shipping aside
    tier: TierView | None
    next_tier: TierView | None
    reseller: bool
    invited: int  # buyers who came through their link
    invited_bought: int  # of them, with a delivered order
    vouchers: list[VoucherInfo]  # their own (referral rewards) they can still use
    reward: str | None  # what inviting a buyer earns ("5.00 USD"), None: nothing
    credit: Decimal = Decimal(0)  # their store credit
    credit_history: bool = False  # they have ledger entries to look at

    @property
    def to_next(self) -> Decimal | None:
        return None if self.next_tier is None else self.next_tier.threshold - self.spend


async def tier_view(session: AsyncSession, tier: Tier) -> TierView:
    category = await CatalogRepo(session).get(Category, tier.category_id) if tier.category_id else None
    return TierView(
        tier.id, tier.name, from_minor(tier.threshold_minor), tier.percent_bp, category.name if category else None
    )


class LoyaltyService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def account(self, user_id: int) -> AccountView:
        """The buyer's "My account". Read-only. Raises NotFound for a missing user."""
        s = self._session
        async with read_only(s):
            user = await UserRepo(s).get(user_id)
            if user is None:
                raise NotFound
            loyalty = LoyaltyRepo(s)
            spend = await loyalty.lifetime_spend(user_id)
            tier, upcoming = await loyalty.tier_for(spend), await loyalty.next_tier(spend)
            invited, bought = await loyalty.referred(user_id)
            vouchers = [await voucher_info(s, v) for v in await VoucherRepo(s).owned_by(user_id, utcnow())]
            reward = await ShopSettingsRepo(s).get(REFERRAL_REWARD)
            credit = CreditRepo(s)
            return AccountView(
                user_id=user_id,
                spend=from_minor(spend),
                tier=await tier_view(s, tier) if tier else None,
                next_tier=await tier_view(s, upcoming) if upcoming else None,
                reseller=user.is_reseller,
                invited=invited,
                invited_bought=bought,
                vouchers=vouchers,
                reward=self._reward_text(reward),
                credit=from_minor(await credit.balance(user_id)),
                credit_history=await credit.last_entry(user_id) is not None,
            )

    async def refer(self, user_id: int, referrer: str) -> bool:
        """The buyer arrived through the referral link of user `referrer` (its id, as the link carries it):
        attributed once, never to themselves or to nobody, and only before their first order. False, changing
        nothing, otherwise (a forged link among them)."""
        if not (referrer.isascii() and referrer.isdigit() and len(referrer) <= 10 and 0 < int(referrer) <= MAX_USER_ID):
            return False
        async with self._session.begin():
            return await LoyaltyRepo(self._session).refer(user_id, int(referrer), utcnow())

    def _reward_text(self, reward: str | None) -> str | None:
        try:
            return value_text(*parse_value(reward), self._settings.fiat_currency) if reward else None
        except ValueError:
            return None
