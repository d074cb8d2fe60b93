"""Running the real bot as `python -m bot`, exactly as the README does, for end-to-end tests."""

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from config import ROOT

STARTUP_SECONDS = 60  # importing aiogram alone takes several seconds on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def bot_process(env: dict[str, str], log_path: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """Start the bot, wait until /healthz answers (on env's PROCESSING_PORT, or a free port), and stop it
    with SIGTERM afterwards."""
    port = int(env.get("PROCESSING_PORT") or free_port())
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_XPUB", "_KEY", "_KEY_FILE", "_URL")) and k not in {"BOT_TOKEN", "ADMIN_IDS"}
    }
    full_env = {**clean, "PROCESSING_PORT": str(port), "LOG_LEVEL": "INFO", **env}
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=ROOT, env=full_env, stdout=log, stderr=log
        )
        try:
            await wait_healthy(port, proc)
            yield proc
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def wait_healthy(port: int, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(STARTUP_SECONDS * 10):
            if proc.returncode is not None:
                raise AssertionError(f"bot exited with {proc.returncode} during startup")
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("bot did not become healthy")
