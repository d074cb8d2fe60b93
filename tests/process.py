"""Running the real bot as `python -m bot`, exactly as the README does, for end-to-end tests."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from config import ROOT

STARTUP_SECONDS = 60  # importing aiogram alone takes several seconds on a busy 2-core machine


def bot_command(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot <args>` (a command-line tool) on the database `db_url`, with none of this process's keys,
    public keys or URLs; its exit status and output, whatever they are."""
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_KEY", "_XPUB", "_KEY_FILE", "_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env={**clean, "LOG_LEVEL": "WARNING", "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def bot_process(env: dict[str, str], log_path: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """Start the bot, wait until /healthz answers, and stop it with SIGTERM afterwards. It listens on
    PROCESSING_PORT when `env` names one, else on a free port."""
    port = int(env.get("PROCESSING_PORT") or free_port())
    async with module_process("bot", {"PROCESSING_PORT": str(port), "LOG_LEVEL": "INFO", **env}, log_path) as proc:
        await wait_healthy(port, proc)
        yield proc


@asynccontextmanager
async def module_process(module: str, env: dict[str, str], log_path: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m <module>` in the repository, its output in `log_path`, with `env` over this process's
    environment less its keys, URLs, token and admins; stopped with SIGTERM afterwards (killed after 20 s)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_XPUB", "_KEY", "_KEY_FILE", "_URL")) and k not in {"BOT_TOKEN", "ADMIN_IDS"}
    }
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, cwd=ROOT, env={**clean, **env}, stdout=log, stderr=log
        )
        try:
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
