"""Gates on the router tree, so that a button press visits and checks only the routers that could take it.

aiogram checks a press against each router in turn and, inside a router, against each handler's filters
until one passes; a router whose own filters fail is skipped with all its sub-routers. A router whose every
press handler (its sub-routers' included) requires a CallbackData gets a gate: the press's prefix must be one
of theirs. The gate rejects only presses that none of those handlers could take (a CallbackData filter
rejects data with another prefix), so which handler takes which press does not change.
"""

from collections import defaultdict

from aiogram import Router
from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.types import CallbackQuery


class PressPrefixes(Filter):
    """A press whose callback data starts with one of these prefixes (per separator)."""

    def __init__(self, prefixes: dict[str, frozenset[str]]) -> None:
        self._prefixes = tuple(prefixes.items())

    async def __call__(self, query: CallbackQuery) -> bool:
        data = query.data
        if not data:
            return False
        return any(data.partition(sep)[0] in names for sep, names in self._prefixes)


def gate_presses(router: Router) -> None:
    """Gate `router` and every router below it that can be gated (see the module's docstring)."""
    for sub in router.sub_routers:
        gate_presses(sub)
    prefixes = press_prefixes(router)
    if prefixes is not None:
        router.callback_query.filter(PressPrefixes(prefixes))


def press_prefixes(router: Router) -> dict[str, frozenset[str]] | None:
    """The CallbackData prefixes, by separator, that the press handlers of `router` and its sub-routers
    require; None when one of them takes presses without a CallbackData."""
    found: defaultdict[str, set[str]] = defaultdict(set)
    for handler in router.callback_query.handlers:
        data = [f.callback.callback_data for f in handler.filters or () if isinstance(f.callback, CallbackQueryFilter)]
        if not data:
            return None
        found[data[0].__separator__].add(data[0].__prefix__)
    for sub in router.sub_routers:
        below = press_prefixes(sub)
        if below is None:
            return None
        for sep, names in below.items():
            found[sep] |= names
    return {sep: frozenset(names) for sep, names in found.items()}
