"""The HTTP and JSON-RPC client every chain backend shares.

Every way a request can go wrong becomes ProviderError: a refused connection, a timeout, a non-2xx
status (429 and 5xx included), a body that is not the JSON or text we expect, or a JSON-RPC `error`.
A 429 carries the provider's Retry-After on the error, so the observer waits exactly as long as asked.
Messages name only the host and the method or path. Node URLs carry user:pass, and provider URLs
carry API keys in their path, so the URL itself never appears in a message.
"""

import itertools
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, encode_basic_auth
from yarl import URL

from processing.chains.base import ProviderError

BATCH_LIMIT = 100  # calls per JSON-RPC batch; public providers cap batches at 100 or more

Call = tuple[str, list[Any]]  # (method, params)


class RpcError(ProviderError):
    """The server answered with a JSON-RPC `error` object; `code` lets a backend react to one."""

    def __init__(self, where: str, code: int, message: str) -> None:
        super().__init__(f"{where}: RPC error {code}: {message[:200]}")
        self.code = code
        self.message = message


@contextmanager
def expect_shape(where: str) -> Iterator[None]:
    """Turn a missing key, a wrong type or a bad number in an answer into ProviderError."""
    try:
        yield
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        raise ProviderError(f"{where}: unexpected answer ({type(e).__name__})") from None


def json_int(value: object) -> int:
    """A JSON integer, refusing booleans, floats, Decimals and strings."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("not an integer")
    return value


def retry_after_seconds(header: str | None, now: float) -> float | None:
    """A Retry-After header as seconds from `now` (unix time): delta-seconds or an HTTP date (RFC 9110
    10.2.3); None when absent or unreadable. A date in the past means "now": 0."""
    if header is None:
        return None
    value = header.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": a date without a zone is not an HTTP date
        return None
    return max(0.0, when.timestamp() - now)


def hex_int(value: object) -> int:
    """An Ethereum quantity: a "0x…" hex string."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise TypeError("not a hex quantity")
    return int(value, 16)


class HttpClient:
    """One aiohttp session towards one provider; every request carries `timeout` seconds."""

    def __init__(self, url: str, timeout: float, *, jsonrpc: str = "2.0") -> None:
        parsed = URL(url)
        self._headers = {"Authorization": encode_basic_auth(parsed.user, parsed.password or "")} if parsed.user else {}
        self._base = str(parsed.with_user(None)).rstrip("/")
        self._host = parsed.host or "provider"
        self._timeout = ClientTimeout(total=timeout)
        self._jsonrpc = jsonrpc
        self._ids = itertools.count(1)
        self._session: ClientSession | None = None

    async def get_text(self, path: str) -> str:
        status, text = await self._send("GET", path, None, path)
        if not 200 <= status < 300:
            raise ProviderError(f"{self._host} {path}: HTTP {status}")
        return text

    async def get_json(self, path: str) -> Any:
        return self._decode(path, await self.get_text(path))

    async def call(self, method: str, params: list[Any], *, path: str = "") -> Any:
        request = self._request(method, params)
        return self._result(method, await self._post(path, request, method), request["id"])

    async def batch(self, calls: Sequence[Call], *, path: str = "") -> list[Any]:
        """Results in the order of `calls`, sent in batches of BATCH_LIMIT; any error fails all."""
        results = await self.batch_each(calls, path=path)
        for result in results:
            if isinstance(result, RpcError):
                raise result
        return results

    async def batch_each(self, calls: Sequence[Call], *, path: str = "") -> list[Any]:
        """As `batch`, but a call the server answered with a JSON-RPC error has its RpcError in its place,
        for a backend that can do without that one answer. Any other fault still fails all."""
        results: list[Any] = []
        for start in range(0, len(calls), BATCH_LIMIT):
            chunk = calls[start : start + BATCH_LIMIT]
            requests = [self._request(method, params) for method, params in chunk]
            where = f"batch({chunk[0][0]}, ...)"
            reply = await self._post(path, requests, where)
            if isinstance(reply, dict):  # the server refused the batch as a whole
                self._result(where, reply, None)
            if not isinstance(reply, list):
                raise ProviderError(f"{self._host} {where}: unexpected answer")
            by_id = {item.get("id"): item for item in reply if isinstance(item, dict)}
            for (method, _), req in zip(chunk, requests, strict=True):
                try:
                    results.append(self._result(method, by_id.get(req["id"]), req["id"]))
                except RpcError as e:
                    results.append(e)
        return results

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _request(self, method: str, params: list[Any]) -> dict[str, Any]:
        return {"jsonrpc": self._jsonrpc, "id": next(self._ids), "method": method, "params": params}

    async def _post(self, path: str, body: object, where: str) -> Any:
        status, text = await self._send("POST", path, body, where)
        if 200 <= status < 300:
            return self._decode(where, text)
        try:  # Core answers most RPC errors with HTTP 500 and a JSON-RPC body
            error = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            error = None
        if not isinstance(error, dict):
            raise ProviderError(f"{self._host} {where}: HTTP {status}")
        raise self._rpc_error(where, error)

    async def _send(self, verb: str, path: str, body: object, where: str) -> tuple[int, str]:
        if self._session is None:
            self._session = ClientSession(headers=self._headers)
        try:
            async with self._session.request(verb, self._base + path, json=body, timeout=self._timeout) as response:
                if response.status == 429:
                    wait = retry_after_seconds(response.headers.get("Retry-After"), time.time())
                    raise ProviderError(f"{self._host} {where}: HTTP 429", retry_after=wait)
                return response.status, (await response.read()).decode()
        except (ClientError, TimeoutError, UnicodeDecodeError) as e:
            raise ProviderError(f"{self._host} {where}: {type(e).__name__}") from None

    def _decode(self, where: str, text: str) -> Any:
        try:
            return json.loads(text, parse_float=Decimal)  # coin amounts must never pass through float
        except ValueError:
            raise ProviderError(f"{self._host} {where}: malformed JSON") from None

    def _result(self, where: str, reply: Any, request_id: int | None) -> Any:
        if not isinstance(reply, dict) or (request_id is not None and reply.get("id") != request_id):
            raise ProviderError(f"{self._host} {where}: no answer for this call")
        error = reply.get("error")
        if error is not None:
            raise self._rpc_error(where, error)
        if "result" not in reply:
            raise ProviderError(f"{self._host} {where}: answer without result")
        return reply["result"]

    def _rpc_error(self, where: str, error: Any) -> ProviderError:
        with expect_shape(f"{self._host} {where}"):
            return RpcError(f"{self._host} {where}", json_int(error["code"]), str(error["message"]))
