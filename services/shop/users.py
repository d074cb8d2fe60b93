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
        timeout_count=user.timeout_count,
        is_banned=user.is_banned,
    )


class UserService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def register(self, telegram_id: int, username: str | None, language: str) -> UserDTO:
        """The buyer behind an update, created on first contact. Idempotent and race-free.

        Runs on every update, so the usual case (known user, same username) only reads. A buyer who had their
        personal data erased (/deleteme) keeps no username.
        """
        repo = UserRepo(self._session)
        async with read_only(self._session):
            user = await repo.by_telegram_id(telegram_id)
        if user is not None and (user.username == username or user.erased_at is not None):
            return to_dto(user)
        async with self._session.begin():
            if user is None:
                await repo.insert_if_missing(telegram_id, username, language)
                user = await repo.by_telegram_id(telegram_id)
                assert user is not None
            else:
                await repo.set_username(user.id, username)
                user.username = username
            return to_dto(user)

    async def set_language(self, user_id: int, language: str) -> None:
        """Remember the buyer's language. Raises ValueError for a language we have no strings for."""
        if language not in LANGUAGES:
            raise ValueError(language)
        async with self._session.begin():
            await UserRepo(self._session).set_language(user_id, language)

    async def set_blocked_bot(self, telegram_id: int, blocked: bool) -> None:
        """The buyer blocked (or unblocked) the bot in their private chat: broadcasts skip them while blocked."""
        async with self._session.begin():
            await UserRepo(self._session).set_blocked_bot(telegram_id, blocked)
