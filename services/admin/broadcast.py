"""Broadcasts: one text to every user who has not blocked the bot and is not banned, sent through the outbox.

Starting one writes its record and one outbox row per recipient in one transaction; the outbox job sends
them (429: sends nothing more until retry_after has passed; 403: marks users.blocked_bot, so the next
broadcast skips them until they unblock the bot; a restart resumes from the database). Rows fall due
BROADCAST_PER_SECOND apart, so a broadcast leaves room in each outbox batch for order notifications.
BroadcastProgress, a scheduler job, edits the admin's progress message and records the end.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from l10n import Translator
from models.database import read_only
from models.enums import OutboxStatus
from models.ops import AuditLog
from models.types import utcnow
from repositories.broadcast import BroadcastRepo

log = logging.getLogger(__name__)
# Below the outbox job's ceiling of 50 messages per 2 s run (25/s, under Telegram's ~30/s).
BROADCAST_PER_SECOND = 20.0
WATCH_DAYS = 7  # a broadcast still unfinished after this long is no longer reported on


@dataclass(frozen=True, slots=True)
class BroadcastStatus:
    id: int
    total: int
    sent: int
    failed: int  # blocked the bot (403), or gave up after retries

    @property
    def done(self) -> bool:
        return self.sent + self.failed >= self.total


class AdminBroadcastService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def recipients(self) -> int:
        """How many users a broadcast started now would go to. Read-only."""
        async with read_only(self._session):
            return await BroadcastRepo(self._session).count_recipients()

    async def start(self, actor: str, text: str, language: str, chat_id: int, message_id: int) -> BroadcastStatus:
        """Queue `text` (HTML) for every user who has not blocked the bot and is not banned; progress goes to
        (chat_id, message_id).

        Idempotent per progress message: pressing Send twice starts one broadcast. Audited (the record is an
        audit row, action "broadcast.start"). Returns the broadcast's status right after queueing.
        """
        origin = f"preview {chat_id}:{message_id}"
        async with self._session.begin():
            repo = BroadcastRepo(self._session)
            await repo.lock()
            row = await repo.started_from(origin)
            if row is None:
                chat_ids = await repo.recipients()
                row = await repo.start(
                    actor,
                    origin,
                    {
                        "text": text,
                        "language": language,
                        "chat_id": chat_id,
                        "message_id": message_id,
                        "total": len(chat_ids),
                    },
                )
                first, last = await repo.enqueue(row.id, text, chat_ids, utcnow(), BROADCAST_PER_SECOND)
                row.after = {**(row.after or {}), "first_outbox_id": first, "last_outbox_id": last}
            return await _status(repo, row)


async def _status(repo: BroadcastRepo, row: AuditLog) -> BroadcastStatus:
    record = row.after or {}
    counts = await repo.counts(row.id, int(record.get("first_outbox_id", 0)), int(record.get("last_outbox_id", 0)))
    return BroadcastStatus(row.id, int(record.get("total", 0)), counts[OutboxStatus.sent], counts[OutboxStatus.failed])


class BroadcastProgress:
    """The scheduler job that keeps each admin's progress message current ("sent k of n, failed f").

    Run it every 2 s: that is its throttle. It edits only when the counts changed, and on the last
    message records "broadcast.finish" and shows the totals. Keeps nothing that a restart would lose.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bot: Bot, translator: Translator) -> None:
        self._sessions = sessions
        self._bot = bot
        self._translator = translator
        self._shown: dict[int, BroadcastStatus] = {}

    async def report(self) -> int:
        """Edit every unfinished broadcast's progress message; returns how many are still running."""
        running = 0
        async with self._sessions() as s:
            async with s.begin():
                repo = BroadcastRepo(s)
                rows = await repo.unfinished(utcnow() - timedelta(days=WATCH_DAYS))
                states = [(row.after or {}, await _status(repo, row)) for row in rows]
            for record, status in states:
                if status.done:
                    async with s.begin():
                        await BroadcastRepo(s).lock()
                        finished = await BroadcastRepo(s).finish(
                            "broadcast",
                            status.id,
                            {"total": status.total, "sent": status.sent, "failed": status.failed},
                        )
                    if finished:
                        await self._show(record, status, final=True)
                    self._shown.pop(status.id, None)
                    continue
                running += 1
                if self._shown.get(status.id) != status:
                    await self._show(record, status, final=False)
                    self._shown[status.id] = status
        return running

    async def _show(self, record: dict[str, Any], status: BroadcastStatus, final: bool) -> None:
        l10n = self._translator(str(record.get("language", "en")))
        text = l10n(
            "admin.broadcast.finished" if final else "admin.broadcast.progress",
            id=status.id,
            sent=status.sent,
            total=status.total,
            failed=status.failed,
        )
        chat_id, message_id = int(record["chat_id"]), int(record["message_id"])
        try:
            await self._bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
        except TelegramBadRequest as e:
            if final and "message is not modified" not in e.message:
                await self._send(chat_id, text)  # the progress message is gone: tell the admin anyway
        except TelegramAPIError as e:  # 429, 403, network: the next run tries again (unless final)
            log.warning("broadcast %s: progress not shown: %s", status.id, type(e).__name__)

    async def _send(self, chat_id: int, text: str) -> None:
        try:
            await self._bot.send_message(chat_id, text)
        except TelegramAPIError as e:
            log.warning("broadcast: final report not sent: %s", type(e).__name__)
