"""The test tokens of tests/contracts, deployed on anvil: a Tether-like one (6 decimals, `transfer` returns
nothing, an optional transfer fee) and a standard one. Calls are ABI-encoded by hand: no web3 library."""

import json
from dataclasses import dataclass
from pathlib import Path

from bip_utils import Kekkak256

from tests.nodes import Anvil

BUILD: dict[str, str] = json.loads((Path(__file__).parent / "contracts" / "build.json").read_text())["contracts"]


def selector(signature: str) -> str:
    return str(Kekkak256.QuickDigest(signature.encode()).hex()[:8])


def word(value: int | str) -> str:
    """One ABI word: a uint256, or an address left-padded with zeros."""
    number = int(value, 16) if isinstance(value, str) else value
    return f"{number:064x}"


def call_data(signature: str, *args: int | str) -> str:
    return "0x" + selector(signature) + "".join(word(a) for a in args)


@dataclass(frozen=True)
class Token:
    anvil: Anvil
    address: str  # lowercase, as ETH_TOKENS keeps it

    def request(self, signature: str, *args: int | str, sender: str | None = None) -> dict[str, str]:
        return {
            "from": sender or self.anvil.accounts[0],
            "to": self.address,
            "data": call_data(signature, *args),
            "gas": hex(200_000),
        }

    def mint(self, to: str, amount: int) -> str:
        return self.anvil.transact(self.request("mint(address,uint256)", to, amount))

    def transfer(self, to: str, amount: int, sender: str | None = None) -> str:
        """`amount` from a funded dev account to `to`, mined in its own block; the tx hash."""
        return self.anvil.transact(self.request("transfer(address,uint256)", to, amount, sender=sender))

    def signed_transfer(self, to: str, amount: int) -> str:
        """The same transfer from the first dev account, signed raw: it keeps its hash when a reorg mines it again."""
        (raw,) = self.anvil.sign([self.request("transfer(address,uint256)", to, amount)])
        return raw

    def set_fee(self, basis_points: int) -> None:
        self.anvil.transact(self.request("setFee(uint256)", basis_points))

    def balance(self, who: str) -> int:
        return int(self.anvil.rpc("eth_call", {"to": self.address, "data": call_data("balanceOf(address)", who)}), 16)


def deploy(anvil: Anvil, contract: str, *args: int | str, funded: int = 10**15) -> Token:
    """Deploy a test token (`args`: its constructor's, e.g. StandardToken's decimals) and give the first dev
    account `funded` base units of it."""
    code = BUILD[contract] + "".join(word(a) for a in args)
    receipt = anvil.receipt(anvil.transact({"from": anvil.accounts[0], "data": code, "gas": hex(3_000_000)}))
    token = Token(anvil, str(receipt["contractAddress"]).lower())
    token.mint(anvil.accounts[0], funded)
    return token
