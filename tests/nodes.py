"""Real chain nodes for tests: litecoind in regtest and anvil, each started once per session.

Import the fixtures into a test module (their names are `litecoind` and `anvil`):

    from tests.nodes import anvil_fixture, anvil_session_fixture, litecoind_fixture  # noqa: F401

A missing binary skips the test, or fails it when SHOP_REQUIRE_NODES=1 (CI). The helpers are
synchronous; they talk to nodes on 127.0.0.1 and return at once, so async tests may call them.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent
MWEB_HEIGHT = 432  # litecoind 0.21 regtest activates MWEB here and plain mining stops working
ANVIL_PATHS = (REPO / "node_modules/.bin/anvil", Path("/opt/anvil/node_modules/.bin/anvil"))


class NodeError(Exception):
    pass


def missing(reason: str) -> NoReturn:
    if os.environ.get("SHOP_REQUIRE_NODES") == "1":
        pytest.fail(f"{reason} (SHOP_REQUIRE_NODES=1)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post_json(url: str, body: Any, auth: str | None = None, timeout: float = 30) -> Any:
    """POST JSON (Decimals as strings, which Core takes for amounts) and decode the answer."""
    request = urllib.request.Request(url, json.dumps(body, default=str).encode(), {"Content-Type": "application/json"})
    if auth:
        request.add_unredirected_header("Authorization", f"Basic {auth}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read(), parse_float=Decimal)
    except urllib.error.HTTPError as e:  # Core sends RPC errors with HTTP 500 and a JSON body
        return json.loads(e.read(), parse_float=Decimal)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_ready(process: subprocess.Popen[bytes], probe: Callable[[], object], log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            probe()
            return
        except (OSError, ValueError, NodeError) as e:  # refused, half-started, or "Loading block index"
            if process.poll() is not None or time.monotonic() > deadline:
                stop_process(process)
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"{what} did not start ({e}):\n{tail}") from None
            time.sleep(0.2)


class Litecoind:
    """litecoind -regtest with a `funder` wallet holding mature coins and a `merchant` wallet."""

    user = "shop"
    password = "regtest-password"

    def __init__(self, binary: str, datadir: Path) -> None:
        self.datadir = datadir
        self.port = free_port()
        self.url = f"http://{self.user}:{self.password}@127.0.0.1:{self.port}"
        self._auth = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        log = datadir / "litecoind.log"
        self.process = subprocess.Popen(
            [
                binary,
                "-regtest",
                f"-datadir={datadir}",
                f"-rpcuser={self.user}",
                f"-rpcpassword={self.password}",
                f"-rpcport={self.port}",
                "-rpcbind=127.0.0.1",
                "-rpcallowip=127.0.0.1",
                "-txindex",
                "-fallbackfee=0.0001",
                "-keypool=1",
                "-listen=0",
                "-server",
                "-printtoconsole=0",
                f"-debuglogfile={log}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_ready(self.process, lambda: self.rpc("getblockcount"), log, "litecoind")

    def rpc(self, method: str, *params: Any, wallet: str | None = None) -> Any:
        url = f"http://127.0.0.1:{self.port}" + (f"/wallet/{wallet}" if wallet is not None else "")
        body = {"jsonrpc": "1.0", "id": 1, "method": method, "params": list(params)}
        reply = post_json(url, body, self._auth)
        if reply.get("error"):
            raise NodeError(f"{method}: {reply['error']}")
        return reply["result"]

    def fund(self) -> None:
        self.rpc("createwallet", "funder")
        self.rpc("createwallet", "merchant")
        self.mine(110)  # ten mature coinbases of 50 LTC

    def address(self, wallet: str = "merchant") -> str:
        return str(self.rpc("getnewaddress", "", "bech32", wallet=wallet))

    def send(self, address: str, coins: Decimal, wallet: str = "funder") -> str:
        return str(self.rpc("sendtoaddress", address, coins, wallet=wallet))

    def mine(self, n: int = 1) -> list[str]:
        height = self.rpc("getblockcount")
        assert height + n < MWEB_HEIGHT, "regtest chain would reach MWEB activation"
        return list(self.rpc("generatetoaddress", n, self.address("funder")))

    def invalidate(self, block_hash: str) -> None:
        """Cut `block_hash` and its descendants from the chain; their transactions go back to the mempool."""
        self.rpc("invalidateblock", block_hash)

    def double_spend(self, txid: str) -> str:
        """Reorg `txid` out for good: cut its block and mine a block with a conflicting transaction
        that spends the same inputs back to the funder. Returns the new block's hash."""
        tx = self.rpc("getrawtransaction", txid, True)
        if "blockhash" in tx:
            self.invalidate(tx["blockhash"])
        inputs = [{"txid": i["txid"], "vout": i["vout"]} for i in tx["vin"]]
        total = sum(self.rpc("getrawtransaction", i["txid"], True)["vout"][i["vout"]]["value"] for i in inputs)
        raw = self.rpc("createrawtransaction", inputs, [{self.address("funder"): total - Decimal("0.001")}])
        signed = self.rpc("signrawtransactionwithwallet", raw, wallet="funder")["hex"]
        return str(self.rpc("generateblock", self.address("funder"), [signed])["hash"])

    def stop(self) -> None:
        try:
            self.rpc("stop")
            self.process.wait(timeout=30)
        except (OSError, NodeError, subprocess.TimeoutExpired):
            pass
        stop_process(self.process)


class Anvil:
    """anvil with its ten pre-funded, unlocked dev accounts; every transaction is mined at once."""

    def __init__(self, binary: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--chain-id", "31337", "--host", "127.0.0.1"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until_ready(self.process, lambda: self.rpc("eth_blockNumber"), log, "anvil")
        self.accounts: list[str] = self.rpc("eth_accounts")

    def rpc(self, method: str, *params: Any) -> Any:
        reply = post_json(self.url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        if "error" in reply:
            raise NodeError(f"{method}: {reply['error']}")
        return reply["result"]

    def send(self, to: str, wei: int, sender: str | None = None) -> str:
        """A plain value transfer from a dev account, mined in its own block; returns the tx hash
        once the receipt exists (anvil answers eth_sendTransaction before it has mined the block)."""
        return self.transact({"from": sender or self.accounts[0], "to": to, "value": hex(wei)})

    def transact(self, request: dict[str, str]) -> str:
        """Any transaction request from an unlocked account, mined; its hash once the receipt exists."""
        tx = str(self.rpc("eth_sendTransaction", request))
        self.receipt(tx)
        return tx

    def receipt(self, tx: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while (receipt := self.rpc("eth_getTransactionReceipt", tx)) is None:
            assert time.monotonic() < deadline, f"{tx} was not mined"
            time.sleep(0.02)
        return dict(receipt)

    def tx_request(self, to: str, wei: int) -> dict[str, str]:
        return {"from": self.accounts[0], "to": to, "value": hex(wei)}

    def signed(self, transfers: list[tuple[str, int]]) -> list[str]:
        """Raw signed (to, wei) transfers from the first dev account, with consecutive nonces. Unlike a tx
        request, a raw transaction keeps its hash when a reorg mines it again, as on a real chain."""
        return self.sign([{**self.tx_request(to, wei), "gas": "0x5208"} for to, wei in transfers])

    def sign(self, requests: list[dict[str, str]]) -> list[str]:
        """Raw signed transactions of these requests (all from the first dev account), consecutive nonces."""
        nonce = int(self.rpc("eth_getTransactionCount", self.accounts[0], "pending"), 16)
        return [
            str(self.rpc("eth_signTransaction", {**request, "from": self.accounts[0], "nonce": hex(nonce + i)}))
            for i, request in enumerate(requests)
        ]

    def mine_together(self, txs: Sequence[str | dict[str, str]]) -> int:
        """Mine these transactions (raw, or requests from unlocked accounts) in one new block; its height."""
        self.rpc("evm_setAutomine", False)
        try:
            for tx in txs:
                self.rpc("eth_sendRawTransaction" if isinstance(tx, str) else "eth_sendTransaction", tx)
            self.rpc("evm_mine")
        finally:
            self.rpc("evm_setAutomine", True)
        return self.block_number()

    def mine(self, n: int = 1) -> None:
        self.rpc("anvil_mine", hex(n))

    def reorg(self, depth: int, txs: list[tuple[dict[str, str] | str, int]] | None = None) -> None:
        """Replace the last `depth` blocks; `txs` are (tx request or raw tx, block offset) pairs for the new ones."""
        self.rpc("anvil_reorg", depth, [[tx, offset] for tx, offset in txs or []])

    def balance(self, address: str) -> int:
        return int(self.rpc("eth_getBalance", address, "latest"), 16)

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def block_hash(self, height: int) -> str:
        return str(self.rpc("eth_getBlockByNumber", hex(height), False)["hash"])

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot: str) -> None:
        """Roll the chain back to `snapshot`, and its clock forward to now: evm_revert also sets anvil's clock
        back to the snapshot's block, so without this every test would leave the next one a chain whose blocks
        lag the wall clock by its run time, and after a minute of tests an invoice's payments would sit in
        blocks "older" than the invoice, which a real chain never does (the ERC-20 backend's search back)."""
        assert self.rpc("evm_revert", snapshot) is True
        self.rpc("evm_setTime", int(time.time()))

    def stop(self) -> None:
        stop_process(self.process)


def find_anvil() -> str | None:
    for path in ANVIL_PATHS:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return shutil.which("anvil")


@pytest.fixture(scope="session", name="litecoind")
def litecoind_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Litecoind]:
    binary = shutil.which("litecoind")
    if binary is None:
        missing("litecoind is not installed (Debian package `litecoind`)")
    node = Litecoind(binary, tmp_path_factory.mktemp("litecoind"))
    try:
        node.fund()
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session", name="anvil_session")
def anvil_session_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anvil]:
    binary = find_anvil()
    if binary is None:
        missing("anvil is not installed (npm @foundry-rs/anvil into node_modules)")
    node = Anvil(binary, tmp_path_factory.mktemp("anvil") / "anvil.log")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(name="anvil")
def anvil_fixture(anvil_session: Anvil) -> Iterator[Anvil]:
    """The session's anvil, rolled back (evm_snapshot / evm_revert) after each test."""
    snapshot = anvil_session.snapshot()
    yield anvil_session
    anvil_session.revert(snapshot)
