"""The admin's loyalty settings: spend tiers (created from one line, deleted), whether reseller prices and tiers
stack, what a referral earns, and the top referrers. Every change is audited."""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import VoucherKind
from models.promotions import Tier
from repositories.audit import AuditRepo
from repositories.catalog import CatalogRepo
from repositories.loyalty import LoyaltyRepo
from repositories.settings import ShopSettingsRepo
from services.money import to_basis_points, to_minor
from services.orders.rewards import REFERRAL_REWARD
from services.pricing import BASIS
from services.shop.catalog import NotFound
from services.shop.loyalty import TierView, tier_view
from services.shop.prices import STACK
from services.shop.vouchers import parse_value

TOP_REFERRERS = 10
NAME_LIMIT = 64  # the column's length
MAX_THRESHOLD_MINOR = 10**11
_TIER = re.compile(
    r"(?P<name>.+?)\s+(?P<threshold>[0-9]+(?:[.,][0-9]+)?)\s+(?P<percent>[0-9]+(?:[.,][0-9]+)?)\s*%?"
    r"(?:\s+category\s+(?P<category>.+))?",
    re.IGNORECASE,
)


class LoyaltyRefused(Exception):
    """Not a tier line (`problem` "tier"), a name or threshold another tier has ("taken"), a category that is
    not there ("category"), or not a reward value ("reward")."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Referrer:
    telegram_id: int
    username: str | None
    invited: int
    bought: int


@dataclass(frozen=True, slots=True)
class LoyaltySettings:
    tiers: list[TierView]  # lowest threshold first
    stack: bool
    reward: tuple[VoucherKind, int] | None  # what a referral earns; None: nothing


def _reward(text: str | None) -> tuple[VoucherKind, int] | None:
    try:
        return parse_value(text) if text else None
    except ValueError:  # set by hand, not through set_reward: shown (and paid) as none
        return None


class AdminLoyaltyService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def overview(self) -> LoyaltySettings:
        """Read-only."""
        s = self._session
        async with read_only(s):
            settings = ShopSettingsRepo(s)
            reward = await settings.get(REFERRAL_REWARD)
            return LoyaltySettings(
                [await tier_view(s, t) for t in await LoyaltyRepo(s).tiers()],
                await settings.get(STACK) == "1",
                _reward(reward),
            )

    async def add_tier(self, actor: str, text: str) -> None:
        """A tier from "NAME THRESHOLD PERCENT [category ID-OR-NAME]" ("Gold 500 10", "Gold 500 10% category
        Software"): buyers whose delivered orders add up to THRESHOLD get PERCENT off. Audited. Raises
        LoyaltyRefused, changing nothing."""
        match = _TIER.fullmatch(text.strip())
        if match is None:
            raise LoyaltyRefused("tier")
        name = " ".join(match["name"].split())
        try:
            threshold = to_minor(Decimal(match["threshold"].replace(",", ".")))
            percent = to_basis_points(Decimal(match["percent"].replace(",", ".")))
        except (InvalidOperation, ValueError):
            raise LoyaltyRefused("tier") from None
        if len(name) > NAME_LIMIT or not 0 < percent <= BASIS or threshold > MAX_THRESHOLD_MINOR:
            raise LoyaltyRefused("tier")
        try:
            async with self._session.begin():
                category = None
                if match["category"]:
                    category = await CatalogRepo(self._session).find_category(match["category"].strip())
                    if category is None:
                        raise LoyaltyRefused("category")
                tier = Tier(
                    name=name,
                    threshold_minor=threshold,
                    percent_bp=percent,
                    category_id=category.id if category else None,
                )
                await LoyaltyRepo(self._session).add_tier(tier)
                after = {
                    "name": name,
                    "threshold_minor": threshold,
                    "percent_bp": percent,
                    "category_id": tier.category_id,
                }
                await AuditRepo(self._session).record(actor, "tier.create", "tier", tier.id, after=after)
        except IntegrityError:
            raise LoyaltyRefused("taken") from None

    async def delete_tier(self, actor: str, tier_id: int) -> None:
        """Buyers in it fall to the tier below; orders keep the tier they were placed with. Audited. Raises
        NotFound."""
        async with self._session.begin():
            tier = await LoyaltyRepo(self._session).delete_tier(tier_id)
            if tier is None:
                raise NotFound
            before = {"name": tier.name, "threshold_minor": tier.threshold_minor, "percent_bp": tier.percent_bp}
            await AuditRepo(self._session).record(actor, "tier.delete", "tier", tier_id, before=before)

    async def set_stack(self, actor: str, stack: bool) -> None:
        """Whether a reseller in a tier gets the tier's percentage off their reseller price (stack), or per
        line the lower of the two. Audited."""
        async with self._session.begin():
            settings = ShopSettingsRepo(self._session)
            if stack:
                await settings.set(STACK, "1")
            else:
                await settings.reset(STACK)
            await AuditRepo(self._session).record(actor, "pricing.stack", "setting", None, after={"stack": stack})

    async def set_reward(self, actor: str, text: str) -> None:
        """What a referral earns the referrer: "5.00" or "10%" off, in a single-use voucher; "0" for nothing.
        Audited. Raises LoyaltyRefused ("reward")."""
        value = text.strip().replace(",", ".")
        off = value in ("0", "0%", "-")
        if not off:
            try:
                parse_value(value)
            except ValueError:
                raise LoyaltyRefused("reward") from None
        async with self._session.begin():
            settings = ShopSettingsRepo(self._session)
            if off:
                await settings.reset(REFERRAL_REWARD)
            else:
                await settings.set(REFERRAL_REWARD, value)
            after = {"reward": None if off else value}
            await AuditRepo(self._session).record(actor, "referral.reward", "setting", None, after=after)

    async def top_referrers(self) -> list[Referrer]:
        """The buyers whose referral links brought the most buyers who bought. Read-only."""
        async with read_only(self._session):
            rows = await LoyaltyRepo(self._session).top_referrers(TOP_REFERRERS)
        return [Referrer(u.telegram_id, u.username, invited, bought) for u, invited, bought in rows]
