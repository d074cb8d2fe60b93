"""aiogram's validators built on first use (bot.telegram_types): every type and call still builds, and
what they read from Telegram is the same as when aiogram builds them all at import."""

import gc
import json
import subprocess
import sys
import weakref
from pathlib import Path

from aiogram.methods import CopyMessages
from aiogram.methods.base import Response
from aiogram.types import Message

from bot.telegram_types import TESTED_WITH, installed_versions, warm_telegram_validators

ROOT = Path(__file__).resolve().parent.parent
USER = {"id": 7, "is_bot": False, "first_name": "Ann", "username": "ann", "language_code": "de"}
CHAT = {"id": 7, "type": "private", "first_name": "Ann"}
KEYBOARD = {
    "inline_keyboard": [[{"text": "🛒 Cart", "callback_data": "menu:cart"}, {"text": "Site", "url": "https://a.b"}]]
}
MESSAGE = {
    "message_id": 5,
    "date": 1_700_000_000,
    "chat": CHAT,
    "from": USER,
    "text": "/start ref_42",
    "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
}
# What the shop receives and the answers it reads: nested messages, a keyboard, a photo, a member update and
# a union (getChatMember's statuses).
UPDATES = [
    {"update_id": 1, "message": MESSAGE},
    {
        "update_id": 2,
        "callback_query": {
            "id": "q1",
            "from": USER,
            "chat_instance": "ci",
            "data": "menu:shop",
            "message": {**MESSAGE, "from": {**USER, "id": 99, "is_bot": True}, "reply_markup": KEYBOARD},
        },
    },
    {
        "update_id": 3,
        "message": {
            **MESSAGE,
            "text": None,
            "photo": [{"file_id": "f", "file_unique_id": "u", "width": 90, "height": 90, "file_size": 10}],
            "caption": "Street 1",
            "reply_to_message": MESSAGE,
        },
    },
    {
        "update_id": 4,
        "chat_member": {
            "chat": {"id": -100, "type": "channel", "title": "VIP"},
            "from": USER,
            "date": 1_700_000_000,
            "old_chat_member": {"status": "left", "user": USER},
            "new_chat_member": {"status": "member", "user": USER},
            "invite_link": {
                "invite_link": "https://t.me/+x",
                "creator": USER,
                "creates_join_request": False,
                "is_primary": False,
                "is_revoked": False,
                "member_limit": 1,
            },
        },
    },
]
ANSWERS = [
    ("SendMessage", MESSAGE),
    ("AnswerCallbackQuery", True),
    ("GetChatMember", {"status": "kicked", "user": USER, "until_date": 0}),
    ("GetChatMember", {"status": "administrator", "user": USER, "can_be_edited": False, "is_anonymous": False,
                       "can_manage_chat": True, "can_delete_messages": True, "can_manage_video_chats": True,
                       "can_restrict_members": True, "can_promote_members": False, "can_change_info": True,
                       "can_invite_users": True, "can_post_stories": False, "can_edit_stories": False,
                       "can_delete_stories": False}),
]  # fmt: skip
# Run in a fresh interpreter: argv[1] "deferred" or "at-import"; prints what was read, as JSON.
READ = """
import json, sys
if sys.argv[1] == "deferred":
    from bot.telegram_types import defer_telegram_validators
    assert defer_telegram_validators()
import aiogram.methods
from aiogram.methods.base import Response
from aiogram.types import Update
updates, answers = json.loads(sys.stdin.read())
read = [Update.model_validate(u).model_dump(mode="json") for u in updates]
for call, result in answers:
    returning = getattr(aiogram.methods, call).__returning__
    read.append(Response[returning].model_validate({"ok": True, "result": result}).model_dump(mode="json"))
print(json.dumps(read))
"""
BUILD_ALL = """
from bot.telegram_types import aiogram_models, defer_telegram_validators
assert defer_telegram_validators()
from aiogram.methods.base import Response
built = 0
for model in list(aiogram_models()):
    model.model_rebuild()
    assert model.__pydantic_complete__, model
    returning = getattr(model, "__returning__", None)
    if returning is not None and model.__module__ != "aiogram.methods.base":  # not TelegramMethod[T] itself
        Response[returning].model_rebuild()
        assert Response[returning].__pydantic_complete__, model
    built += 1
print(built)
"""


def _python(code: str, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], input=stdin, capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_versions_are_the_tested_ones() -> None:
    """The deferral uses pydantic's rebuild keywords as aiogram calls them; after an upgrade, read both
    again (aiogram/types/__init__.py's loop, pydantic's BaseModel.model_rebuild) and move TESTED_WITH."""
    assert installed_versions() == TESTED_WITH


def test_the_tests_run_with_the_validators_deferred_as_the_bot_does() -> None:
    assert "User" in (Message.__pydantic_parent_namespace__ or {})  # set by defer_telegram_validators only


def test_every_type_and_call_builds_on_first_use() -> None:
    assert int(_python(BUILD_ALL)) > 500  # ~360 types and ~220 calls


def test_updates_and_answers_read_the_same_as_with_everything_built_at_import() -> None:
    corpus = json.dumps([UPDATES, ANSWERS])
    deferred = json.loads(_python(READ, "deferred", stdin=corpus))
    at_import = json.loads(_python(READ, "at-import", stdin=corpus))
    assert deferred == at_import
    assert len(deferred) == len(UPDATES) + len(ANSWERS)
    assert deferred[2]["message"]["reply_to_message"]["entities"][0]["type"] == "bot_command"
    assert deferred[-1]["result"]["status"] == "administrator"


def test_an_answers_model_outlives_a_full_collection() -> None:
    """aiogram's session reads every answer with `Response[method.__returning__]`, which pydantic caches only
    weakly: without holding it, the call after a full collection builds it again (tens of milliseconds)."""
    warm_telegram_validators()
    returning = CopyMessages.__returning__  # a call the warm-up does not build: held when first used
    built = weakref.ref(Response[returning])  # type: ignore[valid-type]
    gc.collect()
    assert built() is not None
    assert Response[returning] is built()  # type: ignore[valid-type]
