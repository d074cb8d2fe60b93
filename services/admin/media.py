"""A category's or product's picture: a photo or a short video the admin sends from Telegram.

Telegram keeps the file; the shop stores its file_id (to send it) and file_unique_id (to recognise it). What
may be attached is decided from the message's own description of the file (type, size, duration), before
anything is stored; the bytes are never downloaded. Every change is one transaction with its audit row.
"""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import MediaType
from models.shop import Category, Product
from repositories.audit import AuditRepo
from repositories.catalog import CatalogRepo
from services.admin.inventory import Level
from services.dto import Media
from services.shop.catalog import NotFound, media_of

MIB = 1024 * 1024
MAX_PHOTO_BYTES = 5 * MIB  # buyers load the card on mobile data; Telegram's own photos are far smaller
MAX_VIDEO_BYTES = 20 * MIB
MAX_VIDEO_SECONDS = 60
MODELS: dict[Level, type[Category | Product]] = {Level.category: Category, Level.product: Product}


@dataclass(frozen=True, slots=True)
class MediaUpload:
    """What the admin's message carries, as Telegram describes it."""

    content_type: str  # Telegram's: "photo", "video", "document", "animation", "sticker", "text", ...
    file_id: str = ""
    unique_id: str = ""
    size: int | None = None  # bytes, when Telegram says
    duration: int | None = None  # seconds, for a video


class MediaRefused(Exception):
    """Not attached; `reason` is one of "unsupported", "photo_too_large", "video_too_large", "video_too_long"."""

    def __init__(self, reason: str, content_type: str) -> None:
        super().__init__(reason, content_type)
        self.reason = reason
        self.content_type = content_type


def checked_media(upload: MediaUpload) -> Media:
    """The picture to attach. Raises MediaRefused for anything but a photo of at most MAX_PHOTO_BYTES or a video
    of at most MAX_VIDEO_BYTES and MAX_VIDEO_SECONDS (an image sent as a file is a document: refused, since
    Telegram cannot show a document's file_id as a photo)."""
    if upload.content_type not in tuple(MediaType) or not upload.file_id or not upload.unique_id:
        raise MediaRefused("unsupported", upload.content_type)
    kind = MediaType(upload.content_type)
    limit = MAX_PHOTO_BYTES if kind is MediaType.photo else MAX_VIDEO_BYTES
    if upload.size is not None and upload.size > limit:
        raise MediaRefused(f"{kind}_too_large", upload.content_type)
    if kind is MediaType.video and (upload.duration or 0) > MAX_VIDEO_SECONDS:
        raise MediaRefused("video_too_long", upload.content_type)
    return Media(kind, upload.file_id, upload.unique_id)


class AdminMediaService:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def media(self, level: Level, node_id: int) -> tuple[str, Media | None]:
        """The node's name and picture. Read-only. Raises NotFound (also for a subcategory: they have none)."""
        async with read_only(self._session):
            node = await self._node(level, node_id, lock=False)
            return node.name, media_of(node)

    async def attach(self, actor: str, level: Level, node_id: int, upload: MediaUpload) -> Media:
        """Show `upload` as the category's or product's picture, replacing any. Audited. Raises MediaRefused
        (see checked_media; nothing changes) or NotFound. Attaching the same file again changes nothing."""
        media = checked_media(upload)
        async with self._session.begin():
            node = await self._node(level, node_id, lock=True)
            before = media_of(node)
            if before == media:
                return media
            node.media_type, node.media_file_id, node.media_unique_id = media.type, media.file_id, media.unique_id
            await self._session.flush()
            await self._audit(actor, level, node, before, media)
        return media

    async def detach(self, actor: str, level: Level, node_id: int) -> bool:
        """Remove the picture; the card is text again. Audited. False, changing nothing, when there was none.
        Raises NotFound."""
        async with self._session.begin():
            node = await self._node(level, node_id, lock=True)
            before = media_of(node)
            if before is None:
                return False
            node.media_type = node.media_file_id = node.media_unique_id = None
            await self._session.flush()
            await self._audit(actor, level, node, before, None)
        return True

    async def _node(self, level: Level, node_id: int, *, lock: bool) -> Category | Product:
        model = MODELS.get(level)
        node = await CatalogRepo(self._session).get(model, node_id, lock=lock) if model else None
        if not isinstance(node, Category | Product):
            raise NotFound
        return node

    async def _audit(
        self, actor: str, level: Level, node: Category | Product, before: Media | None, after: Media | None
    ) -> None:
        def described(media: Media | None) -> dict[str, str] | None:
            return {"type": media.type.value, "file_unique_id": media.unique_id} if media else None

        await AuditRepo(self._session).record(
            actor, f"{level.name}.media", level.name, node.id, before=described(before), after=described(after)
        )
