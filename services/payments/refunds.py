"""Refunds on chain: what a chain shows at a refund's address, and whether that closes it.

A refund closes with one payment to its address of exactly its amount, at the chain's confirmation depth,
in a block above the height the chain had when the buyer gave the address (`watch_from`): the buyer's
address may have been paid that amount before, and that proves nothing about the refund. One payment
closes at most one refund. The observer applies every cycle's scan here; an admin's hand-entered
transaction id goes through the same rule, narrowed to that transaction.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from models.database import read_only
from models.enums import Chain, RefundStatus
from models.orders import Refund
from repositories.orders import OrderRepo
from repositories.refunds import RefundRepo
from services.orders.lifecycle import OBSERVER, Actor, OrderLifecycle
from services.payments.explorer import tx_id
from services.payments.seen import SeenPayment

_HEX = re.compile(r"(0x)?[0-9a-fA-F]+")


class RefundCheck(StrEnum):
    """What a look at a refund's address found."""

    refunded = "refunded"  # it closed now
    unconfirmed = "unconfirmed"  # the exact amount is there, not yet at depth
    wrong_amount = "wrong_amount"  # a payment is there (of that transaction), but not of exactly the amount
    not_found = "not_found"  # nothing (of that transaction) arrived since the address came in
    unknown = "unknown"  # the provider could not tell
    moved_on = "moved_on"  # the refund is not waiting for a payment (any more)


@dataclass(frozen=True, slots=True)
class WatchedRefund:
    """A refund waiting for its payment, as the observer needs it."""

    id: int
    order_id: int
    chain: Chain
    address: str
    amount: int
    watch_from: int

    @classmethod
    def of(cls, refund: Refund) -> "WatchedRefund":
        assert refund.address is not None and refund.watch_from is not None  # set when it awaits payment
        return cls(refund.id, refund.order_id, refund.chain, refund.address, refund.amount, refund.watch_from)


class RefundPayments:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self._session = session
        self._settings = settings

    async def watched(self, chain: Chain) -> list[WatchedRefund]:
        """Every refund of `chain` waiting for its payment, oldest first. Read-only."""
        async with read_only(self._session):
            return [WatchedRefund.of(r) for r in await RefundRepo(self._session).watched(chain)]

    async def apply_scan(
        self,
        refund: WatchedRefund,
        seen: Sequence[SeenPayment],
        now: datetime,
        *,
        actor: Actor = OBSERVER,
        txid: str | None = None,
    ) -> RefundCheck:
        """Close the refund when `seen` (what the chain shows at its address) holds its payment: exactly its
        amount, at depth, above watch_from, in transaction `txid` when one is given, and no other refund's.
        Then buyer and admins are told, once (OrderLifecycle.refund_paid). Writes only when there is
        something to close; idempotent."""
        depth = self._settings.confirmations(refund.chain)
        candidates = [p for p in seen if p.block_height is None or p.block_height > refund.watch_from]
        if txid is not None:
            candidates = [p for p in candidates if _same_tx(tx_id(p.natural_id), tx_id(txid.strip()))]
        exact = [p for p in candidates if p.amount == refund.amount]
        deep = [p for p in exact if p.confirmations >= depth]
        if not deep:
            if exact:
                return RefundCheck.unconfirmed
            return RefundCheck.wrong_amount if candidates else RefundCheck.not_found
        async with self._session.begin():
            order = await OrderRepo(self._session).locked(refund.order_id)
            repo = RefundRepo(self._session)
            stored = await repo.get(refund.id)
            if order is None or stored is None or stored.status is not RefundStatus.awaiting_payment:
                return RefundCheck.moved_on
            used = await repo.paid_by(refund.chain, [p.natural_id for p in deep])
            payment = next((p for p in deep if p.natural_id not in used), None)
            if payment is None:  # it closed another refund of the same amount to the same address
                return RefundCheck.not_found
            lifecycle = OrderLifecycle(self._session, self._settings)
            if not await lifecycle.refund_paid(order, stored, actor, payment.natural_id, now):
                return RefundCheck.moved_on
        return RefundCheck.refunded


def _same_tx(a: str, b: str) -> bool:
    """Hex transaction ids in any letter case (an admin may paste upper case); base58 (SOL) exactly."""
    return a.lower() == b.lower() if _HEX.fullmatch(a) and _HEX.fullmatch(b) else a == b
