"""A Solana JSON-RPC double with a ledger the test mutates.

    sol = SolanaDouble()
    url = await sol.start()
    payer, shop = sol.new_account(5 * LAMPORTS_PER_SOL), sol.new_account()
    sig = sol.transfer(payer, shop, 1_000_000)    # at "confirmed"
    sol.finalize()                                # everything so far becomes "finalized"
    sol.drop(sig)                                 # a not-yet-finalized fork is abandoned

    usdc = sol.new_mint(decimals=6)               # an SPL mint of the Token program
    sol.mint_to(payer, usdc, 50_000_000)          # into the payer's associated token account
    sig = sol.token_transfer(payer, shop, usdc, 25_000_000)   # to shop's ATA, created in the same transaction

Wire format as in shared/WIRE-FORMATS.md: JSON-RPC 2.0 with batches (answered in reverse order, so
clients must match ids), lamports, `getSignaturesForAddress` newest first with `confirmationStatus`
and refusing `processed`, `getTransaction` with `meta.preBalances/postBalances` and
`transaction.message.accountKeys` (strings for "json", objects for "jsonParsed"), v0 transactions
whose keys come from a lookup table (`meta.loadedAddresses`) and the rent-exempt minimum. Token
transfers as wallets send them (a transferChecked from the payer's ATA to the recipient's, after a
createIdempotent of the recipient's ATA when it does not exist yet), with `meta.preTokenBalances` /
`postTokenBalances` entries `{accountIndex, mint, owner, programId, uiTokenAmount: {amount (a string),
decimals, uiAmount (a float, or null at zero), uiAmountString}}`, an account created in the transaction
having no pre entry; `getMultipleAccounts` answers mints and token accounts in base64 with the Token
program's layouts (mint: 82 bytes, decimals at byte 44; token account: 165 bytes, amount at byte 64).
"""

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web
from bip_utils import Base58Decoder, Base58Encoder

from services.wallet.spl import ATA_PROGRAM, SPL_PROGRAM, associated_token_account
from tests.doubles import FaultyServer

LAMPORTS_PER_SOL = 1_000_000_000
RENT_EXEMPT_MINIMUM = 890_880
FEE = 5_000
TOKEN_ACCOUNT_RENT = 2_039_280  # the rent-exempt minimum of a 165-byte token account
SYSTEM_PROGRAM = "11111111111111111111111111111111"
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_COMMITMENTS = ("processed", "confirmed", "finalized")


def _base58(length: int) -> str:
    return "".join(secrets.choice(_BASE58) for _ in range(length))


def new_pubkey() -> str:
    """A random 32-byte public key in base58, as ATA derivation needs (not just any base58 text)."""
    return str(Base58Encoder.Encode(os.urandom(32)))


@dataclass(frozen=True)
class TokenBalance:
    """One entry of meta.pre/postTokenBalances."""

    index: int  # into the transaction's account keys
    mint: str
    owner: str
    amount: int
    decimals: int


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
    pre_tokens: list[TokenBalance] = field(default_factory=list)
    post_tokens: list[TokenBalance] = field(default_factory=list)
    instructions: list[dict[str, Any]] = field(default_factory=list)  # empty: one system transfer

    @property
    def version(self) -> str | int:
        return 0 if self.loaded else "legacy"

    def delta(self, account: str) -> int:
        keys = self.keys + self.loaded
        return sum(self.post[i] - self.pre[i] for i, k in enumerate(keys) if k == account)

    def token_delta(self, account: str) -> int:
        keys = self.keys + self.loaded
        before = sum(t.amount for t in self.pre_tokens if keys[t.index] == account)
        return sum(t.amount for t in self.post_tokens if keys[t.index] == account) - before


class SolanaDouble(FaultyServer):
    def __init__(self) -> None:
        super().__init__()
        self.slot = 300_000_000
        self.finalized_slot = self.slot
        self.txs: list[_Tx] = []  # oldest first
        self.calls: list[str] = []  # every JSON-RPC method called, batches flattened
        self.rpc_error: tuple[int, str] | None = None  # e.g. (-32005, "Node is behind by 42 slots")
        self._confirmed: dict[str, int] = {}  # balances at "confirmed", kept current
        self.mints: dict[str, int] = {}  # mint -> decimals
        self.token_accounts: dict[str, tuple[str, str]] = {}  # token account -> (mint, owner), once created
        self._tokens: dict[str, int] = {}  # token account -> base units at "confirmed"

    # --- what the test does to the ledger ---

    def new_account(self, lamports: int = 0) -> str:
        account = new_pubkey()
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

    def new_mint(self, decimals: int = 6) -> str:
        mint = new_pubkey()
        self.mints[mint] = decimals
        return mint

    def token_balance(self, owner: str, mint: str, commitment: str = "confirmed") -> int:
        account = associated_token_account(owner, mint)
        pending = [t for t in self.txs if not t.finalized] if commitment == "finalized" else []
        return self._tokens.get(account, 0) - sum(t.token_delta(account) for t in pending)

    def mint_to(self, owner: str, mint: str, amount: int) -> str:
        """The mint authority issues `amount` into the owner's ATA (created in the same transaction)."""
        return self._token_tx(self.new_account(LAMPORTS_PER_SOL), [(owner, mint, amount)], minted=True)

    def token_transfer(self, source: str, to: str, mint: str, amount: int) -> str:
        """`source` sends `amount` of `mint` from its ATA to `to`'s ATA, creating that first if needed, as wallets
        do (createIdempotent, then transferChecked); `source` pays the fee and the new account's rent."""
        return self.token_transfers(source, [(to, mint, amount)])

    def token_transfers(self, source: str, legs: list[tuple[str, str, int]]) -> str:
        """Several (to, mint, amount) transfers from `source`'s ATAs in one transaction."""
        return self._token_tx(source, legs, minted=False)

    def _token_tx(self, payer: str, legs: list[tuple[str, str, int]], *, minted: bool) -> str:
        self.slot += 1
        moves = [
            (None if minted else associated_token_account(payer, m), associated_token_account(o, m), o, m, n)
            for o, m, n in legs
        ]
        holders = {dst: (m, o) for _, dst, o, m, _ in moves} | {src: (m, payer) for src, _, _, m, _ in moves if src}
        created = [dst for _, dst, *_ in moves if dst not in self.token_accounts]
        programs = [SYSTEM_PROGRAM, SPL_PROGRAM, ATA_PROGRAM]
        keys = list(
            dict.fromkeys(
                [
                    payer,
                    *[m[0] for m in moves if m[0]],
                    *[m[1] for m in moves],
                    *[m[2] for m in moves],
                    *[m[3] for m in moves],
                    *programs,
                ]
            )
        )
        index = {k: i for i, k in enumerate(keys)}
        pre = [1 if k in programs else self.balance(k) for k in keys]
        post = list(pre)
        post[0] -= FEE + TOKEN_ACCOUNT_RENT * len(set(created))
        for account in set(created):
            post[index[account]] += TOKEN_ACCOUNT_RENT
        held = {a: self._tokens.get(a, 0) for a in holders}
        after = dict(held)
        for src, dst, _, _, amount in moves:
            if src is not None:
                if after[src] < amount:
                    raise ValueError("insufficient token balance")  # the wallet would not even send it
                after[src] -= amount
            after[dst] += amount

        def entries(balances: dict[str, int], accounts: list[str]) -> list[TokenBalance]:
            return [
                TokenBalance(index[a], holders[a][0], holders[a][1], balances[a], self.mints[holders[a][0]])
                for a in sorted(accounts, key=index.__getitem__)
            ]

        tx = _Tx(
            _base58(88),
            self.slot,
            keys,
            [],
            pre,
            post,
            None,
            pre_tokens=entries(held, [a for a in holders if a not in created]),
            post_tokens=entries(after, list(holders)),
        )
        # Per leg: createIdempotent of the recipient's ATA (associated-token program, instruction 1), then the
        # token program's transferChecked (12: amount, decimals) from the payer's ATA, or mintToChecked (14)
        for src, dst, owner, mint, amount in moves:
            ata = [0, index[dst], index[owner], index[mint], index[SYSTEM_PROGRAM], index[SPL_PROGRAM]]
            move = [index[src], index[mint], index[dst], 0] if src else [index[mint], index[dst], 0]
            payload = bytes([14 if src is None else 12]) + amount.to_bytes(8, "little") + bytes([self.mints[mint]])
            tx.instructions += [
                {"programIdIndex": index[ATA_PROGRAM], "accounts": ata, "data": str(Base58Encoder.Encode(b"\x01"))},
                {"programIdIndex": index[SPL_PROGRAM], "accounts": move, "data": str(Base58Encoder.Encode(payload))},
            ]
        self.token_accounts.update(holders)
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
            if account in self.token_accounts:
                self._tokens[account] = self._tokens.get(account, 0) + sign * tx.token_delta(account)

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
        return {
            "context": self._context(),
            "value": [None if lying else self._account(k, commitment) for k in params[0]],
        }

    def _account(self, key: str, commitment: str) -> dict[str, Any] | None:
        """An account as getMultipleAccounts shows it in base64: a mint, a token account, or a system account."""
        if key in self.mints:  # authority (none), supply, decimals, initialized, freeze authority (none)
            data, owner, lamports = (
                bytes(36) + (10**15).to_bytes(8, "little") + bytes([self.mints[key], 1]) + bytes(36),
                SPL_PROGRAM,
                1_461_600,
            )
        elif key in self.token_accounts:
            mint, holder = self.token_accounts[key]
            amount = self.token_balance(holder, mint, commitment)
            data = _key_bytes(mint) + _key_bytes(holder) + amount.to_bytes(8, "little") + bytes(4 + 32) + bytes([1])
            data += bytes(165 - len(data))
            owner, lamports = SPL_PROGRAM, TOKEN_ACCOUNT_RENT
        elif (lamports := self.balance(key, commitment)) > 0:
            data, owner = b"", SYSTEM_PROGRAM
        else:
            return None
        return {
            "lamports": lamports,
            "owner": owner,
            "data": [base64.b64encode(data).decode(), "base64"],
            "executable": False,
            "rentEpoch": 18446744073709551615,
            "space": len(data),
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


def _key_bytes(key: str) -> bytes:
    return bytes(Base58Decoder.Decode(key))


def _token_entry(balance: TokenBalance) -> dict[str, Any]:
    decimals = balance.decimals
    return {
        "accountIndex": balance.index,
        "mint": balance.mint,
        "owner": balance.owner,
        "programId": SPL_PROGRAM,
        "uiTokenAmount": {
            "amount": str(balance.amount),
            "decimals": decimals,
            "uiAmount": float(Decimal(balance.amount).scaleb(-decimals)) if balance.amount else None,
            "uiAmountString": str(Decimal(balance.amount).scaleb(-decimals).normalize()),
        },
    }


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
        "preTokenBalances": [_token_entry(b) for b in tx.pre_tokens],
        "postTokenBalances": [_token_entry(b) for b in tx.post_tokens],
        "rewards": [],
        "computeUnitsConsumed": 150,
    }
    message: dict[str, Any] = {
        "header": {"numRequiredSignatures": 1, "numReadonlySignedAccounts": 0, "numReadonlyUnsignedAccounts": 1},
        "instructions": tx.instructions
        or [
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
