"""The buyer behind each update, and the short-lived memory of the buyers seen lately."""

import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from l10n import LANGUAGES
from models.database import read_only
from models.shop import User
from repositories.users import UserRepo
from services.dto import UserDTO


def to_dto(user: User) -> UserDTO:
    return UserDTO(
        id=user.id,
        telegram_id=user.telegram_id,
        username=user.username,
        language=user.language,
        is_banned=user.is_banned,
    )


USERS_REMEMBERED = 10_000  # past this many, the memory starts again: a burst of strangers cannot grow it


@dataclass(frozen=True, slots=True)
class _Known:
    user: UserDTO
    erased: bool
    until: float


class KnownUsers:
    """The users behind recent updates, so that the next update from a known buyer costs no query.

    Only for a process that serves every update of the shop itself (long polling: Telegram hands updates to
    one consumer): a ban, unban, language change or erasure made by this process forgets the user after its
    commit, and an entry lives `seconds` at most, for whatever else changes users. With several instances
    (webhook mode) pass `seconds=0`: nothing is remembered and every update reads the user.

    A read that started before a change was forgotten is not remembered (the generation moved on), so a
    lookup racing a ban cannot bring the unbanned user back.
    """

    def __init__(self, seconds: float = 60.0) -> None:
        self._seconds = seconds
        self._known: dict[int, _Known] = {}
        self.generation = 0

    def get(self, telegram_id: int) -> _Known | None:
        known = self._known.get(telegram_id)
        if known is None or known.until < time.monotonic():
            return None
        return known

    def remember(self, user: UserDTO, erased: bool, generation: int) -> None:
        """Keep `user`, read when the generation was `generation`, unless something was forgotten since."""
        if self._seconds <= 0 or generation != self.generation:
            return
        if len(self._known) >= USERS_REMEMBERED:
            self._known.clear()
        self._known[user.telegram_id] = _Known(user, erased, time.monotonic() + self._seconds)

    def forget(self, user_id: int) -> None:
        """After a committed change to user `user_id`: their next update reads them again."""
        self.generation += 1
        for telegram_id in [t for t, known in self._known.items() if known.user.id == user_id]:
            del self._known[telegram_id]


class UserService:
    def __init__(self, session: AsyncSession, known: KnownUsers | None = None) -> None:
        self._session = session
        self._known = known or KnownUsers(seconds=0)

    async def register(self, telegram_id: int, username: str | None, language: str) -> UserDTO:
        """The buyer behind an update, created on first contact. Idempotent and race-free.

        Runs on every update, so the usual case (known user, same username) only reads, and a user remembered
        in `KnownUsers` costs no query at all. A buyer who had their personal data erased (/deleteme) keeps no
        username.
        """
        known = self._known.get(telegram_id)
        if known is not None and (known.user.username == username or known.erased):
            return known.user
        generation = self._known.generation
        repo = UserRepo(self._session)
        async with read_only(self._session):
            user = await repo.by_telegram_id(telegram_id)
        if user is None or (user.username != username and user.erased_at is None):
            async with self._session.begin():
                if user is None:  # another update of theirs may have inserted them meanwhile
                    user = await repo.insert_if_missing(telegram_id, username, language)
                    user = user or await repo.by_telegram_id(telegram_id)
                    assert user is not None
                else:
                    await repo.set_username(user.id, username)
                    user.username = username
        dto = to_dto(user)
        self._known.remember(dto, user.erased_at is not None, generation)
        return dto

    async def set_language(self, user_id: int, language: str) -> None:
        """Remember the buyer's language. Raises ValueError for a language we have no strings for."""
        if language not in LANGUAGES:
            raise ValueError(language)
        async with self._session.begin():
            await UserRepo(self._session).set_language(user_id, language)
        self._known.forget(user_id)

    async def set_blocked_bot(self, telegram_id: int, blocked: bool) -> None:
        """The buyer blocked (or unblocked) the bot in their private chat: broadcasts skip them while blocked."""
        async with self._session.begin():
            await UserRepo(self._session).set_blocked_bot(telegram_id, blocked)
