"""What the merchant sees of their wallet: watch-only exports, gap-limit health, SOL sweep keys, and the tokens
waiting on invoice addresses to be swept."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from models.chains import CHAINS, Asset
from models.database import read_only
from models.enums import Chain
from models.orders import Invoice
from repositories.audit import AuditRepo
from repositories.wallet import WalletRepo
from services.payments.seen import TokenWatch
from services.wallet.hdwallet import descriptor, plain_xpub
from services.wallet.merchant import Wallet


class ChainHoldings(Protocol):
    """What the sweeping view asks of the chains (processing.chains.holdings.TokenHoldings)."""

    async def balances(self, chain: Chain, held: Sequence[TokenWatch]) -> dict[str, int] | None:
        """Each address's balance of its token now, by address; None when the chain cannot be asked."""
        ...

    async def sweep_fee(self, chain: Chain) -> int | None:
        """About what moving one address's tokens costs now, in base units of the chain's coin; None when
        unknown."""
        ...


@dataclass(frozen=True, slots=True)
class TokenHolding:
    unit: Asset
    index: int  # the address's derivation index, for the merchant's wallet
    address: str
    balance: int  # base units of `unit`


@dataclass(frozen=True, slots=True)
class SweepReport:
    """One network's invoice addresses that hold tokens now."""

    chain: Chain
    holdings: list[TokenHolding] | None  # None: the chain could not be asked
    fee_per_address: int | None  # base units of the chain's coin

    @property
    def coin(self) -> Asset:
        """What the fee is paid in: the network's own coin."""
        return CHAINS[self.chain].native

    @property
    def totals(self) -> dict[Asset, tuple[int, int]]:
        """Per token: (addresses, base units)."""
        totals: dict[Asset, tuple[int, int]] = defaultdict(lambda: (0, 0))
        for h in self.holdings or []:
            count, amount = totals[h.unit]
            totals[h.unit] = count + 1, amount + h.balance
        return dict(totals)

    @property
    def fees(self) -> tuple[int, int] | None:
        """(all of them, each) in base units of the chain's coin, for every holding (an address holding two
        tokens sends two transfers); None when nothing is held or the price of gas is unknown."""
        if not self.holdings or self.fee_per_address is None:
            return None
        return self.fee_per_address * len(self.holdings), self.fee_per_address


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
    def __init__(self, session: AsyncSession, wallet: Wallet, holdings: ChainHoldings | None = None) -> None:
        self._session = session
        self._wallet = wallet
        self._holdings = holdings

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

    async def sweep_reports(self) -> list[SweepReport]:
        """Per network that has paid token invoices: which of their addresses hold their token now, how much,
        and about what moving it costs at today's prices. Reads the database (read-only), then asks the chains
        (outside any transaction); a chain that cannot be asked is reported as such, never as empty."""
        async with read_only(self._session):
            invoices = await WalletRepo(self._session).token_invoices_paid()
        by_chain: dict[Chain, list[Invoice]] = defaultdict(list)
        for invoice in invoices:
            by_chain[invoice.chain].append(invoice)
        reports = []
        for chain, held in by_chain.items():
            balances = fee = None
            if self._holdings is not None:
                watches = [TokenWatch(i.address, i.token or "", i.created_at) for i in held]
                balances = await self._holdings.balances(chain, watches)
                fee = await self._holdings.sweep_fee(chain)
            holdings = (
                None
                if balances is None
                else [
                    TokenHolding(i.unit, i.derivation_index, i.address, balances[i.address])
                    for i in held
                    if balances.get(i.address, 0) > 0
                ]
            )
            reports.append(SweepReport(chain, holdings, fee))
        return reports

    async def reveal_sol_key(self, index: int, actor: str) -> str:
        """The Phantom-format private key of one SOL invoice address, so the merchant can sweep it.

        Writes an audit row first, in its own transaction; raises WalletConfigError without SOL.
        """
        self._wallet.address(Chain.sol, index)  # raises when SOL is not configured
        assert self._wallet.sol is not None
        async with self._session.begin():
            await AuditRepo(self._session).record(actor, "wallet.show_key", "wallet", index, after={"chain": "sol"})
        return self._wallet.sol.private_key_base58(index)
