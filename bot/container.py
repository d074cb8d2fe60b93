"""The long-lived objects of one bot process, and the per-update services built from them."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from l10n import Translator
from services.users import UserService
from services.wallet import Wallet


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    translator: Translator
    wallet: Wallet

    def services(self, session: AsyncSession) -> dict[str, object]:
        """The services a handler may ask for by name, all sharing the update's one session."""
        return {"users": UserService(session)}
