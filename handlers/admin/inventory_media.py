"""A category's or product's picture: the admin sends a photo or a short video (or removes the one there is).
Whatever else arrives is refused with the reason, and the dialog waits for another try or Cancel."""

from html import escape

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers.admin.inventory import InvAction, InvCb, Node, cancel_button, show_node
from handlers.admin.panel import actor, answer, rows
from handlers.keyboards import button
from handlers.render import alert
from l10n import L10n
from services.admin.inventory import AdminInventoryService, Level
from services.admin.media import (
    MAX_PHOTO_BYTES,
    MAX_VIDEO_BYTES,
    MAX_VIDEO_SECONDS,
    MIB,
    AdminMediaService,
    MediaRefused,
    MediaUpload,
)
from services.shop.catalog import NotFound

WITH_MEDIA = (Node.category, Node.product)


class MediaForm(StatesGroup):
    waiting = State()


def upload_of(message: Message) -> MediaUpload:
    """What the message carries as Telegram describes it: a photo's largest size, a video, or only its type."""
    if message.photo:
        largest = message.photo[-1]
        return MediaUpload("photo", largest.file_id, largest.file_unique_id, largest.file_size)
    if message.video:
        video = message.video
        return MediaUpload("video", video.file_id, video.file_unique_id, video.file_size, video.duration)
    return MediaUpload(ContentType(message.content_type).value)


def limits() -> dict[str, int]:
    return {"photo_mb": MAX_PHOTO_BYTES // MIB, "video_mb": MAX_VIDEO_BYTES // MIB, "seconds": MAX_VIDEO_SECONDS}


async def ask(
    query: CallbackQuery,
    callback_data: InvCb,
    state: FSMContext,
    admin_media: AdminMediaService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    node, node_id = callback_data.node, callback_data.id
    try:
        name, media = await admin_media.media(Level(node.value), node_id)
    except NotFound:
        await show_node(query, node, node_id, 0, admin_inventory, settings, l10n, callback_answer)
        return
    await state.set_state(MediaForm.waiting)
    await state.set_data({"node": node.value, "id": node_id})
    now = l10n(f"admin.media.now_{media.type.value}" if media else "admin.media.now_none")
    remove = [button(l10n("admin.media.remove"), InvCb(action=InvAction.unmedia, node=node, id=node_id))]
    cancel = cancel_button(node, node_id, l10n).inline_keyboard[0]
    await answer(
        query, l10n("admin.media.ask", name=escape(name), now=now, **limits()), rows(remove if media else [], cancel)
    )


async def got_media(
    message: Message,
    state: FSMContext,
    admin_media: AdminMediaService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
) -> None:
    data = await state.get_data()
    node, node_id = Node(data["node"]), int(data["id"])
    try:
        media = await admin_media.attach(actor(message), Level(node.value), node_id, upload_of(message))
    except MediaRefused as e:
        known = f"admin.media.type_{e.content_type}"
        kind = l10n(known) if known in l10n else e.content_type
        await message.answer(
            l10n(f"admin.media.{e.reason}", type=escape(kind), **limits()),
            reply_markup=cancel_button(node, node_id, l10n),
        )
        return
    except NotFound:
        node, node_id = Node.root, 0
    else:
        await message.answer(l10n(f"admin.media.saved_{media.type.value}"))
    await state.clear()
    await show_node(message, node, node_id, 0, admin_inventory, settings, l10n)


async def remove(
    query: CallbackQuery,
    callback_data: InvCb,
    state: FSMContext,
    admin_media: AdminMediaService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    await state.clear()
    try:
        removed = await admin_media.detach(actor(query), Level(callback_data.node.value), callback_data.id)
    except NotFound:
        alert(callback_answer, l10n("admin.inventory.gone"))
    else:
        callback_answer.text = l10n("admin.media.removed" if removed else "admin.media.none")
    await show_node(query, callback_data.node, callback_data.id, 0, admin_inventory, settings, l10n, callback_answer)


def build() -> Router:
    router = Router(name="admin-inventory-media")
    router.callback_query.register(ask, InvCb.filter((F.action == InvAction.media) & F.node.in_(WITH_MEDIA)))
    router.callback_query.register(remove, InvCb.filter((F.action == InvAction.unmedia) & F.node.in_(WITH_MEDIA)))
    router.message.register(got_media, StateFilter(MediaForm.waiting), ~F.text.startswith("/"))
    return router
