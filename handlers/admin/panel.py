"""Small pieces the admin sections share: who acts, answering a button or a message, keyboards."""

from aiogram.types import CallbackQuery, InlineKeyboardButton, Message

from handlers.admin.menu import AdminCb, AdminSection
from handlers.keyboards import button, rows
from handlers.render import answer
from l10n import L10n

__all__ = ["actor", "answer", "rows", "to_menu"]  # answer lives in handlers.render, rows in handlers.keyboards


def actor(event: Message | CallbackQuery) -> str:
    """The audit log's name for the admin behind an update."""
    return f"admin:{event.from_user.id if event.from_user else 0}"


def to_menu(l10n: L10n) -> InlineKeyboardButton:
    return button(l10n("nav.back"), AdminCb(section=AdminSection.home))
