"""Taking stock out: chosen digital units (pasted or uploaded, matched by their keyed digests), a physical
product's available count set down or up, and deleting a node that has nothing held or sold under it. Each
shows what it will do and waits for Confirm; held and sold units always stay."""

from html import escape

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from config import Settings
from handlers.admin.inventory import (
    PARENT,
    InvAction,
    InvCb,
    InventoryForm,
    Node,
    cancel_button,
    product_of_kind,
    show_node,
)
from handlers.admin.inventory_stock import confirm_buttons, problems_text, sent_stock
from handlers.admin.panel import actor, answer, rows
from handlers.keyboards import button
from handlers.render import alert
from l10n import L10n
from models.enums import ProductKind
from services.admin.dto import VariantAdmin
from services.admin.inventory import AdminInventoryService, InUse, Level, NodeContents, ProductAdmin
from services.admin.stock import AdminStockService, WrongKind
from services.admin.variants import AdminVariantService
from services.catalog_io.format import MAX_QUANTITY
from services.catalog_io.stock_files import MAX_FILE_BYTES, StockFileErrors
from services.shop.catalog import NotFound
from services.wallet.goods import GoodsKeyMissing

TAKES = {InvAction.unstock: (ProductKind.digital,), InvAction.recount: ProductKind.counted()}


async def ask(
    query: CallbackQuery,
    callback_data: InvCb,
    state: FSMContext,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """Remove units (digital) or set the count (physical): the next text or file the admin sends answers it."""
    kinds = TAKES[callback_data.action]
    card = await product_of_kind(query, callback_data.id, kinds, admin_inventory, settings, l10n, callback_answer)
    if card is not None:
        await begin(query, state, card, card.id, card.name, 0, l10n)


async def begin(
    query: CallbackQuery,
    state: FSMContext,
    shelf: ProductAdmin | VariantAdmin,
    product_id: int,
    name: str,
    variant_id: int,
    l10n: L10n,
) -> None:
    """Ask which units to remove (digital) or how many to keep available (physical) of the product, or of its
    variant `variant_id` (physical only; 0: a plain product's only one); `shelf` has their units per status."""
    digital = shelf.kind is ProductKind.digital
    await state.set_state(InventoryForm.unstock if digital else InventoryForm.recount)
    await state.set_data({"id": product_id, "node": Node.product.value, "name": name, "variant": variant_id})
    await answer(
        query,
        l10n(
            f"admin.inventory.{'ask_removal' if digital else 'ask_count'}",
            name=escape(name),
            available=shelf.available,
            held=shelf.reserved,
            sold=shelf.sold,
            max=MAX_QUANTITY,
            mb=MAX_FILE_BYTES // (1024 * 1024),
        ),
        cancel_button(Node.product, product_id, l10n),
    )


async def got_payloads(
    message: Message, state: FSMContext, bot: Bot, admin_stock: AdminStockService, l10n: L10n
) -> None:
    """Pasted lines or an uploaded file: matched against the product's units, then held until Confirm."""
    data = await state.get_data()
    try:
        preview = await admin_stock.preview_removal(data["id"], *await sent_stock(message, bot))
    except StockFileErrors as e:
        await message.answer(
            problems_text(e, l10n, "admin.inventory.removal_rejected"),
            reply_markup=cancel_button(Node.product, data["id"], l10n),
        )
        return
    except (GoodsKeyMissing, NotFound, WrongKind) as e:
        await state.clear()
        await message.answer(l10n(f"admin.inventory.{'no_key_removal' if isinstance(e, GoodsKeyMissing) else 'gone'}"))
        return
    counts = {"removed": preview.removed, "kept": preview.kept, "missing": preview.missing}
    text = l10n("admin.inventory.removal_preview", name=escape(data["name"]), **counts)
    if not preview.removed:
        await state.clear()
        await message.answer(text, reply_markup=cancel_button(Node.product, data["id"], l10n))
        return
    await state.set_state(InventoryForm.confirm_removal)
    await state.update_data(digests=preview.digests)
    await message.answer(
        text + "\n" + l10n("admin.inventory.removal_confirm"), reply_markup=confirm_buttons(data["id"], l10n)
    )


async def got_count(
    message: Message,
    state: FSMContext,
    admin_inventory: AdminInventoryService,
    admin_variants: AdminVariantService,
    l10n: L10n,
) -> None:
    """The wanted number of available units (of the product, or of its variant): a preview, then Confirm."""
    data = await state.get_data()
    text = (message.text or "").strip()
    if not text.isdigit() or int(text) > MAX_QUANTITY:
        await message.answer(
            l10n("admin.inventory.bad_count", max=MAX_QUANTITY),
            reply_markup=cancel_button(Node.product, data["id"], l10n),
        )
        return
    try:
        variant = data.get("variant", 0)
        shelf = await admin_variants.variant(variant) if variant else await admin_inventory.product(data["id"])
    except NotFound:
        await state.clear()
        await message.answer(l10n("admin.inventory.gone"))
        return
    await state.set_state(InventoryForm.confirm_removal)
    await state.update_data(target=int(text))
    await message.answer(
        l10n(
            "admin.inventory.count_preview",
            name=escape(data["name"]),
            available=shelf.available,
            target=int(text),
            held=shelf.reserved,
            sold=shelf.sold,
        ),
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
    await state.clear()  # a second press finds nothing to remove again
    if data.get("id") != callback_data.id:
        alert(callback_answer, l10n("error.stale"))
    else:
        try:
            if "digests" in data:
                removal = await admin_stock.remove_digital(actor(query), data["id"], data["digests"])
                callback_answer.text = l10n(
                    "admin.inventory.units_removed",
                    removed=removal.removed,
                    kept=removal.kept,
                    missing=removal.missing,
                    available=removal.available,
                )
            else:
                count = await admin_stock.set_physical_count(
                    actor(query), data["id"], data["target"], data.get("variant", 0)
                )
                callback_answer.text = l10n(
                    "admin.inventory.count_set", available=count.available, added=count.added, removed=count.removed
                )
        except (NotFound, WrongKind):
            alert(callback_answer, l10n("admin.inventory.gone"))
    await show_node(query, Node.product, callback_data.id, 0, admin_inventory, settings, l10n, callback_answer)


def deletion_view(node: Node, contents: NodeContents, l10n: L10n) -> tuple[str, InlineKeyboardMarkup]:
    """Delete with Confirm when nothing under the node is held or sold; else why not, and Hide instead."""
    here = contents.node
    back = button(l10n("nav.back"), InvCb(action=InvAction.view, node=node, id=here.id))
    if contents.deletable:
        text = l10n(
            f"admin.inventory.delete_{node.name}",
            name=escape(here.name),
            subcategories=contents.subcategories,
            products=contents.products,
            available=contents.available,
        )
        purge = button(l10n("admin.inventory.delete_confirm"), InvCb(action=InvAction.purge, node=node, id=here.id))
        return text, rows([purge], [back])
    text = l10n("admin.inventory.delete_refused", name=escape(here.name), held=contents.held, sold=contents.sold)
    hide = InvCb(action=InvAction.deactivate, node=node, id=here.id)
    return text, rows([button(l10n("admin.inventory.deactivate"), hide)] if here.is_active else [], [back])


async def ask_delete(
    query: CallbackQuery,
    callback_data: InvCb,
    state: FSMContext,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    await state.clear()
    node = callback_data.node
    try:
        contents = await admin_inventory.contents(Level(node.value), callback_data.id)
    except NotFound:
        await show_node(query, node, callback_data.id, 0, admin_inventory, settings, l10n, callback_answer)
        return
    await answer(query, *deletion_view(node, contents, l10n))


async def delete(
    query: CallbackQuery,
    callback_data: InvCb,
    state: FSMContext,
    admin_inventory: AdminInventoryService,
    settings: Settings,
    l10n: L10n,
    callback_answer: CallbackAnswer,
) -> None:
    """Delete, confirmed. Refused for a node with held or sold units (a stale or forged button): nothing changes."""
    await state.clear()
    node, level = callback_data.node, Level(callback_data.node.value)
    try:
        parent = await admin_inventory.delete(actor(query), level, callback_data.id)
    except InUse:
        alert(callback_answer, l10n("admin.inventory.delete_in_use"))
        await ask_delete(query, callback_data, state, admin_inventory, settings, l10n, callback_answer)
        return
    except NotFound:  # deleted already (pressed twice, another admin)
        await show_node(query, node, callback_data.id, 0, admin_inventory, settings, l10n, callback_answer)
        return
    callback_answer.text = l10n("admin.inventory.deleted")
    await show_node(query, PARENT[node], parent, 0, admin_inventory, settings, l10n)


def build() -> Router:
    """Before handlers.admin.inventory_stock, whose last handler takes whatever no dialog step could use."""
    router = Router(name="admin-inventory-remove")
    on_product = F.node == Node.product
    router.callback_query.register(ask, InvCb.filter(F.action.in_(set(TAKES)) & on_product))
    router.callback_query.register(
        confirm, InvCb.filter((F.action == InvAction.confirm) & on_product), InventoryForm.confirm_removal
    )
    router.callback_query.register(ask_delete, InvCb.filter((F.action == InvAction.delete) & (F.node != Node.root)))
    router.callback_query.register(delete, InvCb.filter((F.action == InvAction.purge) & (F.node != Node.root)))
    router.message.register(got_payloads, InventoryForm.unstock, F.document)
    router.message.register(got_payloads, InventoryForm.unstock, F.text, ~F.text.startswith("/"))
    router.message.register(got_count, InventoryForm.recount, F.text)
    return router
