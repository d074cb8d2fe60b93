"""Spend tiers, lifetime spend and referrals. Flushes, never commits. The once-only steps (attributing a
referral, rewarding it, telling a buyer of a tier) are conditional updates."""

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ScalarSelect,
    Select,
    SQLColumnExpression,
    bindparam,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from models.orders import Order
from models.promotions import ShopSetting, Tier
from models.shop import User
from repositories.orders import delivered


@dataclass(frozen=True, slots=True)
class Standing:
    """What a buyer's prices depend on besides the cart: their reseller flag, their tier, and a shop setting."""

    reseller: bool
    tier: Tier | None
    setting: str | None

    @classmethod
    def of(cls, reseller: bool | None, tier: Tier | None, setting: str | None) -> "Standing":
        """From the three columns `with_standing` adds (the reseller flag is None for no such user)."""
        return cls(bool(reseller), tier, setting)


def _spend(user_id: int | BindParameter[int]) -> ScalarSelect[int]:
    return (
        select(func.coalesce(func.sum(Order.total_minor + Order.credit_minor - Order.shipping_minor), 0))
        .where(Order.user_id == user_id, delivered())
        .scalar_subquery()
    )


def _reached(tier: type[Tier], spend: int | ScalarSelect[int]) -> Select[tuple[Tier]]:
    """The tier a buyer who spent `spend` reached: the highest threshold at or below it (the one rule)."""
    return select(tier).where(tier.threshold_minor <= spend).order_by(tier.threshold_minor.desc()).limit(1)


def with_standing(stmt: Select[Any], buyer: SQLColumnExpression[int], user_id: BindParameter[int]) -> Select[Any]:
    """`stmt` with LoyaltyRepo.standing's three columns added last (`Standing.of` reads them), for the buyer
    `buyer` (joined on) whose id is the parameter `user_id`, and the shop setting named by the parameter `setting`:
    a read that needs the standing beside what it reads carries it in its own statement."""
    reached = aliased(Tier)
    tier_id = _reached(reached, _spend(user_id)).with_only_columns(reached.id).scalar_subquery()
    value = select(ShopSetting.value).where(ShopSetting.key == bindparam("setting")).scalar_subquery()
    return (
        stmt.add_columns(User.is_reseller, Tier, value)
        .outerjoin(User, User.id == buyer)
        .outerjoin(Tier, Tier.id == tier_id)
    )


@functools.cache
def _standing() -> Select[tuple[bool | None, Tier | None, str | None]]:
    """LoyaltyRepo.standing's statement, with the parameters `user_id` and `setting`. Built once: building it
    and its cache key took SQLAlchemy longer than running it, on every screen with a price."""
    user_id = bindparam("user_id", type_=BigInteger)
    buyer = select(user_id.label("id")).subquery()  # one row, whether the user exists or not
    return with_standing(select().select_from(buyer), buyer.c.id, user_id)


class LoyaltyRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def tiers(self) -> list[Tier]:
        """Lowest threshold first."""
        return list((await self._s.execute(select(Tier).order_by(Tier.threshold_minor))).scalars())

    async def standing(self, user_id: int, setting: str) -> Standing:
        """The buyer's reseller flag (False for no such user), their tier by lifetime spend (`tier_for`) and the
        shop setting `setting`, in one statement: every screen with a price needs them."""
        result = await self._s.execute(_standing(), {"user_id": user_id, "setting": setting})
        return Standing.of(*result.one())

    async def tier_for(self, spend: int) -> Tier | None:
        """The tier of a buyer who spent `spend`: the highest threshold they reached."""
        return (await self._s.execute(_reached(Tier, spend))).scalar_one_or_none()

    async def next_tier(self, spend: int) -> Tier | None:
        """The lowest tier above `spend`."""
        stmt = select(Tier).where(Tier.threshold_minor > spend).order_by(Tier.threshold_minor).limit(1)
        return (await self._s.execute(stmt)).scalar_one_or_none()

    async def add_tier(self, tier: Tier) -> Tier:
        """Raises sqlalchemy.exc.IntegrityError when the name or the threshold is taken."""
        self._s.add(tier)
        await self._s.flush()
        return tier

    async def delete_tier(self, tier_id: int) -> Tier | None:
        """The deleted tier; None when there was none."""
        tier = await self._s.get(Tier, tier_id)
        if tier is None:
            return None
        await self._s.execute(delete(Tier).where(Tier.id == tier_id))
        return tier

    async def lifetime_spend(self, user_id: int) -> int:
        """What the buyer's delivered orders cost them, shipping aside, in minor units: store credit they paid
        with counts as spent."""
        return int((await self._s.execute(select(_spend(user_id)))).scalar_one())

    async def refer(self, user_id: int, referrer_id: int, now: datetime) -> bool:
        """Attribute the buyer to the referrer: once, never to themselves, only to someone who exists, and only
        before the buyer's first order. False, changing nothing, otherwise."""
        referrer = aliased(User)
        result = await self._s.execute(
            update(User)
            .where(
                User.id == user_id,
                User.id != referrer_id,
                User.referred_by_id.is_(None),
                ~exists().where(Order.user_id == user_id),
                exists().where(referrer.id == referrer_id),
            )
            .values(referred_by_id=referrer_id, referred_at=now)
        )
        return getattr(result, "rowcount", 0) == 1

    async def take_referral_reward(self, user_id: int, now: datetime) -> int | None:
        """The id of the buyer's referrer, the first time this is asked (their first delivered order earns the
        reward); None for a buyer nobody referred, or asked before."""
        result = await self._s.execute(
            update(User)
            .where(User.id == user_id, User.referred_by_id.is_not(None), User.referral_rewarded_at.is_(None))
            .values(referral_rewarded_at=now)
            .returning(User.referred_by_id)
        )
        referrer = result.scalar_one_or_none()
        return None if referrer is None else int(referrer)

    async def note_tier(self, user_id: int, threshold_minor: int) -> bool:
        """Remember that the buyer was told of the tier at `threshold_minor`; False, changing nothing, when they
        were told of this one or a higher one already."""
        result = await self._s.execute(
            update(User)
            .where(User.id == user_id, User.tier_notified_minor < threshold_minor)
            .values(tier_notified_minor=threshold_minor)
        )
        return getattr(result, "rowcount", 0) == 1

    async def referred(self, user_id: int) -> tuple[int, int]:
        """(buyers this one referred, of whom how many have had an order delivered)."""
        result = await self._s.execute(
            select(func.count(), func.count(User.referral_rewarded_at)).where(User.referred_by_id == user_id)
        )
        invited, bought = result.one()
        return int(invited), int(bought)

    async def top_referrers(self, limit: int) -> list[tuple[User, int, int]]:
        """(referrer, buyers referred, of whom with a delivered order), most buyers who bought first."""
        friend = aliased(User)
        invited, bought = func.count(friend.id), func.count(friend.referral_rewarded_at)
        result = await self._s.execute(
            select(User, invited, bought)
            .join(friend, friend.referred_by_id == User.id)
            .group_by(User.id)
            .order_by(bought.desc(), invited.desc(), User.id)
            .limit(limit)
        )
        return [(user, int(n), int(b)) for user, n, b in result.tuples()]
