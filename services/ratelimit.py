"""Token buckets: how often a person may send updates, and how often "check now" may ask the provider.

A bucket holds at most `burst` tokens and gets one back every `every` seconds; each action takes one, and
an empty bucket refuses. `burst=1, every=N` means "at most once per N seconds". Kept as the time at which
the bucket will be full again (GCRA), so a refusal writes nothing and no rounding piles up. Two stores
behave the same: this process's memory (one instance), or Redis when REDIS_URL is set, so that every
instance behind the proxy draws from the same buckets.
"""

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the client is imported only where REDIS_URL is set (bot.factory.create_stores)
    from redis.asyncio import Redis

SWEEP_EVERY = 1024  # takes between two sweeps of full buckets out of memory

# Redis' own clock, so that instances whose clocks differ still agree. The key expires when the bucket is
# full again, which is the same as no key.
_TAKE = """
local every, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local full_at = math.max(tonumber(redis.call('GET', KEYS[1])) or now, now)
if full_at - now > (burst - 1) * every then
  return 0
end
full_at = full_at + every
redis.call('SET', KEYS[1], string.format('%.6f', full_at), 'PX', math.ceil((full_at - now) * 1000))
return 1
"""


class RateLimits(Protocol):
    async def take(self, key: str, burst: int, every: float) -> bool:
        """Take one token from bucket `key` (at most `burst` tokens, one back every `every` seconds); False,
        changing nothing, when it is empty. Race-free: two callers never get the same last token."""
        ...


class MemoryRateLimits:
    """Buckets in this process's memory: the default, right for one instance."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._full_at: dict[str, float] = {}
        self._takes = 0

    async def take(self, key: str, burst: int, every: float) -> bool:
        now = self._clock()
        full_at = max(self._full_at.get(key, now), now)
        if full_at - now > (burst - 1) * every:
            return False
        self._full_at[key] = full_at + every
        self._takes += 1
        if self._takes % SWEEP_EVERY == 0:  # one entry per person ever seen would grow without end
            self._full_at = {k: t for k, t in self._full_at.items() if t > now}
        return True


class RedisRateLimits:
    """Buckets in Redis (one key each, updated by one script), shared by every instance."""

    def __init__(self, redis: "Redis", prefix: str = "shop:limits:") -> None:
        self._prefix = prefix
        self._take = redis.register_script(_TAKE)

    async def take(self, key: str, burst: int, every: float) -> bool:
        return bool(await self._take(keys=[self._prefix + key], args=[repr(every), burst]))
