"""The chain table: one row per coin, and the settings' defaults read from it."""

import subprocess
import sys

from config import ROOT, Settings
from models.chains import CHAINS
from models.enums import Chain, Network
from tests.doubles.solana import RENT_EXEMPT_MINIMUM


def test_every_chain_has_one_row_in_the_order_buyers_see() -> None:
    assert tuple(CHAINS) == (Chain.btc, Chain.ltc, Chain.eth, Chain.sol)
    assert set(CHAINS) == set(Chain)
    assert all(facts.chain is chain for chain, facts in CHAINS.items())


def test_default_depths_are_the_tables() -> None:
    defaults = Settings.model_construct()  # the field defaults, whatever the environment says
    assert {chain: defaults.confirmations(chain) for chain in Chain} == {
        chain: facts.default_confirmations for chain, facts in CHAINS.items()
    }


def test_rows_are_consistent() -> None:
    for facts in CHAINS.values():
        assert facts.explorers.keys() <= {Network.mainnet, Network.testnet}  # no public explorer knows regtest
        assert not facts.bech32_hrp or facts.bech32_hrp.keys() == set(Network)
        assert facts.min_payment >= 1 and facts.default_confirmations >= 1
    assert CHAINS[Chain.sol].min_payment == RENT_EXEMPT_MINIMUM  # what the chain (and its double) refuses below


def test_config_loads_no_orm() -> None:
    code = "import sys, config; print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'services')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
