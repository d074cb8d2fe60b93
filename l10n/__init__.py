"""User-facing strings: `l10n/{en,de}.json`, flat dotted keys, named `{placeholders}`."""

import json
from collections.abc import Mapping
from pathlib import Path
from string import Formatter
from typing import Any

LANGUAGES = ("en", "de")
_DIR = Path(__file__).resolve().parent


def load_catalog(language: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((_DIR / f"{language}.json").read_text(encoding="utf-8"))
    return data


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def language_for(language_code: str | None, default: str) -> str:
    """Telegram's language_code to one of ours: `de*` is German, anything else the shop's default."""
    if language_code and language_code.lower().startswith("de"):
        return "de"
    return default


class L10n:
    """The strings of one language; `l10n("menu.shop", name=...)` renders one."""

    def __init__(self, language: str, strings: Mapping[str, str], fallback: Mapping[str, str]) -> None:
        self.language = language
        self._strings = strings
        self._fallback = fallback

    def __contains__(self, key: object) -> bool:
        return key in self._strings or key in self._fallback

    def __call__(self, key: str, **params: Any) -> str:
        text = self._strings.get(key) or self._fallback[key]
        return text.format_map(params) if params else text


class Translator:
    """One L10n per language, made once: keyboards that depend on nothing but the strings are built once per
    L10n (handlers.keyboards.per_language)."""

    def __init__(self) -> None:
        catalogs = {lang: load_catalog(lang) for lang in LANGUAGES}
        self._l10n = {lang: L10n(lang, strings, catalogs["en"]) for lang, strings in catalogs.items()}

    def __call__(self, language: str) -> L10n:
        return self._l10n.get(language) or self._l10n["en"]
