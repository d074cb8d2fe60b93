"""What a file or unlimited product delivers. The admin sends a document (as a file): for a file product each
one becomes a unit, and the dialog waits for more; for an unlimited product it becomes the payload every buyer
gets, and so can a text. Size and type are checked from what Telegram says before the bot downloads anything
(getFile); a photo, a video or anything else is refused with the reason, and the dialog waits for another try
or Cancel."""

from html import escape
from io import BytesIO

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers.admin.inventory import InvAction, InvCb, Node, cancel_button, product_of_kind, show_node
from handlers.admin.panel import actor, answer
from l10n import L10n
from models.enums import ProductKind
from services.admin.inventory import AdminInventoryService
from services.admin.payloads import (
    MAX_DOCUMENT_BYTES,
    AdminPayloadService,
    PayloadRefused,
    PayloadStored,
    checked_document,
)
from services.admin.stock import WrongKind
from services.dto import GoodsFile
from services.shop.catalog import NotFound
from services.wallet.goods import GoodsKeyMissing

PAYLOAD_KINDS = (ProductKind.file, ProductKind.unlimited)


class PayloadForm(StatesGroup):
    waiting = State()  # data: id (the product), kind, variant (a file product's; 0: its only one)


async def ask(
    query: CallbackQuery,
    callback_data: InvCb,
    state: FSMContext,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    card = await product_of_kind(
        query, callback_data.id, PAYLOAD_KINDS, admin_inventory, settings, l10n, callback_answer
    )
    if card is not None:
        await begin(query, state, card.id, card.kind, 0, l10n)


async def begin(
    query: CallbackQuery, state: FSMContext, product_id: int, kind: ProductKind, variant_id: int, l10n: L10n
) -> None:
    """Wait for what the product delivers: documents for its variant `variant_id` (a file product; 0: its only
    one), or the payload of an unlimited product."""
    await state.set_state(PayloadForm.waiting)
    await state.set_data({"id": product_id, "kind": kind.value, "variant": variant_id})
    limit = MAX_DOCUMENT_BYTES // (1024 * 1024)
    await answer(query, l10n(f"admin.payload.ask_{kind}", limit=limit), cancel_button(Node.product, product_id, l10n))


async def got_document(
    message: Message,
    state: FSMContext,
    bot: Bot,
    admin_payloads: AdminPayloadService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
) -> None:
    data = await state.get_data()
    product_id, document = int(data["id"]), message.document
    assert document is not None  # the filter
    try:
        name = checked_document(document.file_name, document.file_size)
        content = BytesIO()
        await bot.download(document, destination=content)  # getFile, then the file itself: no transaction open
        document_file = GoodsFile(name, content.getvalue())
        stored = await admin_payloads.add_document(actor(message), product_id, document_file, data.get("variant", 0))
    except PayloadRefused as e:
        await message.answer(l10n(e.key, **e.params), reply_markup=cancel_button(Node.product, product_id, l10n))
        return
    except (GoodsKeyMissing, NotFound, WrongKind) as e:
        await gone(message, state, e, l10n)
        return
    await stored_reply(message, state, stored, escape(name), admin_inventory, settings, l10n)


async def got_text(
    message: Message,
    state: FSMContext,
    admin_payloads: AdminPayloadService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
) -> None:
    data = await state.get_data()
    product_id = int(data["id"])
    if data["kind"] != ProductKind.unlimited:
        await not_a_document(message, state, l10n)
        return
    try:
        stored = await admin_payloads.set_text(actor(message), product_id, message.text or "")
    except PayloadRefused as e:
        await message.answer(l10n(e.key, **e.params), reply_markup=cancel_button(Node.product, product_id, l10n))
        return
    except (GoodsKeyMissing, NotFound, WrongKind) as e:
        await gone(message, state, e, l10n)
        return
    await stored_reply(message, state, stored, "", admin_inventory, settings, l10n)


async def not_a_document(message: Message, state: FSMContext, l10n: L10n) -> None:
    """A photo, a video, a sticker, …: Telegram would not let the buyer have it as the file it was."""
    data = await state.get_data()
    key = f"admin.payload.not_document_{data['kind']}"
    await message.answer(l10n(key), reply_markup=cancel_button(Node.product, int(data["id"]), l10n))


async def gone(message: Message, state: FSMContext, error: Exception, l10n: L10n) -> None:
    await state.clear()
    key = "no_goods_key" if isinstance(error, GoodsKeyMissing) else "gone"
    await message.answer(l10n(f"admin.inventory.{key}"))


async def stored_reply(
    message: Message,
    state: FSMContext,
    stored: PayloadStored,
    name: str,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
) -> None:
    """A file product's unit: said so, and the dialog waits for the next document. An unlimited product's
    payload: said so, and its view."""
    if stored.kind is ProductKind.file:
        key = "admin.payload.file_added" if stored.added else "admin.payload.file_known"
        reply = l10n(key, name=name, available=stored.available)
        await message.answer(reply, reply_markup=cancel_button(Node.product, stored.product_id, l10n))
        return
    await state.clear()
    await message.answer(l10n("admin.payload.set"))
    await show_node(message, Node.product, stored.product_id, 0, admin_inventory, settings, l10n)


def build() -> Router:
    """Before handlers.admin.inventory_stock, whose last handler takes what no dialog step could use."""
    router = Router(name="admin-inventory-payload")
    router.callback_query.register(ask, InvCb.filter((F.action == InvAction.payload) & (F.node == Node.product)))
    waiting = StateFilter(PayloadForm.waiting)
    router.message.register(got_document, waiting, F.document)
    router.message.register(got_text, waiting, F.text, ~F.text.startswith("/"))
    router.message.register(not_a_document, waiting, ~F.text.startswith("/"))
    return router
