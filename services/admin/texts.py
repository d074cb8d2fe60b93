"""The shop's own texts an admin writes in the bot: the welcome message, /terms and /paysupport, per language
(services.shop.texts). A text not written is the built-in one. Every change is audited, never the text."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from l10n import LANGUAGES
from models.database import read_only
from repositories.audit import AuditRepo
from repositories.settings import ShopSettingsRepo
from services.shop.texts import TEXT_LIMIT, ShopText, text_key


class TextRefused(Exception):
    """Empty, or longer than TEXT_LIMIT."""


@dataclass(frozen=True, slots=True)
class TextState:
    kind: ShopText
    language: str
    custom: str | None  # None: the built-in text is shown


class AdminTextsService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def all(self) -> list[TextState]:
        """Each text in each language. Read-only."""
        async with read_only(self._session):
            repo = ShopSettingsRepo(self._session)
            return [
                TextState(kind, language, await repo.get(text_key(kind, language)))
                for kind in ShopText
                for language in LANGUAGES
            ]

    async def set(self, actor: str, kind: ShopText, language: str, text: str) -> None:
        """Buyers whose language is `language` see `text` (plain text) from now on. Raises TextRefused or
        ValueError (no such language)."""
        if language not in LANGUAGES:
            raise ValueError(language)
        text = text.strip()
        if not text or len(text) > TEXT_LIMIT:
            raise TextRefused
        async with self._session.begin():
            await ShopSettingsRepo(self._session).set(text_key(kind, language), text)
            await AuditRepo(self._session).record(
                actor, "text.set", "setting", None, after={"text": f"{kind}.{language}"}
            )

    async def reset(self, actor: str, kind: ShopText, language: str) -> None:
        """Back to the built-in text. Idempotent."""
        async with self._session.begin():
            if await ShopSettingsRepo(self._session).reset(text_key(kind, language)):
                after = {"text": f"{kind}.{language}"}
                await AuditRepo(self._session).record(actor, "text.reset", "setting", None, after=after)
