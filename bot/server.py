"""Running the server: start-up, the background tasks, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import services as services_mod
from bot.config import Config
from bot.db import Database, redact, upgrade
from bot.webhook import create_app

log = logging.getLogger("lianxin.server")

BackgroundTask = Callable[[services_mod.Services, asyncio.Event], Awaitable[None]]


def background_tasks(worker: bool) -> list[BackgroundTask]:
    """The periodic work a serving process also does."""
    tasks: list[BackgroundTask] = [_housekeeping]
    if worker:
        try:
            from bot.delivery.worker import run_worker_task
        except ImportError:  # delivery not installed in this build
            pass
        else:
            tasks.append(run_worker_task)
        try:
            from bot.domain.clock import run_clock_task
        except ImportError:
            pass
        else:
            tasks.append(run_clock_task)
    return tasks


async def _housekeeping(services: services_mod.Services, stop: asyncio.Event) -> None:
    from bot.inbox import forget_old_nonces

    while not stop.is_set():
        try:
            await forget_old_nonces(services.db, services.now(), services.config.wechat.replay_window_s)
        except Exception:
            log.exception("housekeeping failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=60)


async def prepare_database(config: Config, demo: bool) -> Database:
    db = Database(config.database.url, config.database.pool_size)
    if db.sqlite or demo:
        await upgrade(config.database.url)
    if demo:
        from bot.domain.demo import load_demo

        await load_demo(db)
    return db


async def serve(config: Config, host: str | None = None, port: int | None = None, demo: bool = False,
                worker: bool = True) -> None:
    db = await prepare_database(config, demo)
    services = services_mod.build(config, db)
    app = create_app(services)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    bind_host = host or config.server.host
    bind_port = port if port is not None else config.server.port
    site = web.TCPSite(runner, bind_host, bind_port, reuse_port=not db.sqlite)
    await site.start()
    print(f"Lianxin listening on http://{bind_host}:{bind_port}{config.wechat.path} "
          f"(database {redact(config.database.url)}, "
          f"{'AES safe mode' if config.aes_mode else 'plaintext mode'})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(task(services, stop)) for task in background_tasks(worker)]
    await stop.wait()
    print("Lianxin shutting down", flush=True)
    await runner.cleanup()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await db.dispose()
