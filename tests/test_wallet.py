"""The wallet as the bot uses it: settings, CLI, encrypted SOL file, index allocation under concurrency."""

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from config import ROOT, ConfigError, Settings, check_secrets
from models.enums import Chain, Network
from models.orders import DerivationCounter
from repositories.wallet import WalletRepo
from services.admin.wallet import longest_unused_run
from services.wallet.goods import GoodsCipher
from services.wallet.hdwallet import SolAccountNode, WalletConfigError, canonical_address
from services.wallet.merchant import AddressMismatch, load_wallet
from services.wallet.secretbox import DecryptionError, seal, write_sol_key_file
from tests.keys import BTC_VPUB, BTC_ZPUB, ETH_XPUB, LTC_TTUB, MNEMONIC

WALLET_KEY = "correct horse battery staple, but much longer and random"
VECTORS = {
    Chain.btc: "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
    Chain.eth: "0x9858EfFD232B4033E47d90003D41EC34EcaEda94",
    Chain.sol: "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk",
}


@pytest.fixture
def sol_file(tmp_path: Path) -> Path:
    path = tmp_path / "sol.key"
    write_sol_key_file(path, SolAccountNode.from_mnemonic(MNEMONIC), WALLET_KEY)
    return path


def wallet_env(sol_file: Path) -> dict[str, str]:
    return {"BTC_XPUB": BTC_ZPUB, "ETH_XPUB": ETH_XPUB, "SOL_KEY_FILE": str(sol_file), "WALLET_KEY": WALLET_KEY}


def test_wallet_from_settings_reproduces_the_vectors(sol_file: Path) -> None:
    settings = Settings(
        _env_file=None, btc_xpub=BTC_ZPUB, eth_xpub=ETH_XPUB, sol_key_file=sol_file, wallet_key=WALLET_KEY
    )
    wallet = load_wallet(settings)
    assert wallet.chains == (Chain.btc, Chain.eth, Chain.sol)  # LTC is not configured, so not offered
    for chain, address in VECTORS.items():
        assert wallet.address(chain, 0) == address
        wallet.verify(chain, 0, address)
    with pytest.raises(AddressMismatch):
        wallet.verify(Chain.btc, 1, VECTORS[Chain.btc])


def test_regtest_ltc_and_wrong_network_keys() -> None:
    wallet = load_wallet(Settings(_env_file=None, network=Network.regtest, ltc_xpub=LTC_TTUB, btc_xpub=BTC_VPUB))
    assert wallet.address(Chain.ltc, 0).startswith("rltc1")
    assert wallet.address(Chain.btc, 0).startswith("bcrt1")
    with pytest.raises(WalletConfigError, match=r"^BTC_XPUB: "):
        load_wallet(Settings(_env_file=None, network=Network.mainnet, btc_xpub=BTC_VPUB))
    with pytest.raises(WalletConfigError, match=r"^LTC_XPUB: "):
        load_wallet(Settings(_env_file=None, ltc_xpub="zpub-garbage"))


def test_sol_file_needs_the_right_wallet_key(sol_file: Path) -> None:
    with pytest.raises(WalletConfigError, match=r"^WALLET_KEY: needed"):
        load_wallet(Settings(_env_file=None, sol_key_file=sol_file))
    with pytest.raises(WalletConfigError, match=r"^WALLET_KEY: cannot open"):
        load_wallet(Settings(_env_file=None, sol_key_file=sol_file, wallet_key="wrong"))


def cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_XPUB", "_KEY", "_KEY_FILE"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env={**clean, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_derive_reproduces_the_vectors_from_xpubs_and_the_sealed_sol_file(tmp_path: Path) -> None:
    sol = tmp_path / "made-by-cli.key"
    made = cli("wallet", "sol-init", env={"SOL_KEY_FILE": str(sol), "WALLET_KEY": WALLET_KEY}, stdin=MNEMONIC)
    assert made.returncode == 0, made.stderr
    assert VECTORS[Chain.sol] in made.stdout and "abandon" not in made.stdout
    assert b"abandon" not in sol.read_bytes()
    env = wallet_env(sol)
    for chain, address in VECTORS.items():
        result = cli("wallet", "derive", "--chain", chain.value, "--index", "0", env=env)
        assert (result.returncode, result.stdout.strip()) == (0, address), result.stderr
    refused = cli("wallet", "sol-init", env={"SOL_KEY_FILE": str(sol), "WALLET_KEY": WALLET_KEY}, stdin=MNEMONIC)
    assert refused.returncode == 2 and "exists" in refused.stderr
    bad = cli("wallet", "derive", "--chain", "btc", "--index", "0", env={"BTC_XPUB": "xprv-nonsense"})
    assert bad.returncode == 2 and bad.stderr.startswith("error: BTC_XPUB: ")


def test_cli_export_and_audited_show_key(tmp_path: Path, sol_file: Path) -> None:
    env = {**wallet_env(sol_file), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}
    export = cli("wallet", "export", env=env)
    assert export.returncode == 0, export.stderr
    assert "BTC: wpkh([" in export.stdout and "/84h/0h/0h]xpub" in export.stdout
    assert "ETH: xpub" in export.stdout
    shown = cli("wallet", "show-key", "--chain", "sol", "--index", "0", env=env)
    assert shown.returncode == 0 and len(shown.stdout.strip()) > 80
    rows = sqlite3.connect(tmp_path / "cli.db").execute("SELECT actor, action, entity_id FROM audit_log").fetchall()
    assert rows == [("cli", "wallet.show_key", 0)]


async def test_200_concurrent_allocations_take_distinct_indices(sessions) -> None:
    async def allocate() -> int:
        async with sessions() as s, s.begin():
            return (await WalletRepo(s).take_next_index(Chain.btc)).index

    indices = await asyncio.gather(*(allocate() for _ in range(200)))
    assert sorted(indices) == list(range(200))
    async with sessions() as s:
        counter = (await s.execute(select(DerivationCounter.next_index))).scalar_one()
    assert counter == 200


def test_gap_runs() -> None:
    assert longest_unused_run(None, []) == 0
    assert longest_unused_run(4, []) == 5
    assert longest_unused_run(9, [0, 1, 5]) == 4  # 6..9 after the last paid one; 2..4 is only 3
    assert longest_unused_run(5, [5]) == 5


def test_goods_cipher_seals_and_digests_without_revealing() -> None:
    cipher = GoodsCipher(WALLET_KEY)
    blob = cipher.seal("KEY-AAAA-0001", 7)
    assert b"KEY-AAAA" not in blob and cipher.open(blob, 7) == "KEY-AAAA-0001"
    with pytest.raises(DecryptionError):  # moved to another product's row, or passed off as a preview
        cipher.open(blob, 8)
    with pytest.raises(DecryptionError):
        cipher.open_preview(blob, 7)
    with pytest.raises(DecryptionError):
        cipher.open(cipher.seal_preview('["KEY-AAAA-0001"]', 7), 7)
    legacy = seal(cipher._key, b"KEY-OLD", b"goods-payload/v1")  # sealed before payloads named their product
    assert cipher.open(legacy, 7) == "KEY-OLD"
    assert cipher.digest("KEY-AAAA-0001") == GoodsCipher(WALLET_KEY).digest("KEY-AAAA-0001")
    assert cipher.digest("KEY-AAAA-0001") != GoodsCipher("another key").digest("KEY-AAAA-0001")


@pytest.mark.parametrize("name", ["WALLET_KEY", "GOODS_KEY", "WEBHOOK_SECRET"])
def test_weak_secrets_stop_the_bot_with_a_message_that_names_them(name: str) -> None:
    result = cli(env={"BOT_TOKEN": "123456:" + "x" * 35, name: "short-secret"})
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {name}: too weak") and "short-secret" not in result.stderr
    result = cli("wallet", "sol-init", "--generate", env={name: "short-secret"})
    assert result.returncode == 2 and f"{name}: too weak" in result.stderr


@pytest.mark.parametrize("weak", ["short-secret", "a" * 40, "abababababababababab"])
def test_what_counts_as_a_weak_secret(weak: str) -> None:
    with pytest.raises(ConfigError, match=r"^GOODS_KEY: too weak"):
        check_secrets(Settings(_env_file=None, wallet_key=WALLET_KEY, goods_key=weak))
    check_secrets(Settings(_env_file=None, wallet_key=WALLET_KEY, goods_key="0123456789abcdef"))


def test_an_address_in_another_letter_case_reads_as_our_invoices_write_it(wallet) -> None:
    """ETH hex is case-insensitive (EIP-55's mixed case is a checksum), so a provider's lowercase reads as
    the address we derived; bech32 is valid all in capitals and reads as the lowercase we derive; base58
    is case-sensitive and mixed-case bech32 is no address, so they stay as given."""
    for index in (0, 1, 2**31 - 1):
        ours = wallet.address(Chain.eth, index)
        for written in (ours.lower(), "0x" + ours[2:].upper(), ours):
            assert canonical_address(Chain.eth, written) == ours
        for chain in (Chain.btc, Chain.ltc):
            ours = wallet.address(chain, index)
            assert canonical_address(chain, ours.upper()) == ours
            mixed = ours[:5].upper() + ours[5:]
            assert canonical_address(chain, mixed) == mixed
    assert canonical_address(Chain.eth, VECTORS[Chain.eth].lower()) == VECTORS[Chain.eth]
    assert canonical_address(Chain.btc, VECTORS[Chain.btc].upper()) == VECTORS[Chain.btc]
    base58 = ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "LTC1QWERTYUPASDFGHJKZXCVBNM123456789")
    assert [canonical_address(c, a) for c, a in zip((Chain.btc, Chain.ltc), base58)] == list(base58)
    assert canonical_address(Chain.sol, VECTORS[Chain.sol].upper()) == VECTORS[Chain.sol].upper()
    assert canonical_address(Chain.eth, "0xnot-an-address") == "0xnot-an-address"
