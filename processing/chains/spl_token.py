"""SPL token payments on Solana (USDC, USDT), from the history of each invoice's associated token account.

A wallet pays a token to an owner address by sending it to the owner's associated token account (ATA) for
that mint (services.wallet.spl), creating the account first if it does not exist. So per token invoice:
`getSignaturesForAddress` of its ATA, then `getTransaction` of each successful signature (shared with the
SOL backend: solana_rpc.SignatureHistory). The credit is, for each token account in
`meta.postTokenBalances` whose mint is the invoice's and whose owner is the invoice address, its
`uiTokenAmount.amount` (base units, a string) less the same account's entry in `meta.preTokenBalances`
(none: 0, the account was created in that transaction). Only increases count; `uiAmount`, a float, is
never read. A transfer of another mint to the same owner lands in another token account and is no payment
of this invoice; a transaction that touches both is read for the invoice's mint only.

- natural_id f"{signature}:{token account}"; block_height is the slot; block_hash None.
- confirmations: 1 once the signature reaches SOL_COMMITMENT, else 0.

Requests per cycle for N token invoices: as for SOL, ceil((N + 1) / 100) batches while nothing is paid.
"""

import base64
from collections.abc import Sequence
from typing import Any

from models.enums import Chain
from processing.chains.http import expect_shape, json_int
from processing.chains.solana_rpc import Signature, SignatureHistory, account_keys
from services.payments.seen import ChainSnapshot, SeenPayment, TokenWatch
from services.wallet.spl import associated_token_account

TokenCredits = dict[tuple[str, str, str], int]  # (token account, mint, owner) -> base units gained
MULTIPLE_ACCOUNTS = 100  # keys getMultipleAccounts takes at once
LAMPORTS_PER_SIGNATURE = 5_000


class SplTokenBackend:
    chain = Chain.sol
    name = "spl-token"

    def __init__(self, url: str, commitment: str = "finalized", timeout: float = 10.0) -> None:
        self._history = SignatureHistory(url, commitment, timeout, _token_increases)

    async def scan(self, wanted: Sequence[TokenWatch]) -> ChainSnapshot:
        accounts = {w.address: associated_token_account(w.address, w.token) for w in wanted}
        tip, history, credits = await self._history.read(list(dict.fromkeys(accounts.values())))
        return ChainSnapshot(tip, {w.address: self._payments(w, history[accounts[w.address]], credits) for w in wanted})

    async def balances(self, held: Sequence[TokenWatch]) -> dict[str, int]:
        """Each address's associated token account balance (the Token program's account: the amount is a
        little-endian u64 at byte 64); a closed or never created account holds 0."""
        accounts = [associated_token_account(w.address, w.token) for w in held]
        found: list[Any] = []
        opts = {"encoding": "base64", "commitment": self._history.commitment}
        for start in range(0, len(accounts), MULTIPLE_ACCOUNTS):
            answer = await self._history.rpc.call(
                "getMultipleAccounts", [accounts[start : start + MULTIPLE_ACCOUNTS], opts]
            )
            with expect_shape("getMultipleAccounts"):
                found += answer["value"]
        with expect_shape("getMultipleAccounts"):
            return {
                w.address: 0
                if account is None
                else int.from_bytes(base64.b64decode(account["data"][0])[64:72], "little")
                for w, account in zip(held, found, strict=True)
            }

    async def sweep_fee(self) -> int:
        """Lamports to move one address's tokens: one transaction signed by the merchant's wallet (the fee
        payer) and by the invoice address, at 5,000 lamports a signature. Closing the emptied token account in
        the same transaction gives its rent (0.00203928 SOL) back, so a sweep can even gain SOL."""
        return 2 * LAMPORTS_PER_SIGNATURE

    async def close(self) -> None:
        await self._history.rpc.close()

    def _payments(
        self, watch: TokenWatch, signatures: list[Signature], credits: dict[str, TokenCredits]
    ) -> list[SeenPayment]:
        found: dict[str, SeenPayment] = {}
        for s in signatures:
            for (account, mint, owner), amount in credits[s.signature].items():
                if mint == watch.token and owner == watch.address:
                    natural_id = f"{s.signature}:{account}"
                    reached = self._history.reached(s)
                    found[natural_id] = SeenPayment(natural_id, watch.address, amount, reached, s.slot, None)
        return list(found.values())


def _token_increases(tx: Any) -> TokenCredits:
    """Token base units gained by each token account in a successful transaction."""
    meta = tx["meta"]
    if meta["err"] is not None:
        return {}
    keys = account_keys(tx)

    def amounts(entries: Any) -> dict[tuple[str, str, str], int]:
        return {
            (keys[json_int(e["accountIndex"])], str(e["mint"]), str(e["owner"])): int(e["uiTokenAmount"]["amount"])
            for e in entries or []
        }

    before, after = amounts(meta["preTokenBalances"]), amounts(meta["postTokenBalances"])
    return {key: amount - before.get(key, 0) for key, amount in after.items() if amount > before.get(key, 0)}
