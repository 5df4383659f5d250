"""The bot as the playground's child process: ``launchbot serve`` on a free loopback port, pointed
at the stand-in, its output forwarded, stopped in order (and by the kernel if the playground dies)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

SOURCE_ROOT = (
    Path(__file__).resolve().parents[2]
)  # so the child finds `bot` even when not installed
BOT_START_SECONDS = 60.0
# A free port can be taken by another process before the bot binds it: pick again, a few times.
BOT_PORT_TRIES = 3
BOT_STOP_SECONDS = 20.0
# Variables of the playground's own environment the child must not inherit: the stand-in sets them
# (the clock's scale comes from --speed only).
OWN_VARIABLES = ("SLACK_", "DATABASE_URL", "LAUNCHBOT_CONFIG", "LAUNCHBOT_TIME_SCALE")


class PlaygroundError(Exception):
    """The playground could not start (the bot process failed); the message says why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the bot's child process before exec: if the playground dies without stopping it
    (SIGKILL, a crash), the kernel sends the bot SIGTERM instead of leaving it holding the files."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class BotProcess:
    """One ``launchbot serve`` child; ``on_port`` hears each port it tries, before it starts."""

    def __init__(self, on_port: Callable[[int], None]) -> None:
        self.on_port = on_port
        self.proc: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self._tmp: Path | None = None
        self._forwarding: list[asyncio.Task[None]] = []

    async def start(self, config: str, settings: dict[str, str]) -> None:
        """Write ``config`` where only the child reads it, then serve with ``settings`` set; returns
        once the bot answers its health check."""
        self._tmp = Path(tempfile.mkdtemp(prefix="launchbot-playground-"))
        config_file = self._tmp / "launchbot.toml"
        config_file.write_text(config, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
        env.update(settings, LAUNCHBOT_CONFIG=str(config_file))
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(SOURCE_ROOT), env.get("PYTHONPATH")) if p
        )
        env.setdefault("LAUNCHBOT_LOG_LEVEL", "WARNING")
        for _ in range(BOT_PORT_TRIES):
            if await self._spawn(env, free_port()):
                return
        raise PlaygroundError("the bot found no free port to listen on")

    async def _spawn(self, env: dict[str, str], port: int) -> bool:
        """Start the bot on ``port`` and wait for its health; False if another process took the
        port between choosing and binding it (then the caller picks another)."""
        self.on_port(port)
        # Its own session: Ctrl-C reaches the playground only, which then stops the bot in order.
        self.proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.output = []
        self._forwarding.append(asyncio.create_task(self._forward_output(self.proc)))
        return await self._healthy(self.proc, port)

    async def _healthy(self, proc: asyncio.subprocess.Process, port: int) -> bool:
        deadline = time.monotonic() + BOT_START_SECONDS
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if proc.returncode is not None:
                    await asyncio.sleep(0.2)  # let the last lines arrive
                    if any("address already in use" in line for line in self.output):
                        return False
                    raise PlaygroundError(
                        "the bot exited while starting:\n" + "\n".join(self.output[-20:])
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(
                        f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=2)
                    ) as r:
                        if r.status == 200:
                            return True
                await asyncio.sleep(0.1)
        raise PlaygroundError(f"the bot did not answer within {BOT_START_SECONDS:.0f} s")

    async def _forward_output(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.output = [*self.output[-50:], line]
            # The bot's own URL is internal here; printing it would suggest opening the wrong page.
            if line.startswith(("launchbot: serving", "launchbot: stopping")):
                continue
            print(f"  bot | {line}", file=sys.stderr, flush=True)  # noqa: T201

    async def wait(self) -> int:
        assert self.proc is not None
        return await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``BOT_STOP_SECONDS``; the temporary config goes too."""
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), BOT_STOP_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in self._forwarding:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._forwarding.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
