"""Gates on the router tree, so that a button press visits and checks only the routers that could take it.

aiogram checks a press against each router in turn and, inside a router, against each handler's filters
until one passes; a router whose own filters fail is skipped with all its sub-routers. A router whose every
press handler (its sub-routers' included) requires a CallbackData or a wait state (handlers.prompts.Waiting:
a prompt's `leave`) gets a gate: the press's prefix must be one of theirs, or the conversation in one of
those states. The gate rejects only presses that none of those handlers could take (a CallbackData filter
rejects data with another prefix, a Waiting filter other states), so which handler takes which press does
not change.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from aiogram import Router
from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.types import CallbackQuery

from handlers.prompts import Waiting


@dataclass
class Takes:
    """What the press handlers of a router tree can take: data with these prefixes (by separator), and any
    press while the conversation is in one of these states."""

    prefixes: dict[str, frozenset[str]]
    states: frozenset[str] = field(default_factory=frozenset)


class PressGate(Filter):
    """A press whose callback data starts with one of these prefixes (per separator), or any press while the
    conversation is in one of these states."""

    def __init__(self, takes: Takes) -> None:
        self._prefixes = tuple(takes.prefixes.items())
        self._states = takes.states

    async def __call__(self, query: CallbackQuery, raw_state: str | None = None) -> bool:
        if raw_state in self._states:
            return True
        data = query.data
        if not data:
            return False
        return any(data.partition(sep)[0] in names for sep, names in self._prefixes)


def gate_presses(router: Router) -> None:
    """Gate `router` and every router below it that can be gated (see the module's docstring). A router that
    takes no CallbackData (a prompt's leaving router alone) gets none: its handlers check the state as
    cheaply as a gate would."""
    for sub in router.sub_routers:
        gate_presses(sub)
    takes = router_takes(router)
    if takes is not None and takes.prefixes:
        router.callback_query.filter(PressGate(takes))


def router_takes(router: Router) -> Takes | None:
    """What the press handlers of `router` and its sub-routers require; None when one of them takes presses
    without a CallbackData or a wait state."""
    found: defaultdict[str, set[str]] = defaultdict(set)
    states: set[str] = set()
    for handler in router.callback_query.handlers:
        callbacks = [f.callback for f in handler.filters or ()]
        data = [c.callback_data for c in callbacks if isinstance(c, CallbackQueryFilter)]
        waits = [c.states for c in callbacks if isinstance(c, Waiting)]
        if data:
            found[data[0].__separator__].add(data[0].__prefix__)
        elif waits:
            states |= waits[0]
        else:
            return None
    for sub in router.sub_routers:
        below = router_takes(sub)
        if below is None:
            return None
        for sep, names in below.prefixes.items():
            found[sep] |= names
        states |= below.states
    return Takes({sep: frozenset(names) for sep, names in found.items()}, frozenset(states))
