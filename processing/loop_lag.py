"""The longest event-loop stall, measured from inside the running bot (LOOP_LAG_PROBE_MS).

One task asks to wake every `interval` and notes how late it woke: the loop was busy with something
else for that long (a callback that ran without awaiting, a collection of the garbage collector) or the
process waited for a core. The loop thread's CPU time over the same wait tells the two apart: `busy` is
the longest stall counting only the time the bot itself computed, which is what a busy machine cannot
inflate. A short interval catches short stalls and costs CPU (a thousand wake-ups a second at 1 ms),
so the probe is off unless set; `python -m bench memory` turns it on.
"""

import asyncio
import time


class LoopLagProbe:
    def __init__(self, interval_seconds: float) -> None:
        self.interval = interval_seconds
        self.longest = 0.0  # seconds late, since run() started
        self.busy = 0.0  # the same, counting only the loop thread's CPU time

    async def run(self) -> None:
        """Measure until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            due, cpu = loop.time() + self.interval, time.thread_time()
            await asyncio.sleep(self.interval)
            late = loop.time() - due
            self.longest = max(self.longest, late)
            self.busy = max(self.busy, min(late, time.thread_time() - cpu))
