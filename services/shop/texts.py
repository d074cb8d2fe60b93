"""The shop's own texts: the welcome message, /terms and /paysupport, per language. An admin may write them in
the bot; one they did not write is the built-in text (l10n), filled in with SHOP_NAME and SUPPORT_CONTACT."""

from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from repositories.settings import ShopSettingsRepo

TEXT_LIMIT = 3000  # leaves room in Telegram's 4096 for what the bot adds


class ShopText(StrEnum):
    welcome = "welcome"
    terms = "terms"
    paysupport = "paysupport"


def text_key(kind: ShopText, language: str) -> str:
    """Where the admin's text is kept (models.promotions.ShopSetting)."""
    return f"text.{kind}.{language}"


class ShopTextService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def text(self, kind: ShopText, language: str) -> str | None:
        """The admin's text in `language`; None: use the built-in one. Read-only."""
        async with read_only(self._session):
            return await ShopSettingsRepo(self._session).get(text_key(kind, language))
