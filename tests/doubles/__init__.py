"""HTTP doubles of outside services, served by aiohttp on 127.0.0.1 at a random port.

`FaultyServer` is what the chain-provider doubles share: start/stop, a log of HTTP requests, and
the outages a provider really has, switched on with `server.fault = Fault.…` (for requests whose
path contains `server.fault_on`, default every request), and a rate limit that says how long it lasts
(`server.rate_limit(seconds)`: 429 with Retry-After).
"""

import asyncio
import enum
import math
import time
from collections.abc import Awaitable, Callable

from aiohttp import web


class Fault(enum.Enum):
    none = "none"
    rate_limited = "429"  # HTTP 429, text body, no Retry-After
    server_error = "500"
    timeout = "timeout"  # answers after `slow_seconds`, beyond any sane client timeout
    truncated = "truncated"  # the first half of each JSON body (text bodies pass)
    empty = "empty"  # the outage that lies: empty histories and zero balances, HTTP 200


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FaultyServer:
    def __init__(self) -> None:
        self.fault = Fault.none
        self.fault_on = ""
        self.slow_seconds = 5.0
        self.requests: list[str] = []  # one entry per HTTP request: "GET /path"
        self.limited_until = 0.0  # monotonic; see rate_limit()
        self.asked_until = 0.0  # monotonic: the latest moment a 429's Retry-After asked clients to wait for
        self.url = ""  # set by start()
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def rate_limit(self, seconds: float) -> None:
        """From now on for `seconds`, answer every request 429 with Retry-After: the whole seconds left,
        as a provider's rate-limit window does."""
        self.limited_until = time.monotonic() + seconds

    def lying(self, request: web.Request) -> bool:
        """Whether this request falls under the empty-answers outage."""
        return self.fault is Fault.empty and self.fault_on in request.path

    async def start(self) -> str:
        app = web.Application(middlewares=[self._faults])
        self.routes(app)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        now = time.monotonic()
        if now < self.limited_until:
            wait = math.ceil(self.limited_until - now)
            self.asked_until = max(self.asked_until, now + wait)
            return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": str(wait)})
        fault = self.fault if self.fault_on in request.path else Fault.none
        if fault is Fault.rate_limited:
            return web.Response(status=429, text="Too Many Requests")
        if fault is Fault.server_error:
            return web.Response(status=500, text="Internal Server Error")
        if fault is Fault.timeout:
            await asyncio.sleep(self.slow_seconds)
        response = await handler(request)
        if fault is Fault.truncated and isinstance(response, web.Response) and response.content_type.endswith("json"):
            body = response.text or ""
            return web.Response(text=body[: len(body) // 2], content_type=response.content_type)
        return response
