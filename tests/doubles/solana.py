"""A Solana JSON-RPC double with a ledger the test mutates.

    sol = SolanaDouble()
    url = await sol.start()
    payer, shop = sol.new_account(5 * LAMPORTS_PER_SOL), sol.new_account()
    sig = sol.transfer(payer, shop, 1_000_000)    # at "confirmed"
    sol.finalize()                                # everything so far becomes "finalized"
    sol.drop(sig)                                 # a not-yet-finalized fork is abandoned

Wire format as in shared/WIRE-FORMATS.md: JSON-RPC 2.0 with batches (answered in reverse order, so
clients must match ids), lamports, `getSignaturesForAddress` newest first with `confirmationStatus`
and refusing `processed`, `getTransaction` with `meta.preBalances/postBalances` and
`transaction.message.accountKeys` (strings for "json", objects for "jsonParsed"), v0 transactions
whose keys come from a lookup table (`meta.loadedAddresses`) and the rent-exempt minimum.
"""

import json
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.doubles import FaultyServer

LAMPORTS_PER_SOL = 1_000_000_000
RENT_EXEMPT_MINIMUM = 890_880
FEE = 5_000
SYSTEM_PROGRAM = "11111111111111111111111111111111"
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_COMMITMENTS = ("processed", "confirmed", "finalized")


def _base58(length: int) -> str:
    return "".join(secrets.choice(_BASE58) for _ in range(length))


class RpcFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Tx:
    signature: str
    slot: int
    keys: list[str]  # static account keys
    loaded: list[str]  # writable keys from an address lookup table (v0 only)
    pre: list[int]
    post: list[int]
    err: Any
    finalized: bool = False

    @property
    def version(self) -> str | int:
        return 0 if self.loaded else "legacy"

    def delta(self, account: str) -> int:
        keys = self.keys + self.loaded
        return sum(self.post[i] - self.pre[i] for i, k in enumerate(keys) if k == account)


class SolanaDouble(FaultyServer):
    def __init__(self) -> None:
        super().__init__()
        self.slot = 300_000_000
        self.finalized_slot = self.slot
        self.txs: list[_Tx] = []  # oldest first
        self.calls: list[str] = []  # every JSON-RPC method called, batches flattened
        self.rpc_error: tuple[int, str] | None = None  # e.g. (-32005, "Node is behind by 42 slots")
        self._confirmed: dict[str, int] = {}  # balances at "confirmed", kept current

    # --- what the test does to the ledger ---

    def new_account(self, lamports: int = 0) -> str:
        account = _base58(44)
        self._confirmed[account] = lamports
        return account

    def balance(self, account: str, commitment: str = "confirmed") -> int:
        pending = [t for t in self.txs if not t.finalized] if commitment == "finalized" else []
        return self._confirmed.get(account, 0) - sum(t.delta(account) for t in pending)

    def transfer(self, source: str, to: str, lamports: int, *, lookup_table: bool = False) -> str:
        """A system transfer at a new slot, status "confirmed". A first payment below the rent-exempt
        minimum fails on chain (only the fee is taken), as it does on Solana. With `lookup_table`
        the recipient comes from an address lookup table (a v0 transaction)."""
        self.slot += 1
        keys = [source, SYSTEM_PROGRAM] if lookup_table else [source, to, SYSTEM_PROGRAM]
        loaded = [to] if lookup_table else []
        order = [source, to, SYSTEM_PROGRAM] if not lookup_table else [source, SYSTEM_PROGRAM, to]
        pre = [self.balance(k) if k != SYSTEM_PROGRAM else 1 for k in order]
        err = None
        if self.balance(to) == 0 and lamports < RENT_EXEMPT_MINIMUM:
            err = {"InsufficientFundsForRent": {"account_index": order.index(to)}}
        moved = {source: -FEE - (0 if err else lamports), to: 0 if err else lamports}
        post = [p + moved.get(k, 0) for k, p in zip(order, pre, strict=True)]
        tx = _Tx(_base58(88), self.slot, keys, loaded, pre, post, err)
        self.txs.append(tx)
        self._apply(tx, +1)
        return tx.signature

    def finalize(self) -> None:
        for tx in self.txs:
            tx.finalized = True
        self.finalized_slot = self.slot

    def drop(self, signature: str) -> None:
        """The fork holding this not-yet-finalized transaction is abandoned."""
        (tx,) = [t for t in self.txs if t.signature == signature]
        assert not tx.finalized, "finalized transactions never roll back"
        self.txs.remove(tx)
        self._apply(tx, -1)

    def _apply(self, tx: _Tx, sign: int) -> None:
        for account in set(tx.keys + tx.loaded) - {SYSTEM_PROGRAM}:
            self._confirmed[account] = self._confirmed.get(account, 0) + sign * tx.delta(account)

    # --- what the server answers ---

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/", self._rpc)

    async def _rpc(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.json_response(_error(None, -32700, "Parse error"))
        if isinstance(body, list):
            if not body:
                return web.json_response(_error(None, -32600, "Invalid request"))
            return web.json_response([self._answer(request, r) for r in reversed(body)])
        return web.json_response(self._answer(request, body))

    def _answer(self, request: web.Request, call: Any) -> dict[str, Any]:
        call_id = call.get("id") if isinstance(call, dict) else None
        try:
            method, params = call["method"], call.get("params", [])
            self.calls.append(method)
            handler = {
                "getSlot": self._get_slot,
                "getBalance": self._get_balance,
                "getMultipleAccounts": self._get_multiple_accounts,
                "getSignaturesForAddress": self._get_signatures,
                "getTransaction": self._get_transaction,
            }.get(method)
            if handler is None:
                raise RpcFailure(-32601, "Method not found")
            if self.rpc_error is not None:
                raise RpcFailure(*self.rpc_error)
            result = handler(params, self.lying(request))
        except RpcFailure as e:
            return _error(call_id, e.code, e.message)
        except (KeyError, IndexError, TypeError, ValueError):
            return _error(call_id, -32602, "Invalid params")
        return {"jsonrpc": "2.0", "result": result, "id": call_id}

    def _context(self) -> dict[str, Any]:
        return {"slot": self.slot, "apiVersion": "2.2.7"}

    def _get_slot(self, params: list[Any], lying: bool) -> int:
        return self.finalized_slot if _commitment(params, 0) == "finalized" else self.slot

    def _get_balance(self, params: list[Any], lying: bool) -> dict[str, Any]:
        value = 0 if lying else self.balance(params[0], _commitment(params, 1))
        return {"context": self._context(), "value": value}

    def _get_multiple_accounts(self, params: list[Any], lying: bool) -> dict[str, Any]:
        if len(params[0]) > 100:
            raise RpcFailure(-32602, "Too many inputs provided; max 100")
        commitment = _commitment(params, 1)
        lamports = [0 if lying else self.balance(k, commitment) for k in params[0]]
        return {
            "context": self._context(),
            "value": [
                None
                if n == 0
                else {
                    "lamports": n,
                    "owner": SYSTEM_PROGRAM,
                    "data": ["", "base64"],
                    "executable": False,
                    "rentEpoch": 18446744073709551615,
                    "space": 0,
                }
                for n in lamports
            ],
        }

    def _get_signatures(self, params: list[Any], lying: bool) -> list[dict[str, Any]]:
        commitment = _commitment(params, 1)
        if commitment == "processed":
            raise RpcFailure(-32602, "Method does not support commitment below `confirmed`")
        config = params[1] if len(params) > 1 else {}
        limit = config.get("limit", 1000)
        if not 1 <= limit <= 1000:
            raise RpcFailure(-32602, "Invalid limit; max 1000")
        found = [t for t in reversed(self._visible(commitment)) if params[0] in t.keys + t.loaded]
        if "before" in config:
            found = found[[t.signature for t in found].index(config["before"]) + 1 :]
        if "until" in config:
            found = found[: [t.signature for t in found].index(config["until"])]
        if lying:
            return []
        return [
            {
                "signature": t.signature,
                "slot": t.slot,
                "err": t.err,
                "memo": None,
                "blockTime": _time(t.slot),
                "confirmationStatus": "finalized" if t.finalized else "confirmed",
            }
            for t in found[:limit]
        ]

    def _get_transaction(self, params: list[Any], lying: bool) -> dict[str, Any] | None:
        config = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        commitment = _commitment(params, 1)
        if commitment == "processed":
            raise RpcFailure(-32602, "Method does not support commitment below `confirmed`")
        encoding = config.get("encoding", "json")
        if encoding not in ("json", "jsonParsed"):
            raise RpcFailure(-32602, f"Invalid params: unsupported encoding {encoding} in this double")
        matches = [t for t in self._visible(commitment) if t.signature == params[0]]
        if not matches:
            return None
        tx = matches[0]
        if tx.version == 0 and config.get("maxSupportedTransactionVersion") is None:
            raise RpcFailure(
                -32015,
                "Transaction version (0) is not supported by the requesting client. Please try "
                "the request again with the following configuration parameter: "
                '"maxSupportedTransactionVersion": 0',
            )
        return _transaction_json(tx, parsed=encoding == "jsonParsed")

    def _visible(self, commitment: str) -> list[_Tx]:
        return [t for t in self.txs if t.finalized or commitment != "finalized"]


def _commitment(params: list[Any], index: int) -> str:
    config = params[index] if len(params) > index and isinstance(params[index], dict) else {}
    commitment = config.get("commitment", "finalized")
    if commitment not in _COMMITMENTS:
        raise RpcFailure(-32602, "Invalid params: unknown variant")
    return str(commitment)


def _time(slot: int) -> int:
    return 1_700_000_000 + (slot - 300_000_000) * 2 // 5


def _error(call_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": call_id}


def _transaction_json(tx: _Tx, *, parsed: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "err": tx.err,
        "status": {"Ok": None} if tx.err is None else {"Err": tx.err},
        "fee": FEE,
        "preBalances": tx.pre,
        "postBalances": tx.post,
        "innerInstructions": [],
        "logMessages": ["Program 11111111111111111111111111111111 invoke [1]"],
        "preTokenBalances": [],
        "postTokenBalances": [],
        "rewards": [],
        "computeUnitsConsumed": 150,
    }
    message: dict[str, Any] = {
        "header": {"numRequiredSignatures": 1, "numReadonlySignedAccounts": 0, "numReadonlyUnsignedAccounts": 1},
        "instructions": [
            {
                "programIdIndex": tx.keys.index(SYSTEM_PROGRAM),
                "accounts": [0, len(tx.keys)] if tx.loaded else [0, 1],
                "data": "3Bxs4h24hBtQy9rw",
                "stackHeight": None,
            }
        ],
        "recentBlockhash": _base58(44),
    }
    if tx.loaded:
        message["addressTableLookups"] = [{"accountKey": _base58(44), "writableIndexes": [0], "readonlyIndexes": []}]
    if parsed:  # jsonParsed lists the looked-up keys among the account keys and drops loadedAddresses
        message["accountKeys"] = [
            {
                "pubkey": k,
                "signer": i == 0,
                "writable": k != SYSTEM_PROGRAM,
                "source": "lookupTable" if i >= len(tx.keys) else "transaction",
            }
            for i, k in enumerate(tx.keys + tx.loaded)
        ]
    else:
        message["accountKeys"] = tx.keys
        meta["loadedAddresses"] = {"writable": tx.loaded, "readonly": []}
    return {
        "slot": tx.slot,
        "blockTime": _time(tx.slot),
        "version": tx.version,
        "meta": meta,
        "transaction": {"signatures": [tx.signature], "message": message},
    }
