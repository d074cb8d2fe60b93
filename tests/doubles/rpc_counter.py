"""A JSON-RPC proxy that passes every request to a real node unchanged and counts what went through: HTTP
requests, and JSON-RPC calls by method (a batch counts each of its calls). For the benchmark's requests per
cycle against a real anvil."""

from collections import Counter
from typing import Any

from aiohttp import ClientSession, web

from tests.doubles import FaultyServer


class CountingProxy(FaultyServer):
    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream
        self.calls: Counter[str] = Counter()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/", self._rpc)

    async def _rpc(self, request: web.Request) -> web.Response:
        body = await request.read()
        parsed: Any = await request.json()
        for call in parsed if isinstance(parsed, list) else [parsed]:
            self.calls[str(call.get("method"))] += 1
        async with (
            ClientSession() as http,
            http.post(self.upstream, data=body, headers={"Content-Type": "application/json"}) as response,
        ):
            return web.Response(body=await response.read(), status=response.status, content_type="application/json")
