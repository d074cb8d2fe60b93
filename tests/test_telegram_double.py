"""The Bot API double against aiogram itself: a tiny router polling it over real HTTP."""

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.filters import Command
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
)

from tests.doubles.telegram import FakeUser, TelegramDouble, buttons, find_button
from tests.recording import RecordingSession

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
BLOCKED = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
ALICE = FakeUser(id=1001, first_name="Alice", username="alice")
BOB = FakeUser(id=1002, first_name="Bob", language_code="de")


def like_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Like", callback_data="like:1")]])


def build_router() -> Router:
    router = Router()

    @router.message(Command("photo"))
    async def photo(message: Message) -> None:
        await message.answer_photo(BufferedInputFile(PNG, "cat.png"), caption="a cat")

    @router.message(F.document)
    async def document(message: Message, bot: Bot) -> None:
        assert message.document is not None
        data = await bot.download(message.document)
        assert data is not None
        await message.reply(f"got {message.document.file_name}: {len(data.read())} bytes")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}", reply_markup=like_keyboard())

    @router.callback_query(F.data.startswith("like:"))
    async def like(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("liked ❤️")
        await query.answer("Thanks!")

    return router


@pytest.fixture
async def tg() -> AsyncIterator[TelegramDouble]:
    async with TelegramDouble() as double:
        yield double


@pytest.fixture
async def polling(tg: TelegramDouble) -> AsyncIterator[Dispatcher]:
    dp = Dispatcher()
    dp.include_router(build_router())
    task = asyncio.create_task(dp.start_polling(tg.make_bot(), handle_signals=False))
    await tg.wait_for(lambda: tg.polling)
    yield dp
    await dp.stop_polling()
    await task


@pytest.fixture
async def bot(tg: TelegramDouble) -> AsyncIterator[Bot]:
    bot = tg.make_bot()
    yield bot
    await bot.session.close()


async def test_echo_then_button_press_edits_and_answers(tg: TelegramDouble, polling: Dispatcher) -> None:
    await tg.user_sends_text(ALICE, "hello")
    reply = await tg.next_sent(ALICE.id)

    assert reply["text"] == "echo: hello"
    assert reply["from"]["id"] == tg.me["id"] and reply["from"]["is_bot"] is True
    assert reply["chat"] == {"id": ALICE.id, "type": "private", "first_name": "Alice", "username": "alice"}
    assert reply["message_id"] == 2  # the user's message was 1: ids run per chat
    send = tg.calls_of("sendMessage")[-1]
    assert send["chat_id"] == ALICE.id
    assert send["reply_markup"] == {"inline_keyboard": [[{"text": "Like", "callback_data": "like:1"}]]}

    press = await tg.user_presses(ALICE, reply, find_button(reply, text="Like")["callback_data"])
    edited = await tg.next_sent(ALICE.id)

    assert edited["message_id"] == reply["message_id"] and edited["text"] == "liked ❤️"
    assert "edit_date" in edited and buttons(edited) == []  # editing without reply_markup drops it
    assert tg.message(ALICE.id, reply["message_id"]) == edited
    answer = await tg.wait_for(lambda: tg.callback_answer(press))
    assert answer["text"] == "Thanks!"
    assert press["callback_query"]["chat_instance"] and press["callback_query"]["from"]["is_bot"] is False
    with pytest.raises(LookupError, match="no button carries"):  # the keyboard is gone with the edit
        await tg.user_presses(ALICE, reply, "like:1")


async def test_photo_upload_and_document_download(tg: TelegramDouble, polling: Dispatcher) -> None:
    await tg.user_sends_text(BOB, "/photo")
    photo = await tg.next_sent(BOB.id)

    assert photo["caption"] == "a cat" and "text" not in photo
    assert [size["width"] for size in photo["photo"]] == [90, 800]
    assert tg.photo_bytes(photo) == PNG
    upload = tg.calls_of("sendPhoto")[-1]["photo"]
    assert upload == PNG and upload.filename == "cat.png"

    sent = await tg.user_sends_document(BOB, "keys.txt", b"KEY-1\nKEY-2\n")
    reply = await tg.next_sent(BOB.id)

    assert reply["text"] == "got keys.txt: 12 bytes"
    assert reply["reply_to_message"]["message_id"] == sent["message"]["message_id"]
    assert tg.calls_of("getFile")[-1]["file_id"] == sent["message"]["document"]["file_id"]


async def test_offset_acknowledges_so_no_update_is_delivered_twice(tg: TelegramDouble, polling: Dispatcher) -> None:
    updates = [await tg.user_sends_text(ALICE, f"n{i}") for i in range(3)]
    updates.append(await tg.reply_to(ALICE, updates[0]["message"], "again"))
    await tg.wait_for(lambda: len(tg.sent_to(ALICE.id)) == 4)

    ids = [u["update_id"] for u in updates]
    assert sorted(tg.delivered) == ids  # each update handed out exactly once
    await tg.wait_for(lambda: not tg.pending_updates)  # the next poll's offset confirmed them all
    assert max(p.get("offset", 0) for p in tg.calls_of("getUpdates")) == ids[-1] + 1
    assert set(tg.calls_of("getUpdates")[-1]["allowed_updates"]) == {"message", "callback_query"}
    assert updates[-1]["message"]["reply_to_message"]["text"] == "n0"


async def test_polling_stops_cleanly(tg: TelegramDouble, caplog: pytest.LogCaptureFixture) -> None:
    dp = Dispatcher()
    dp.include_router(build_router())
    task = asyncio.create_task(dp.start_polling(tg.make_bot(), handle_signals=False, polling_timeout=30))
    await tg.wait_for(lambda: tg.polling)

    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(dp.stop_polling(), 2)
        await asyncio.wait_for(task, 2)
        await tg.wait_for(lambda: not tg.polling)  # the held getUpdates was released, not left hanging

    assert task.exception() is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [c.method for c in tg.calls][:2] == ["getMe", "getUpdates"]


async def test_blocked_user_gets_403_and_rate_limit_429(tg: TelegramDouble, bot: Bot) -> None:
    tg.block(BOB.id)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(BOB.id, "hi")
    tg.unblock(BOB.id)

    tg.rate_limit(times=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_photo(ALICE.id, BufferedInputFile(PNG, "p.png"))
        assert caught.value.retry_after == 7
    assert (await bot.send_message(ALICE.id, "now it works")).message_id == 1

    assert tg.errors == [
        ("sendMessage", BLOCKED),
        *[
            (
                "sendPhoto",
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 7",
                    "parameters": {"retry_after": 7},
                },
            )
        ]
        * 2,
    ]


async def test_raw_wire_shapes(tg: TelegramDouble) -> None:
    tg.block(BOB.id)
    async with aiohttp.ClientSession(base_url=tg.url) as http:
        async with http.post(f"/bot{tg.token}/getMe") as resp:
            assert resp.status == 200
            me = await resp.json()
        form = {"chat_id": str(BOB.id), "text": "x"}
        async with http.post(f"/bot{tg.token}/sendMessage", data=form) as resp:
            assert resp.status == 403
            blocked = await resp.json()
        async with http.post(f"/bot{tg.token}/sendSticker", data={"chat_id": "1"}) as resp:
            assert resp.status == 404
            unknown = await resp.json()
        async with http.post("/bot1:wrong/getMe") as resp:
            assert resp.status == 401

    assert me["ok"] is True and me["result"]["is_bot"] is True and me["result"]["id"] == 5000000001
    assert blocked == BLOCKED
    assert unknown == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}


async def test_edits_html_and_limits_like_telegram(tg: TelegramDouble, bot: Bot) -> None:
    html = "<b>Total</b>: 5 &lt; 6"
    msg = await bot.send_message(ALICE.id, html, parse_mode="HTML", reply_markup=like_keyboard())
    stored = tg.message(ALICE.id, msg.message_id)
    assert stored is not None and stored["text"] == "Total: 5 < 6"

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            html, chat_id=ALICE.id, message_id=msg.message_id, parse_mode="HTML", reply_markup=like_keyboard()
        )
    await bot.edit_message_reply_markup(chat_id=ALICE.id, message_id=msg.message_id)  # markup change only
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(ALICE.id, "price < 5 for <you>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ALICE.id, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        long = InlineKeyboardButton(text="x", callback_data="x" * 65)
        await bot.send_message(ALICE.id, "x", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[long]]))
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query("12345")
    assert await bot.delete_message(ALICE.id, msg.message_id)
    assert tg.message(ALICE.id, msg.message_id) is None
    assert [m.get("reply_markup") is not None for m in tg.sent_to(ALICE.id)] == [True, False]


async def test_setup_calls_copy_and_forward(tg: TelegramDouble) -> None:
    bot = tg.make_bot(DefaultBotProperties(parse_mode="HTML"))
    try:
        assert (await bot.get_me()).is_bot
        assert await bot.set_my_commands([], language_code="de") is True
        assert await bot.delete_webhook(drop_pending_updates=True)
        info = await bot.get_webhook_info()
        assert info.url == "" and info.pending_update_count == 0
        original = await tg.user_sends_text(ALICE, "order #7")
        copied = await bot.copy_message(ADMIN := 2001, ALICE.id, original["message"]["message_id"])
        forwarded = await bot.forward_message(ADMIN, ALICE.id, original["message"]["message_id"])
    finally:
        await bot.session.close()

    copy_msg = tg.message(ADMIN, copied.message_id)
    assert copy_msg is not None and copy_msg["text"] == "order #7"
    assert forwarded.forward_origin is not None and forwarded.message_id == copied.message_id + 1
    assert tg.calls_of("sendMessage") == [] and tg.commands == {"de": []}
    copy_call = tg.calls_of("copyMessage")[0]
    assert copy_call == {"chat_id": ADMIN, "from_chat_id": ALICE.id, "message_id": 1, "parse_mode": "HTML"}


async def test_get_chat_caption_edits_and_documents_like_telegram(tg: TelegramDouble, bot: Bot) -> None:
    """What the shop's invoice edits, goods files and startup check rely on, parsed by aiogram itself."""
    await tg.user_sends_text(ALICE, "/start")
    chat = await bot.get_chat(ALICE.id)  # a ChatFullInfo: aiogram requires every field Telegram always sends
    assert (chat.id, chat.type, chat.first_name, chat.max_reaction_count) == (ALICE.id, "private", "Alice", 11)
    with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
        await bot.get_chat(BOB.id)  # never wrote to the bot

    photo = await bot.send_photo(
        ALICE.id, BufferedInputFile(PNG, "qr.png"), caption="pay", reply_markup=like_keyboard()
    )
    edited = await bot.edit_message_caption(chat_id=ALICE.id, message_id=photo.message_id, caption="closed")
    assert isinstance(edited, Message) and edited.caption == "closed" and edited.photo and edited.reply_markup is None
    stored = tg.message(ALICE.id, photo.message_id)
    assert stored is not None and "reply_markup" not in stored and stored["caption"] == "closed"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_caption(chat_id=ALICE.id, message_id=photo.message_id, caption="closed")
    tg.user_deletes(stored)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to edit not found"):
        await bot.edit_message_caption(chat_id=ALICE.id, message_id=photo.message_id, caption="again")

    sent = await bot.send_document(ALICE.id, BufferedInputFile(b"KEY-1\nKEY-2\n", "order-7.txt"))
    assert sent.document is not None and sent.document.file_name == "order-7.txt"
    assert tg.file_bytes(sent.document.file_id) == b"KEY-1\nKEY-2\n"


async def test_the_recording_session_answers_the_same_methods_in_the_same_shapes() -> None:
    recording = RecordingSession()
    bot = Bot("123456:TEST-token-that-is-long-enough-for-aiogram", session=recording)
    chat = await bot.get_chat(ALICE.id)
    assert (chat.id, chat.type) == (ALICE.id, "private")
    photo = await bot.send_photo(
        ALICE.id, BufferedInputFile(PNG, "qr.png"), caption="pay", reply_markup=like_keyboard()
    )
    edited = await bot.edit_message_caption(chat_id=ALICE.id, message_id=photo.message_id, caption="closed")
    assert isinstance(edited, Message) and (edited.message_id, edited.caption) == (photo.message_id, "closed")
    assert edited.photo and edited.reply_markup is None and edited.edit_date is not None
    recording.deleted.add(photo.message_id)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to edit not found"):
        await bot.edit_message_caption(chat_id=ALICE.id, message_id=photo.message_id, caption="again")
    sent = await bot.send_document(ALICE.id, BufferedInputFile(b"KEY-1\n", "order-7.txt"))
    assert sent.document is not None and sent.document.file_name == "order-7.txt"


async def test_media_edits_keep_file_ids_and_refuse_like_telegram(tg: TelegramDouble, bot: Bot) -> None:
    """editMessageMedia adds media to a text message and swaps one picture for another; a file sent again by
    file_id keeps its ids; a file of another kind is Telegram's type mismatch."""
    photo = (await tg.user_sends_photo(ALICE, PNG))["message"]["photo"]
    clip = (await tg.user_sends_video(ALICE, b"ftypmp42", duration=9))["message"]["video"]
    assert clip["duration"] == 9 and clip["mime_type"] == "video/mp4" and clip["file_size"] == 8

    text = await bot.send_message(ALICE.id, "card", reply_markup=like_keyboard())
    edited = await bot.edit_message_media(
        InputMediaPhoto(media=photo[-1]["file_id"], caption="<b>Card</b>", parse_mode="HTML"),
        chat_id=ALICE.id,
        message_id=text.message_id,
        reply_markup=like_keyboard(),
    )
    assert isinstance(edited, Message) and edited.message_id == text.message_id
    assert edited.text is None and edited.caption == "Card"
    assert [p.file_unique_id for p in edited.photo or []] == [p["file_unique_id"] for p in photo]  # the same file
    media_call = tg.calls_of("editMessageMedia")[-1]
    assert media_call["media"] == {
        "type": "photo",
        "media": photo[-1]["file_id"],
        "caption": "<b>Card</b>",
        "parse_mode": "HTML",
    }

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_media(
            InputMediaPhoto(media=photo[-1]["file_id"], caption="<b>Card</b>", parse_mode="HTML"),
            chat_id=ALICE.id,
            message_id=text.message_id,
            reply_markup=like_keyboard(),
        )
    other = (await tg.user_sends_photo(ALICE, PNG + b"2"))["message"]["photo"]
    replaced = await bot.edit_message_media(  # the same caption and buttons: another picture is still a change
        InputMediaPhoto(media=other[-1]["file_id"], caption="<b>Card</b>", parse_mode="HTML"),
        chat_id=ALICE.id,
        message_id=text.message_id,
        reply_markup=like_keyboard(),
    )
    assert isinstance(replaced, Message) and replaced.photo and replaced.photo[-1].file_id == other[-1]["file_id"]
    swapped = await bot.edit_message_media(
        InputMediaVideo(media=clip["file_id"], caption="clip"), chat_id=ALICE.id, message_id=text.message_id
    )
    assert isinstance(swapped, Message) and swapped.video and swapped.video.file_unique_id == clip["file_unique_id"]
    assert swapped.photo is None and swapped.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await bot.edit_message_text("text again", chat_id=ALICE.id, message_id=text.message_id)
    captioned = await bot.edit_message_caption(chat_id=ALICE.id, message_id=text.message_id, caption="clip 2")
    assert isinstance(captioned, Message) and captioned.caption == "clip 2" and captioned.video

    with pytest.raises(TelegramBadRequest, match="type of file mismatch"):
        await bot.send_photo(ALICE.id, clip["file_id"])
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_video(ALICE.id, "BAAC-never-uploaded")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_video(ALICE.id, clip["file_id"], caption="x" * 1025)
    again = await bot.send_video(ALICE.id, clip["file_id"], caption="again")
    assert again.video and again.video.file_id == clip["file_id"]
    uploaded = await bot.edit_message_media(
        InputMediaPhoto(media=BufferedInputFile(PNG, "new.png")), chat_id=ALICE.id, message_id=text.message_id
    )
    assert (
        isinstance(uploaded, Message)
        and uploaded.photo
        and tg.photo_bytes(tg.message(ALICE.id, text.message_id) or {}) == PNG
    )
