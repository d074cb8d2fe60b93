"""aiogram's Telegram types with their pydantic validators built on first use, not all at import.

aiogram declares its ~360 types with `defer_build=True`, then rebuilds every one at the end of
`aiogram/types/__init__.py` to resolve their forward references (aiogram issue #1513). Each validator
inlines every type it nests, so that loop costs about 65 MiB and 3 s of start-up, most of it for types the
shop never receives or sends. `defer_telegram_validators` lets aiogram's loop record the namespace instead
of building, and hands that namespace to every aiogram model, so pydantic builds a model's validator the
first time it is used, with the same schema as the loop would have built. `warm_telegram_validators` builds
the ones every shop uses before serving, so their first update does not stall the loop.

This leans on pydantic's `model_rebuild` keywords and `__pydantic_parent_namespace__`, so it is done only
with the versions in TESTED_WITH; with others aiogram builds everything at import, as it does by itself
(tests/test_telegram_types.py fails then, and checks that every type and call builds).
"""

import functools
import logging
import sys
from collections.abc import Iterator, Mapping
from importlib import metadata
from typing import Any

from pydantic import BaseModel

log = logging.getLogger(__name__)
TESTED_WITH = {"aiogram": "3.29.1", "pydantic": "2.13.5"}
_AIOGRAM_MODELS = ("aiogram.types", "aiogram.methods")


def installed_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in TESTED_WITH}


def defer_telegram_validators() -> bool:
    """Import aiogram's types and methods with their validators deferred to first use. True if deferred;
    False (and aiogram imports as usual) when aiogram's types are already imported or the versions differ.
    Call it before anything imports aiogram."""
    if "aiogram.types" in sys.modules:
        return False
    if installed_versions() != TESTED_WITH:
        log.warning("aiogram's validators are built at import: %s is not %s", installed_versions(), TESTED_WITH)
        return False
    seen: list[Mapping[str, Any]] = []
    rebuild = BaseModel.model_rebuild.__func__  # type: ignore[attr-defined]

    def record(cls: type[BaseModel], /, **kwargs: Any) -> bool | None:
        namespace = kwargs.get("_types_namespace")
        if namespace is not None and cls.__module__.startswith("aiogram.types."):
            seen.append(namespace)  # aiogram's loop: every type with the same namespace
            return None
        return rebuild(cls, **kwargs)  # type: ignore[no-any-return]

    BaseModel.model_rebuild = classmethod(record)  # type: ignore[method-assign, assignment]
    try:
        import aiogram.methods  # noqa: PLC0415 - the import is what is being changed
        import aiogram.types  # noqa: PLC0415, F401
    finally:
        BaseModel.model_rebuild = classmethod(rebuild)  # type: ignore[method-assign, assignment]
    namespace = dict(seen[0])
    for model in aiogram_models():
        model.__pydantic_parent_namespace__ = namespace  # resolves the nested types' names on the first build
    return True


def aiogram_models() -> Iterator[type[BaseModel]]:
    """Every pydantic model aiogram's types and methods define."""
    for name, module in list(sys.modules.items()):
        if name.startswith(_AIOGRAM_MODELS):
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == name:
                    yield value


def hold_response_models() -> None:
    """Keep every `Response[...]` model once built. aiogram's session reads each Bot API answer with
    `Response[method.__returning__]`, and pydantic caches such a parametrized model only weakly: the next full
    collection frees it and the next call builds it again, 57-64 ms for `Response[Message]` or
    `Response[Message | bool]`, stalling the loop (`python -m bench http` spent 12 % of the bots' CPU on it).
    A strong cache in front of pydantic's holds the few the bot uses for the life of the process."""
    from aiogram.methods.base import Response  # noqa: PLC0415 - after defer_telegram_validators

    if "__class_getitem__" not in vars(Response):
        parametrize = functools.cache(vars(BaseModel)["__class_getitem__"].__func__)
        Response.__class_getitem__ = classmethod(parametrize)  # type: ignore[method-assign, assignment, arg-type]


def warm_telegram_validators() -> None:
    """Build the validators every shop needs at once: the update and the calls that answer it, and hold
    their answers' models (hold_response_models)."""
    from aiogram.methods import (  # noqa: PLC0415 - after defer_telegram_validators
        AnswerCallbackQuery,
        DeleteMessage,
        EditMessageText,
        GetUpdates,
        SendMessage,
        SendPhoto,
    )
    from aiogram.methods.base import Response  # noqa: PLC0415
    from aiogram.types import Update  # noqa: PLC0415

    hold_response_models()
    Update.model_rebuild()
    for call in (AnswerCallbackQuery, DeleteMessage, EditMessageText, GetUpdates, SendMessage, SendPhoto):
        call.model_rebuild()
        Response[call.__returning__].model_rebuild()  # type: ignore[name-defined]
