"""Pictures on categories and products: the admin attaches a photo or video from Telegram (refused clearly when
too large or not a photo or video), the buyer's card is one message edited in place, and catalog files carry the
references."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageCaption,
    EditMessageMedia,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import InputMediaPhoto
from sqlalchemy import select, update

from handlers.admin.inventory import InvAction, InvCb, Node
from handlers.callbacks import ProductAction, ProductCb
from models.ops import AuditLog
from models.shop import Category, Product
from services.admin.media import MIB
from services.catalog_io.format import load_catalog_json, parse_catalog
from services.catalog_io.importer import CatalogExporter, CatalogImporter
from tests.admin_double import ADMIN as ADMIN_USER
from tests.admin_double import polled_shop
from tests.conftest import ADMIN_ID
from tests.doubles.telegram import FakeUser, find_button
from tests.doubles.telegram import buttons as buttons_of
from tests.shop import plain_product, seed_product
from tests.telegram import Person, Telegram, buttons, texts

ADMIN = Person(id=ADMIN_ID, first_name="Ada", username="ada")
ASK = (
    "🖼 <b>{name}</b> · {now}\nSend a photo (at most 5 MB) or a video (at most 60 s and 20 MB) to show to buyers. "
    "Send it as a photo or video, not as a file."
)
ERROR_FILE_ID = "Bad Request: wrong file identifier/HTTP URL specified"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


def photo(size: int, tag: str = "l") -> list[dict[str, Any]]:
    """Telegram's PhotoSize list: a thumbnail and the full size, smallest first."""
    return [
        {"file_id": f"AgAC-{tag}-small", "file_unique_id": f"AQAD{tag}s", "width": 90, "height": 90, "file_size": 900},
        {"file_id": f"AgAC-{tag}", "file_unique_id": f"AQAD{tag}", "width": 1280, "height": 960, "file_size": size},
    ]


def video(duration: int, size: int) -> dict[str, Any]:
    return {
        "file_id": "BAAC-video",
        "file_unique_id": "AgADvideo",
        "width": 640,
        "height": 360,
        "duration": duration,
        "mime_type": "video/mp4",
        "file_size": size,
    }


async def pictures(sessions, model: type[Category] | type[Product], node_id: int) -> tuple[Any, ...]:
    async with sessions() as s:
        row = await s.get(model, node_id)
        assert row is not None
        return row.media_type, row.media_file_id, row.media_unique_id


async def media_audit(sessions) -> list[tuple[str, str, int | None, Any, Any]]:
    async with sessions() as s:
        rows = (
            await s.execute(select(AuditLog).where(AuditLog.action.like("%.media")).order_by(AuditLog.id))
        ).scalars()
        return [(r.actor, r.action, r.entity_id, r.before, r.after) for r in rows]


async def test_an_admin_attaches_a_photo_and_bad_files_are_refused_with_no_change(
    tg: Telegram, sessions, goods
) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.product, id=product))
    calls = await tg.press(ADMIN, buttons(calls)["🖼 Picture"])
    assert texts(calls) == [ASK.format(name="Editor Pro 1y", now="no picture yet")]
    assert list(buttons(calls)) == ["✖ Cancel"]

    refused: dict[str, tuple[dict[str, Any], str]] = {
        "photo too large": (
            {"photo": photo(5 * MIB + 1)},
            "❌ Not saved: the photo is larger than 5 MB. Send a smaller one, or press Cancel.",
        ),
        "an image sent as a file": (
            {
                "document": {
                    "file_id": "BQAC-doc",
                    "file_unique_id": "AgADdoc",
                    "file_name": "card.png",
                    "mime_type": "image/png",
                    "file_size": 40_000,
                }
            },
            "❌ Not saved: this is a file (document). Send a photo or a video (an image sent as a file is a document). "
            "Try again, or press Cancel.",
        ),
        "a sticker": (
            {
                "sticker": {
                    "file_id": "CAAC",
                    "file_unique_id": "AgADst",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                }
            },
            "❌ Not saved: this is a sticker. Send a photo or a video (an image sent as a file is a document). "
            "Try again, or press Cancel.",
        ),
        "plain text": (
            {"text": "here is the picture"},
            "❌ Not saved: this is a text message. Send a photo or a video (an image sent as a file is a document). "
            "Try again, or press Cancel.",
        ),
        "video too long": (
            {"video": video(61, 3 * MIB)},
            "❌ Not saved: the video is longer than 60 s. Send a shorter one, or press Cancel.",
        ),
        "video too large": (
            {"video": video(20, 20 * MIB + 1)},
            "❌ Not saved: the video is larger than 20 MB. Send a smaller one, or press Cancel.",
        ),
    }
    for case, (content, refusal) in refused.items():
        calls = await tg.send_content(ADMIN, **content)
        assert texts(calls) == [refusal], case
        assert list(buttons(calls)) == ["✖ Cancel"], case  # the dialog waits for another try
    assert await pictures(sessions, Product, product) == (None, None, None)
    assert await media_audit(sessions) == []

    calls = await tg.send_content(ADMIN, photo=photo(5 * MIB), caption="ignored")
    assert texts(calls)[0] == "✅ Photo saved: buyers see it now."
    assert texts(calls)[1].startswith("<b>Editor Pro 1y</b> · digital")
    assert await pictures(sessions, Product, product) == ("photo", "AgAC-l", "AQADl")  # the largest size
    assert await media_audit(sessions) == [
        (f"admin:{ADMIN_ID}", "product.media", product, None, {"type": "photo", "file_unique_id": "AQADl"})
    ]
    calls = await tg.send_content(ADMIN, photo=photo(1000, "x"))  # the dialog is over: not taken as a picture
    assert await pictures(sessions, Product, product) == ("photo", "AgAC-l", "AQADl")


async def test_a_category_gets_a_video_and_an_admin_removes_it(tg: Telegram, sessions, goods) -> None:
    await seed_product(sessions, units=1, goods=goods)
    async with sessions() as s:
        category = (await s.execute(select(Category.id))).scalar_one()
    calls = await tg.press(ADMIN, InvCb(action=InvAction.view, node=Node.category, id=category))
    calls = await tg.press(ADMIN, buttons(calls)["🖼 Picture"])
    calls = await tg.send_content(ADMIN, video=video(60, 20 * MIB))
    assert texts(calls)[0] == "✅ Video saved: buyers see it now."
    assert await pictures(sessions, Category, category) == ("video", "BAAC-video", "AgADvideo")
    calls = await tg.press(ADMIN, InvCb(action=InvAction.media, node=Node.category, id=category))
    assert texts(calls) == [ASK.format(name="Software", now="a video is shown")]
    calls = await tg.press(ADMIN, buttons(calls)["🗑 Remove picture"])
    assert "Picture removed." in texts(calls)
    assert await pictures(sessions, Category, category) == (None, None, None)
    calls = await tg.press(ADMIN, InvCb(action=InvAction.unmedia, node=Node.category, id=category))
    assert "There was no picture." in texts(calls)
    assert [(a, e, before, after) for _, a, e, before, after in await media_audit(sessions)] == [
        ("category.media", category, None, {"type": "video", "file_unique_id": "AgADvideo"}),
        ("category.media", category, {"type": "video", "file_unique_id": "AgADvideo"}, None),
    ]
    calls = await tg.press(ADMIN, InvCb(action=InvAction.media, node=Node.subcategory, id=1))  # forged: no such dialog
    assert await pictures(sessions, Category, category) == (None, None, None)


async def set_picture(sessions, model: type[Category] | type[Product], node_id: int, file_id: str, unique: str) -> None:
    async with sessions.begin() as s:
        await s.execute(
            update(model)
            .where(model.id == node_id)
            .values(media_type="photo", media_file_id=file_id, media_unique_id=unique)
        )


def shown(calls: list[TelegramMethod[Any]]) -> list[TelegramMethod[Any]]:
    return [c for c in calls if not isinstance(c, AnswerCallbackQuery)]


async def test_the_card_edits_its_picture_and_caption_in_place(tg: Telegram, sessions, goods) -> None:
    pictured = await seed_product(sessions, units=3, goods=goods)
    async with sessions.begin() as s:
        sub = (await s.execute(select(Product.subcategory_id))).scalar_one()
        plain = plain_product(subcategory_id=sub, name="Plain", price_minor=100, kind="physical")
        s.add(plain)
    await set_picture(sessions, Product, pictured, "AgAC-card", "AQADcard")
    bob = Person(id=401)

    calls = shown(await tg.press(bob, ProductCb(action=ProductAction.view, id=pictured), message_id=5))
    assert [type(c) for c in calls] == [EditMessageMedia]  # a text message gets the picture: still one message
    edit = calls[0]
    assert isinstance(edit, EditMessageMedia) and isinstance(edit.media, InputMediaPhoto)
    assert (edit.message_id, edit.media.media) == (5, "AgAC-card")
    assert edit.media.caption == "<b>Editor Pro 1y</b>\nOne-year licence key\n\nPrice: 12.50 USD\nAvailable: 3"

    calls = shown(await tg.press(bob, buttons(calls)["+"], message_id=5, photo="AQADcard"))
    assert [type(c) for c in calls] == [EditMessageCaption]  # the same picture: only caption and buttons
    assert "🛒 Add 2 to cart" in buttons(calls)

    calls = shown(
        await tg.press(bob, ProductCb(action=ProductAction.view, id=plain.id), message_id=5, photo="AQADcard")
    )
    assert [type(c) for c in calls] == [SendMessage, DeleteMessage]  # no picture: text anew, the photo goes
    assert isinstance(calls[1], DeleteMessage) and calls[1].message_id == 5


async def test_a_long_description_is_shortened_to_fit_a_caption(tg: Telegram, sessions, goods) -> None:
    product = await seed_product(sessions, units=1, goods=goods)
    async with sessions.begin() as s:
        await s.execute(update(Product).values(description="word " * 800))
    await set_picture(sessions, Product, product, "AgAC-card", "AQADcard")
    calls = shown(await tg.press(Person(id=402), ProductCb(action=ProductAction.view, id=product)))
    caption = calls[0].media.caption  # type: ignore[attr-defined]
    assert 1000 < len(caption) <= 1024
    assert caption.endswith("word…\n\nPrice: 12.50 USD\nAvailable: 1")
    calls = shown(await tg.press(Person(id=402), ProductCb(action=ProductAction.view, id=product, qty=2)))
    assert len(calls[0].media.caption) <= 1024  # type: ignore[attr-defined]


async def test_browsing_with_pictures_edits_one_message(container, sessions, goods) -> None:
    """Over HTTP against the Bot API double: the admin attaches a category photo, a product video and a product
    photo; the buyer then browses through them and their card stays one message, edited in place."""
    editor = await seed_product(sessions, units=3, goods=goods)
    async with sessions.begin() as s:
        sub = (await s.execute(select(Product.subcategory_id))).scalar_one()
        category = (await s.execute(select(Category.id))).scalar_one()
        trailer, plain = (
            plain_product(subcategory_id=sub, name=n, price_minor=400, kind="physical") for n in ("Trailer", "Plain")
        )
        s.add_all([trailer, plain])
    buyer = FakeUser(id=403, first_name="Bea")

    async with polled_shop(container) as shop:
        double = shop.double
        menu = (await shop.say("/admin"))[0]
        uploads: list[tuple[Node, int, Callable[[], Awaitable[Any]]]] = [
            (Node.category, category, lambda: double.user_sends_photo(ADMIN_USER, PNG + b"category")),
            (Node.product, editor, lambda: double.user_sends_photo(ADMIN_USER, PNG + b"editor")),
            (Node.product, trailer.id, lambda: double.user_sends_video(ADMIN_USER, b"ftypmp42", duration=12)),
        ]
        for node, node_id, upload in uploads:
            seen = len(double.sent_to(ADMIN_ID))
            ask = InvCb(action=InvAction.media, node=node, id=node_id).pack()
            await double.user_presses(ADMIN_USER, menu, ask, strict=False)
            await shop.replies(seen, 1)  # the question: the dialog waits now
            seen = len(double.sent_to(ADMIN_ID))
            await upload()
            saved = await shop.replies(seen, 2)  # saved, and the node's view
            assert saved[0]["text"] in ("✅ Photo saved: buyers see it now.", "✅ Video saved: buyers see it now.")

        await double.user_sends_text(buyer, "/start")
        await double.next_sent(buyer.id)
        menu = await double.next_sent(buyer.id)
        card_id = menu["message_id"]

        async def press(message: dict[str, Any], text: str) -> dict[str, Any]:
            await double.user_presses(buyer, message, find_button(message, text=text))
            return await double.next_sent(buyer.id)

        page = await press(menu, "🛍 Shop")
        assert page["text"] == "Choose a category:"
        page = await press(page, "Software")  # the category's photo is added to the text message
        assert page["message_id"] == card_id and page["caption"] == "Software: choose a subcategory:"
        banner = page["photo"][-1]["file_unique_id"]
        page = await press(page, "Licences")
        assert page["photo"][-1]["file_unique_id"] == banner
        listed = {b["text"].split(" · ")[0]: b["text"] for b in buttons_of(page)}
        card = await press(page, listed["Editor Pro 1y"])
        assert card["photo"][-1]["file_unique_id"] != banner and card["caption"].startswith("Editor Pro 1y\n")
        card = await press(card, "+")
        assert card["caption"].endswith("Available: 3") and find_button(card, text="🛒 Add 2 to cart")
        page = await press(card, "⬅ Back")
        assert page["photo"][-1]["file_unique_id"] == banner
        card = await press(page, listed["Trailer"])
        assert card["video"]["duration"] == 12 and card["caption"].startswith("Trailer\n")
        page = await press(card, "⬅ Back")
        assert {m["message_id"] for m in double.sent_to(buyer.id)[1:]} == {card_id}  # every view one message
        assert (double.message(buyer.id, card_id) or {})["photo"][-1]["file_unique_id"] == banner

        card = await press(page, listed["Plain"])  # no picture: text again, as a new message; the old one goes
        assert card["text"].startswith("Plain\n") and card["message_id"] != card_id
        assert await double.wait_for(lambda: double.message(buyer.id, card_id) is None)
        edits = [c.method for c in double.calls if c.params.get("chat_id") == buyer.id and c.method.startswith("edit")]
        assert set(edits) == {"editMessageText", "editMessageMedia", "editMessageCaption"}
        assert double.errors == []


IMPORTED = {
    "categories": [
        {
            "name": "Software",
            "media": {"type": "photo", "file_id": "AgAC-cat", "file_unique_id": "AQADcat"},
            "subcategories": [
                {
                    "name": "Licences",
                    "products": [
                        {
                            "name": "Editor Pro 1y",
                            "description": "One-year licence key",
                            "price": "12.50",
                            "kind": "physical",
                            "quantity": 2,
                            "media": {"type": "video", "file_id": "BAAC-ed", "file_unique_id": "AgADed"},
                        }
                    ],
                }
            ],
        }
    ]
}


async def test_catalog_files_carry_media_references(sessions) -> None:
    async with sessions() as s:
        first = await CatalogImporter(s, None).import_catalog(IMPORTED)
    assert first.categories_created == 1 and first.products_created == 1
    async with sessions() as s:
        exported = await CatalogExporter(s, None).export_catalog()
    product = exported["categories"][0]["subcategories"][0]["products"][0]
    assert exported["categories"][0]["media"] == IMPORTED["categories"][0]["media"]
    assert product["media"] == {"type": "video", "file_id": "BAAC-ed", "file_unique_id": "AgADed"}
    async with sessions() as s:  # the export imported again changes nothing
        again = await CatalogImporter(s, None).import_catalog(load_catalog_json(json.dumps(exported).encode()))
    assert (again.categories_updated, again.products_updated, again.products_unchanged) == (0, 0, 1)

    changed = json.loads(json.dumps(IMPORTED))
    changed["categories"][0]["media"]["file_id"] = "AgAC-cat2"
    del changed["categories"][0]["subcategories"][0]["products"][0]["media"]  # left out: kept
    async with sessions() as s:
        third = await CatalogImporter(s, None).import_catalog(changed)
    assert (third.categories_updated, third.products_updated) == (1, 0)
    async with sessions() as s:
        exported = await CatalogExporter(s, None).export_catalog()
    assert exported["categories"][0]["media"]["file_id"] == "AgAC-cat2"
    assert exported["categories"][0]["subcategories"][0]["products"][0]["media"]["file_id"] == "BAAC-ed"


def test_bad_media_references_are_named() -> None:
    data = json.loads(json.dumps(IMPORTED))
    data["categories"][0]["media"] = {"type": "gif", "file_id": "", "file_unique_id": "x" * 65, "url": "u"}
    data["categories"][0]["subcategories"][0]["products"][0]["media"] = "AgAC"
    _, problems = parse_catalog(data)
    assert problems == [
        "categories[0].media.url: unknown field",
        "categories[0].media.type: unknown type 'gif': photo or video",
        "categories[0].media.file_id: must not be empty",
        "categories[0].media.file_unique_id: longer than 64 characters",
        "categories[0].subcategories[0].products[0].media: must be an object",
    ]


async def test_a_picture_telegram_refuses_leaves_the_card_as_text(container, sessions, goods) -> None:
    """A file_id of another bot (say in a catalog imported from another shop) must not break browsing."""
    product = await seed_product(sessions, units=1, goods=goods)
    await set_picture(sessions, Product, product, "AgAC-of-another-bot", "AQADforeign")
    buyer = FakeUser(id=404)
    async with polled_shop(container) as shop:
        double = shop.double
        await double.user_sends_text(buyer, "/start")
        await double.next_sent(buyer.id)
        page = await double.next_sent(buyer.id)
        for text in ("🛍 Shop", "Software", "Licences", "Editor Pro 1y · 12.50 USD · 1 left"):
            await double.user_presses(buyer, page, find_button(page, text=text))
            page = await double.next_sent(buyer.id)
        assert page["text"].startswith("Editor Pro 1y\nOne-year licence key") and "photo" not in page
        assert double.errors == [
            ("editMessageMedia", {"ok": False, "error_code": 400, "description": ERROR_FILE_ID}),
        ]
