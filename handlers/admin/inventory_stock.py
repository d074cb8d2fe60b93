"""Adding stock to a product: digital payloads pasted or uploaded (.txt, .csv, .json), or a physical
quantity; then a preview with the count, and nothing is stored before Confirm."""

from html import escape

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers.admin.inventory import InvAction, InvCb, InventoryForm, Node, cancel_button, show_node
from handlers.admin.panel import actor, answer, rows
from handlers.keyboards import button
from handlers.render import alert
from l10n import L10n
from models.enums import ProductKind
from services.admin.inventory import AdminInventoryService
from services.admin.stock import AdminStockService, StockAdded, StockPreview, WrongKind
from services.catalog_io.format import MAX_QUANTITY
from services.catalog_io.stock_files import MAX_FILE_BYTES, MAX_PROBLEMS_SHOWN, StockFileErrors
from services.shop.catalog import NotFound
from services.wallet.goods import GoodsKeyMissing


def confirm_buttons(product_id: int, l10n: L10n) -> InlineKeyboardMarkup:
    return rows(
        [
            button(l10n("admin.inventory.confirm"), InvCb(action=InvAction.confirm, node=Node.product, id=product_id)),
            button(l10n("admin.inventory.cancel"), InvCb(action=InvAction.cancel, node=Node.product, id=product_id)),
        ]
    )


def problems_text(e: StockFileErrors, l10n: L10n, key: str = "admin.inventory.stock_rejected") -> str:
    """Why the sent stock was refused, line by line; `key` says what did not happen."""
    shown = "\n".join(escape(p) for p in e.problems[:MAX_PROBLEMS_SHOWN])
    more = len(e.problems) - MAX_PROBLEMS_SHOWN
    return l10n(key, count=len(e.problems), problems=shown) + (
        "\n" + l10n("admin.inventory.stock_more_problems", count=more) if more > 0 else ""
    )


async def sent_stock(message: Message, bot: Bot) -> tuple[bytes, str | None]:
    """The bytes of pasted text (name None) or of an uploaded file, with its name. Raises StockFileErrors for a
    file too large to download."""
    document = message.document
    if document is None:
        return (message.text or "").encode(), None
    if (document.file_size or 0) > MAX_FILE_BYTES:
        raise StockFileErrors([f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB"])
    downloaded = await bot.download(document)
    return (downloaded.read() if downloaded else b""), document.file_name or "file"


async def ask_stock(
    query: CallbackQuery,
    callback_data: InvCb,
    state: FSMContext,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        card = await admin_inventory.product(callback_data.id)
    except NotFound:
        await show_node(query, Node.product, callback_data.id, 0, admin_inventory, settings, l10n, callback_answer)
        return
    await begin(query, state, card.id, card.name, card.kind, 0, l10n)


async def begin(
    query: CallbackQuery, state: FSMContext, product_id: int, name: str, kind: ProductKind, variant_id: int, l10n: L10n
) -> None:
    """Ask for stock of the product's variant `variant_id` (0: a plain product's only one), called `name`."""
    digital = kind is ProductKind.digital
    await state.set_state(InventoryForm.stock if digital else InventoryForm.quantity)
    await state.set_data({"id": product_id, "node": Node.product.value, "name": name, "variant": variant_id})
    key = "ask_stock" if digital else "ask_quantity"
    await answer(
        query,
        l10n(f"admin.inventory.{key}", name=escape(name), max=MAX_QUANTITY, mb=MAX_FILE_BYTES // (1024 * 1024)),
        cancel_button(Node.product, product_id, l10n),
    )


async def got_payloads(
    message: Message, state: FSMContext, bot: Bot, admin_stock: AdminStockService, l10n: L10n
) -> None:
    """Pasted lines or an uploaded file: checked and counted, then held (sealed) until Confirm."""
    data = await state.get_data()
    try:
        preview = await admin_stock.preview_digital(data["id"], *await sent_stock(message, bot))
    except StockFileErrors as e:
        await message.answer(problems_text(e, l10n), reply_markup=cancel_button(Node.product, data["id"], l10n))
        return
    except (GoodsKeyMissing, NotFound, WrongKind) as e:
        await state.clear()
        key = "no_goods_key" if isinstance(e, GoodsKeyMissing) else "gone"
        await message.answer(l10n(f"admin.inventory.{key}"))
        return
    await hold(message, state, preview, data["name"], l10n)


async def hold(message: Message, state: FSMContext, preview: StockPreview, name: str, l10n: L10n) -> None:
    await state.set_state(InventoryForm.confirm)
    await state.update_data(sealed=preview.sealed)
    await message.answer(
        l10n(
            "admin.inventory.stock_preview",
            count=preview.count,
            new=preview.new,
            known=preview.count - preview.new,
            name=escape(name),
        ),
        reply_markup=confirm_buttons(preview.product_id, l10n),
    )


async def got_quantity(message: Message, state: FSMContext, l10n: L10n) -> None:
    data = await state.get_data()
    text = (message.text or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_QUANTITY:
        await message.answer(
            l10n("admin.inventory.bad_quantity", max=MAX_QUANTITY),
            reply_markup=cancel_button(Node.product, data["id"], l10n),
        )
        return
    await state.set_state(InventoryForm.confirm)
    await state.update_data(quantity=int(text))
    await message.answer(
        l10n("admin.inventory.quantity_preview", count=int(text), name=escape(data["name"])),
        reply_markup=confirm_buttons(data["id"], l10n),
    )


async def confirm(
    query: CallbackQuery,
    callback_data: InvCb,
    state: FSMContext,
    admin_stock: AdminStockService,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    data = await state.get_data()
    await state.clear()  # a second press finds no preview to store again
    if data.get("id") != callback_data.id:
        alert(callback_answer, l10n("error.stale"))
        await show_node(query, Node.product, callback_data.id, 0, admin_inventory, settings, l10n, callback_answer)
        return
    try:
        variant = data.get("variant", 0)
        added: StockAdded = (
            await admin_stock.add_digital(actor(query), data["id"], data["sealed"], variant)
            if "sealed" in data
            else await admin_stock.add_physical(actor(query), data["id"], data["quantity"], variant)
        )
    except (StockFileErrors, GoodsKeyMissing, NotFound, WrongKind):
        alert(callback_answer, l10n("admin.inventory.gone"))
    else:
        callback_answer.text = l10n(
            "admin.inventory.stock_added", added=added.added, skipped=added.skipped, available=added.available
        )
    await show_node(query, Node.product, callback_data.id, 0, admin_inventory, settings, l10n, callback_answer)


async def not_an_answer(message: Message, l10n: L10n) -> None:
    await message.answer(l10n("admin.inventory.send_text"))


def build() -> Router:
    """After handlers.admin.inventory: its last handler takes whatever no dialog step could use."""
    router = Router(name="admin-inventory-stock")
    router.callback_query.register(ask_stock, InvCb.filter((F.action == InvAction.stock) & (F.node == Node.product)))
    router.callback_query.register(
        confirm, InvCb.filter((F.action == InvAction.confirm) & (F.node == Node.product)), InventoryForm.confirm
    )
    router.message.register(got_payloads, InventoryForm.stock, F.document)
    router.message.register(got_payloads, InventoryForm.stock, F.text, ~F.text.startswith("/"))
    router.message.register(got_quantity, InventoryForm.quantity, F.text)
    router.message.register(not_an_answer, StateFilter(InventoryForm))
    return router
