"""What the merchant sees of their wallet: watch-only exports, gap-limit health, SOL sweep keys."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from models.database import read_only
from models.enums import Chain
from repositories.audit import AuditRepo
from repositories.wallet import WalletRepo
from services.wallet.hdwallet import descriptor, plain_xpub
from services.wallet.merchant import Wallet


@dataclass(frozen=True, slots=True)
class GapReport:
    chain: Chain
    highest_index: int | None  # None: no invoice yet
    last_paid_index: int | None
    longest_gap: int  # longest run of consecutive indices with nothing received

    def warn(self, limit: int) -> bool:
        return self.longest_gap > limit


@dataclass(frozen=True, slots=True)
class WatchOnlyExport:
    chain: Chain
    text: str  # an output descriptor for BTC/LTC, the account xpub for ETH, the first address for SOL
    highest_index: int | None


def longest_unused_run(highest: int | None, paid: list[int]) -> int:
    """Longest run of unused indices in 0..highest. A wallet stops scanning after `gap limit` of them."""
    if highest is None:
        return 0
    longest, previous = 0, -1
    for index in [*sorted(paid), highest + 1]:
        longest = max(longest, index - previous - 1)
        previous = index
    return longest


class AdminWalletService:
    def __init__(self, session: AsyncSession, wallet: Wallet) -> None:
        self._session = session
        self._wallet = wallet

    async def gap_reports(self) -> list[GapReport]:
        """Per configured chain; read-only."""
        reports = []
        async with read_only(self._session):
            repo = WalletRepo(self._session)
            for chain in self._wallet.chains:
                highest, paid = await repo.highest_index(chain), await repo.paid_indices(chain)
                reports.append(GapReport(chain, highest, paid[-1] if paid else None, longest_unused_run(highest, paid)))
        return reports

    async def watch_only_exports(self) -> list[WatchOnlyExport]:
        exports = []
        async with read_only(self._session):
            repo = WalletRepo(self._session)
            for chain in self._wallet.chains:
                if chain is Chain.sol:
                    text = f"SOL addresses m/44'/501'/i'/0' (index 0: {self._wallet.address(chain, 0)})"
                elif chain is Chain.eth:
                    text = plain_xpub(self._wallet.keys[chain])
                else:
                    text = descriptor(self._wallet.keys[chain])
                exports.append(WatchOnlyExport(chain, text, await repo.highest_index(chain)))
        return exports

    async def reveal_sol_key(self, index: int, actor: str) -> str:
        """The Phantom-format private key of one SOL invoice address, so the merchant can sweep it.

        Writes an audit row first, in its own transaction; raises WalletConfigError without SOL.
        """
        self._wallet.address(Chain.sol, index)  # raises when SOL is not configured
        assert self._wallet.sol is not None
        async with self._session.begin():
            await AuditRepo(self._session).record(actor, "wallet.show_key", "wallet", index, after={"chain": "sol"})
        return self._wallet.sol.private_key_base58(index)
