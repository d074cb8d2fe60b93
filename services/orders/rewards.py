"""What a delivered order earns: its buyer a message when their lifetime spend reaches a tier, and, for a
referred buyer's first delivered order, their referrer a single-use voucher (REFERRAL_REWARD, set by an
admin) and a message. Called by services.orders.lifecycle inside the transition that delivers an order, so
it happens exactly once; the once-only steps are conditional updates as well, for two orders of one buyer
delivered at the same moment."""

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.orders import Order
from models.promotions import Voucher
from repositories.loyalty import LoyaltyRepo
from repositories.outbox import OutboxRepo
from repositories.settings import ShopSettingsRepo
from repositories.users import UserRepo
from repositories.vouchers import VoucherRepo
from services.money import format_percent
from services.outbox import notify_buyer
from services.shop.vouchers import last_day, parse_value, random_code, value_text

log = logging.getLogger(__name__)
REFERRAL_REWARD = "referral.reward"  # shop setting: "5.00" or "10%" off; not set: referrals earn nothing
REWARD_DAYS = 90  # how long a referral reward can be used
REWARD_PREFIX = "R-"


async def order_delivered(session: AsyncSession, settings: Settings, order: Order, now: datetime) -> None:
    """The order's goods are the buyer's (digital goods sent, or the parcel shipped): tell the buyer of a tier
    they reached, once per tier, and reward their referrer, once per referred buyer."""
    loyalty = LoyaltyRepo(session)
    tier = await loyalty.tier_for(await loyalty.lifetime_spend(order.user_id))
    if tier is not None and await loyalty.note_tier(order.user_id, tier.threshold_minor):
        await notify_buyer(session, order, "tier_reached", tier=tier.name, percent=format_percent(tier.percent_bp))
    referrer_id = await loyalty.take_referral_reward(order.user_id, now)
    reward = await ShopSettingsRepo(session).get(REFERRAL_REWARD)
    if referrer_id is None or reward is None:
        return
    try:
        kind, value = parse_value(reward)
    except ValueError:  # the admin screen checks it; a hand-edited row must not stop a payment
        log.warning("shop setting %s is not a voucher value: no referral reward", REFERRAL_REWARD)
        return
    vouchers = VoucherRepo(session)
    code = random_code(REWARD_PREFIX)
    while await vouchers.by_code(code) is not None:  # 50 bits: never, in practice
        code = random_code(REWARD_PREFIX)
    until = now + timedelta(days=REWARD_DAYS)
    await vouchers.add(
        [Voucher(code=code, kind=kind, value=value, max_uses=1, per_buyer=1, owner_id=referrer_id, valid_until=until)]
    )
    await OutboxRepo(session).enqueue(
        "referral_reward",
        await UserRepo(session).telegram_id(referrer_id),
        None,
        code=code,
        value=value_text(kind, value, settings.fiat_currency),
        until=f"{last_day(until):%Y-%m-%d}",
    )
