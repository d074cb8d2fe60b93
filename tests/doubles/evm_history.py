"""A JSON-RPC proxy in front of anvil that answers like a node without full history.

A full (non-archive) node keeps the state of recent blocks only (geth: the last 128), so a balance
asked at an older block is refused. `forget(address, below)` makes the proxy refuse
eth_getBalance and eth_getTransactionCount for that address at heights below `below`, with geth's
answer; every other call goes to anvil unchanged.
"""

from typing import Any

from aiohttp import ClientSession, web

from tests.doubles import FaultyServer

GETH_MISSING_STATE = {
    "code": -32000,
    "message": "missing trie node 5f1e0c2b9a (path ) state 0x5f1e0c2b9a is not available, not found",
}
_STATE_CALLS = frozenset({"eth_getBalance", "eth_getTransactionCount"})


class NodeWithoutHistory(FaultyServer):
    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream
        self.error: dict[str, Any] = GETH_MISSING_STATE  # what a refused call gets
        self.refused = 0  # calls answered with `error`
        self._kept_from: dict[str, int] = {}  # lowercase address -> lowest height whose state is kept

    def forget(self, address: str, below: int) -> None:
        self._kept_from[address.lower()] = below

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/", self._rpc)

    def _forgotten(self, call: dict[str, Any]) -> bool:
        if call.get("method") not in _STATE_CALLS:
            return False
        address, block = call["params"]
        kept_from = self._kept_from.get(str(address).lower())
        return kept_from is not None and str(block).startswith("0x") and int(block, 16) < kept_from

    async def _rpc(self, request: web.Request) -> web.Response:
        body = await request.json()
        calls: list[dict[str, Any]] = body if isinstance(body, list) else [body]
        passed = [call for call in calls if not self._forgotten(call)]
        answers: dict[Any, Any] = {}
        if passed:
            async with ClientSession() as http, http.post(self.upstream, json=passed) as response:
                answers = {answer["id"]: answer for answer in await response.json()}
        replies = []
        for call in calls:
            if call["id"] not in answers:
                self.refused += 1
            replies.append(answers.get(call["id"], {"jsonrpc": "2.0", "id": call["id"], "error": self.error}))
        return web.json_response(replies if isinstance(body, list) else replies[0])
