"""What services hand to handlers: plain frozen data, never ORM rows or aiogram objects."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserDTO:
    id: int
    telegram_id: int
    username: str | None
    language: str
    timeout_count: int
    is_banned: bool
