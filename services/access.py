"""Channel and group access: what a paid order grants, and the database side of the three steps that follow
it (processing.access talks to Telegram between them, never inside a transaction).

    paid order ──grant_access──▶ inviting ──invite link made──▶ active ──until − ACCESS_RENEWAL_DAYS──▶ renewal
    invoice (once per period) ──paid──▶ until + days (from the old end) ──…──▶ until passed ──▶ removing ──▶ ended

Each step is one conditional UPDATE on the access row (its state and the step's timestamp), so running a job
twice, or in two processes, does it once. A Bot API call is made only after a claim has committed (as the
outbox does), so a restart between claim and call waits for the claim to run out and then makes the call once;
what the buyer is told goes through the outbox, queued in the transaction that records the step.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from models.chains import Asset
from models.database import read_only
from repositories.access import AccessRepo
from repositories.catalog import CatalogRepo
from repositories.orders import OrderRepo
from repositories.outbox import OutboxRepo
from repositories.users import UserRepo
from repositories.variants import VariantRepo
from services.orders.access import audit_access, day
from services.orders.lifecycle import OutOfStock
from services.outbox import notify_admins
from services.payments.rates import RateService, RateUnavailable
from services.shop.checkout import CheckoutService
from services.wallet.merchant import Wallet

CLAIM_SECONDS = 60  # a claimed step no other run takes for this long
RETRY_AFTER_REFUSAL = timedelta(minutes=10)  # Telegram refused (rights taken away?): ask again this much later


@dataclass(frozen=True, slots=True)
class Claim:
    """A step this run has claimed: whom it is about, in which chat."""

    access_id: int
    chat_id: int
    chat_title: str
    telegram_id: int  # the buyer's
    order_id: int | None
    until: datetime


class AccessKeeping:
    """The steps after a grant. Each method is one transaction of its own (the Bot API is called between
    them); claims are conditional updates, so several processes may run the jobs at once."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, wallet: Wallet, rates: RateService
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._wallet = wallet
        self._rates = rates

    # -- the invite ------------------------------------------------------------------------------

    async def due_invites(self, now: datetime, limit: int = 50) -> list[int]:
        async with self._sessions() as s, read_only(s):
            return await AccessRepo(s).to_invite(now, limit)

    async def claim_invite(self, access_id: int, now: datetime) -> Claim | None:
        """Take the invite for CLAIM_SECONDS; None, changing nothing, when it is done or another run has it."""
        async with self._sessions.begin() as s:
            repo = AccessRepo(s)
            if not await repo.claim_invite(access_id, now, now + timedelta(seconds=CLAIM_SECONDS)):
                return None
            return await self._claim(s, access_id)

    async def invited(self, claim: Claim, link: str, link_expires: datetime, now: datetime) -> bool:
        """The link was made: the access is active and the buyer gets the link (outbox). Once."""
        async with self._sessions.begin() as s:
            if not await AccessRepo(s).invited(claim.access_id, now):
                return False
            await OutboxRepo(s).enqueue(
                "access_invite",
                claim.telegram_id,
                claim.order_id,
                link=link,
                chat=escape(claim.chat_title),
                until=day(claim.until),
                link_until=day(link_expires),
            )
            await audit_access(s, "invite", claim.access_id, {"state": "active"})
            return True

    async def invite_refused(self, claim: Claim, error: str, now: datetime) -> None:
        """Telegram refused the link (the bot lost its rights, the chat is gone): the admins are alerted once per
        error, and it is tried again RETRY_AFTER_REFUSAL later, so restoring the bot's rights is enough."""
        await self._refused(claim, error, now)

    # -- the renewal invoice ---------------------------------------------------------------------

    async def due_renewals(self, now: datetime, limit: int = 50) -> list[int]:
        before_end = now + timedelta(days=self._settings.access_renewal_days)
        async with self._sessions() as s, read_only(s):
            return await AccessRepo(s).to_renew(now, before_end, limit)

    async def send_renewal(self, access_id: int, now: datetime) -> int | None:
        """This period's renewal invoice, once: a new order for one unit of the same product (the variant the
        first order bought, or the product's only one: VariantRepo.renewed) placed for the buyer
        (services.shop.checkout: their price today, the asset of the order that granted the access if the shop
        still takes it), open until the access ends, and a message to the buyer with a button to it. Returns the
        order's id; None when it was sent before, or could not be placed (the product or that variant is off
        sale, or sold out, or no rate: the admins are told, and the access ends unless the buyer buys again)."""
        async with self._sessions() as s, read_only(s):
            access = await AccessRepo(s).get(access_id)
            if access is None or access.renewal_sent_at is not None:
                return None
            product = await CatalogRepo(s).product(access.product_id) if access.product_id else None
            variant = await VariantRepo(s).renewed(access.order_id, product.id) if product else None
            asset = await self._asset(s, access.order_id)
        problem = None if product is not None and product.is_active and variant is not None else "off_sale"
        rate = None
        if problem is None:
            try:
                rate = await self._rates.rate(asset.symbol)  # network I/O stays outside the transaction
            except RateUnavailable:
                return None  # tried again at the next run
        async with self._sessions() as s:
            try:
                async with s.begin():
                    repo = AccessRepo(s)
                    if not await repo.take_renewal(access_id, now):
                        return None
                    if product is None or variant is None or rate is None:
                        raise OutOfStock([])
                    checkout = CheckoutService(s, self._settings, self._wallet, self._rates)
                    order_id = await checkout.place_renewal(access.user_id, product, variant, asset, rate, access.until)
                    await repo.set_renewal_order(access_id, order_id)
                    telegram_id = await UserRepo(s).telegram_id(access.user_id)
                    await OutboxRepo(s).enqueue(
                        "access_renewal", telegram_id, order_id, chat=escape(access.chat_title), until=day(access.until)
                    )
                    after = {"renewal_order_id": order_id}
                    await audit_access(s, "renewal", access_id, after)
                    return order_id
            except OutOfStock:
                problem = problem or "sold_out"
        async with self._sessions.begin() as s:  # rolled back above: take this period's renewal, and say why
            if await AccessRepo(s).take_renewal(access_id, now):
                await notify_admins(
                    s,
                    self._settings.admin_ids,
                    "admin.access_renewal_failed",
                    access.order_id,
                    chat=escape(access.chat_title),
                    why=problem,
                )
        return None

    # -- the removal -----------------------------------------------------------------------------

    async def due_removals(self, now: datetime, limit: int = 50) -> list[int]:
        async with self._sessions() as s, read_only(s):
            return await AccessRepo(s).to_remove(now, limit)

    async def claim_removal(self, access_id: int, now: datetime) -> Claim | None:
        """An access past its end and not renewed → removing, for CLAIM_SECONDS; None when it was renewed,
        is done, or another run has it."""
        async with self._sessions.begin() as s:
            if not await AccessRepo(s).claim_removal(access_id, now, now + timedelta(seconds=CLAIM_SECONDS)):
                return None
            return await self._claim(s, access_id)

    async def removed(self, claim: Claim, now: datetime) -> bool:
        """The member is out of the chat: the access has ended and the buyer is told (outbox). Once."""
        async with self._sessions.begin() as s:
            if not await AccessRepo(s).ended(claim.access_id, now, None):
                return False
            await OutboxRepo(s).enqueue(
                "access_ended", claim.telegram_id, claim.order_id, chat=escape(claim.chat_title)
            )
            await audit_access(s, "end", claim.access_id, {"state": "ended"})
            return True

    async def removal_refused(self, claim: Claim, error: str, now: datetime) -> None:
        """Telegram refused to remove the member: tried again later, and the admins are alerted once per error
        (they may remove the member by hand)."""
        await self._refused(claim, error, now)

    # -- shared ----------------------------------------------------------------------------------

    async def _claim(self, s: AsyncSession, access_id: int) -> Claim:
        access = await AccessRepo(s).get(access_id)
        assert access is not None, access_id
        return Claim(
            access.id,
            access.chat_id,
            access.chat_title,
            await UserRepo(s).telegram_id(access.user_id),
            access.order_id,
            access.until,
        )

    async def _refused(self, claim: Claim, error: str, now: datetime) -> None:
        async with self._sessions.begin() as s:
            repo = AccessRepo(s)
            access = await repo.get(claim.access_id)
            if access is None:
                return
            if access.last_error != error:
                await notify_admins(
                    s,
                    self._settings.admin_ids,
                    "admin.access_refused",
                    claim.order_id,
                    chat=escape(claim.chat_title),
                    error=error,
                )
            await repo.refused(claim.access_id, error, now + RETRY_AFTER_REFUSAL)

    async def _asset(self, s: AsyncSession, order_id: int | None) -> Asset:
        """What the renewal is invoiced in: the granting order's asset while the shop takes it, else the first
        one it takes."""
        invoice = await OrderRepo(s).invoice(order_id) if order_id is not None else None
        asset = self._wallet.asset(invoice.chain, invoice.asset) if invoice is not None else None
        return asset or self._wallet.assets[0]
