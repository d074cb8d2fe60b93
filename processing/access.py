"""The scheduler's channel-access job: invite links for paid access, renewal invoices before the end, and
removing members whose access ended. The database side is services.access.AccessKeeping; this module only
talks to Telegram, after the step's claim has committed and before it is recorded."""

import logging
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from models.types import utcnow
from services.access import AccessKeeping, Claim

log = logging.getLogger(__name__)
REFUSALS = (TelegramBadRequest, TelegramForbiddenError)  # Telegram said no: rights, chat gone, … (not a fault)


class AccessKeeper:
    def __init__(self, keeping: AccessKeeping, bot: Bot, invite_hours: int) -> None:
        self._keeping = keeping
        self._bot = bot
        self._invite_hours = invite_hours

    async def run(self) -> None:
        """One round of every step that is due. Safe to run twice at once, or in several processes."""
        try:
            await self.invite_due()
            await self.renew_due()
            await self.remove_due()
        except TelegramRetryAfter as e:  # flood control: the rest waits for the next round
            log.warning("channel access: Telegram asked to wait %s s", e.retry_after)

    async def invite_due(self) -> None:
        """A one-use invite link (member_limit 1, expiring after ACCESS_INVITE_HOURS, never after the access
        ends) for each paid access; the buyer gets it through the outbox."""
        for access_id in await self._keeping.due_invites(utcnow()):
            claim = await self._keeping.claim_invite(access_id, utcnow())
            if claim is None:
                continue  # done, or another run has it
            expires = min(utcnow() + timedelta(hours=self._invite_hours), claim.until)
            try:
                link = await self._bot.create_chat_invite_link(
                    claim.chat_id, name=f"#{claim.order_id}", expire_date=expires, member_limit=1
                )
            except REFUSALS as e:
                await self._keeping.invite_refused(claim, e.message, utcnow())
                continue
            except TelegramRetryAfter:
                raise
            except Exception as e:  # network trouble, Telegram 5xx: the claim runs out and the next run tries
                log.warning("channel access %s: no invite link yet: %s", access_id, type(e).__name__)
                continue
            await self._keeping.invited(claim, link.invite_link, expires, utcnow())

    async def renew_due(self) -> None:
        """The renewal invoice of each access ending within ACCESS_RENEWAL_DAYS (no Bot API call: the outbox
        sends it)."""
        for access_id in await self._keeping.due_renewals(utcnow()):
            await self._keeping.send_renewal(access_id, utcnow())

    async def remove_due(self) -> None:
        """Each member whose access ended unrenewed leaves the chat: banned, then unbanned at once, so that they
        may come back with a new purchase; the buyer is told through the outbox."""
        for access_id in await self._keeping.due_removals(utcnow()):
            claim = await self._keeping.claim_removal(access_id, utcnow())
            if claim is None:
                continue
            try:
                await self._remove(claim)
            except REFUSALS as e:
                await self._keeping.removal_refused(claim, e.message, utcnow())
                continue
            except TelegramRetryAfter:
                raise
            except Exception as e:
                log.warning("channel access %s: not removed yet: %s", access_id, type(e).__name__)
                continue
            await self._keeping.removed(claim, utcnow())

    async def _remove(self, claim: Claim) -> None:
        # Both calls are harmless to repeat: a claim that ran out after the ban (a crash) bans and unbans again.
        await self._bot.ban_chat_member(claim.chat_id, claim.telegram_id)
        await self._bot.unban_chat_member(claim.chat_id, claim.telegram_id, only_if_banned=True)


def schedule_access(scheduler: AsyncIOScheduler, keeper: AccessKeeper, seconds: int = 60) -> None:
    scheduler.add_job(
        keeper.run,
        "interval",
        seconds=seconds,
        id="channel-access",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=utcnow(),
    )
