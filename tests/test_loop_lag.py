"""The loop-lag probe (LOOP_LAG_PROBE_MS): it tells a loop that computed from a process that only waited."""

import asyncio
import re
import time
from pathlib import Path

import aiohttp
from prometheus_client import generate_latest

from processing.loop_lag import LoopLagProbe
from processing.metrics import ShopMetrics
from tests.doubles.telegram import FakeUser, TelegramDouble
from tests.process import bot_process, free_port


def compute(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def test_the_probe_records_a_stall_and_how_much_of_it_the_loop_computed() -> None:
    probe = LoopLagProbe(0.001)
    measuring = asyncio.create_task(probe.run())
    await asyncio.sleep(0.01)
    time.sleep(0.05)  # the loop is stuck but computes nothing, like a process waiting for a core
    await asyncio.sleep(0.01)
    assert probe.longest >= 0.045
    assert probe.busy < 0.03
    compute(0.05)  # a callback that computes without awaiting
    await asyncio.sleep(0.01)
    measuring.cancel()
    assert probe.busy >= 0.045


def test_metrics_show_the_probe_only_when_it_runs() -> None:
    metrics = ShopMetrics()
    assert b"shop_event_loop_stall_max_seconds" not in generate_latest(metrics.registry)
    probe = LoopLagProbe(0.001)
    probe.longest, probe.busy = 0.25, 0.0125
    metrics.watch_loop(probe)
    shown = generate_latest(metrics.registry).decode()
    assert "shop_event_loop_stall_max_seconds 0.25\n" in shown
    assert "shop_event_loop_busy_stall_max_seconds 0.0125\n" in shown


async def test_a_bot_with_the_probe_serves_and_shows_its_stalls(tmp_path: Path) -> None:
    port = free_port()
    async with TelegramDouble() as tg:
        env = {
            **tg.env(),
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/shop.db",
            "PROCESSING_PORT": str(port),
            "LOOP_LAG_PROBE_MS": "1",
        }
        async with bot_process(env, tmp_path / "bot.log") as proc:
            anna = FakeUser(id=778, first_name="Anna", language_code="en")
            await tg.user_sends_text(anna, "/start")
            welcome = await tg.next_sent(anna.id, timeout=30)
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
                shown = await response.text()
        assert proc.returncode == 0, (tmp_path / "bot.log").read_text()
    assert welcome["text"].startswith("Welcome")
    stalls = dict(re.findall(r"^shop_event_loop_(stall|busy_stall)_max_seconds (\S+)$", shown, re.MULTILINE))
    assert float(stalls["stall"]) > 0 and float(stalls["busy_stall"]) >= 0
    assert "Traceback" not in (tmp_path / "bot.log").read_text()
