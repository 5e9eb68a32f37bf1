"""Running the server: start-up, the background tasks, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import services as services_mod
from bot.config import Config
from bot.db import Database, ensure_schema, redact
from bot.web.webhook import create_app

log = logging.getLogger("lianxin.server")

BackgroundTask = Callable[[services_mod.Services, asyncio.Event], Awaitable[None]]


async def _run(task: BackgroundTask, services: services_mod.Services, stop: asyncio.Event) -> None:
    await task(services, stop)


def background_tasks(config: Config, worker: bool) -> list[BackgroundTask]:
    """The periodic work a serving process also does: forgetting old nonces,
    the deadline clock and, when sending is configured, the outbox worker."""
    from bot.domain.clock import run_clock_task

    tasks: list[BackgroundTask] = [_housekeeping]
    if not worker:
        return tasks
    tasks.append(run_clock_task)
    if config.wechat.app_secret or config.wecom.enabled:
        from bot.delivery.worker import run_worker_task

        tasks.append(run_worker_task)
    else:
        log.warning("wechat.app_secret is empty: notifications stay in the outbox until it is set")
    return tasks


async def _housekeeping(services: services_mod.Services, stop: asyncio.Event) -> None:
    from bot.web.inbox import forget_old_nonces

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
        await ensure_schema(db)
    if demo:
        from bot.cli.demo_data import load_demo

        await load_demo(db)
    return db


def spawn_siblings(count: int) -> list[subprocess.Popen[bytes]]:
    """Start `count` more copies of this serve command (each one process, same port)."""
    args = list(sys.argv[1:])
    if "--processes" in args:
        index = args.index("--processes")
        del args[index:index + 2]
    args = [a for a in args if not a.startswith("--processes=") and a != "--demo"]
    return [subprocess.Popen([sys.executable, "-m", "bot", *args, "--sibling"]) for _ in range(count)]


async def serve(config: Config, host: str | None = None, port: int | None = None, demo: bool = False,
                worker: bool = True, reuse_port: bool = False) -> None:
    db = await prepare_database(config, demo)
    services = services_mod.build(config, db)
    bind_host = host or config.server.host
    bind_port = port if port is not None else config.server.port
    runner, _site = await start_site(create_app(services), config, bind_host, bind_port, reuse_port)
    print(f"Lianxin listening on http://{bind_host}:{bind_port}{config.wechat.path} "
          f"(database {redact(config.database.url)}, "
          f"{'AES safe mode' if config.aes_mode else 'plaintext mode'})", flush=True)
    if demo:
        await show_demo(config, db, f"http://{_loopback(bind_host)}:{bind_port}{config.wechat.path}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(_run(task, services, stop)) for task in background_tasks(config, worker)]
    await stop.wait()
    print("Lianxin shutting down", flush=True)
    await runner.cleanup()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await db.dispose()


class _Refuse(asyncio.Protocol):
    """A connection over the cap: a 503 and closed, without parsing anything."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        transport.close()


class CappedSite(web.TCPSite):
    """A TCP site that holds at most `max_connections` connections open; more are
    answered 503 and closed at once."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, *, max_connections: int,
                 reuse_port: bool | None = None) -> None:
        super().__init__(runner, host, port, reuse_port=reuse_port)
        self.max_connections = max_connections
        self.refused = 0

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.Protocol:
            if len(server.connections) >= self.max_connections:
                self.refused += 1
                return _Refuse()
            return server()

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(protocol, self._host, self._port, backlog=self._backlog,
                                                reuse_address=self._reuse_address, reuse_port=self._reuse_port)
        sockets = self._server.sockets
        if sockets:
            self._bound_port = sockets[0].getsockname()[1]


async def start_site(app: web.Application, config: Config, host: str, port: int, reuse_port: bool = False
                     ) -> tuple[web.AppRunner, CappedSite]:
    """Run `app` on host:port with the transport limits of [wechat]: a connection
    whose request headers are not complete in header_timeout_s is closed (the
    same time bounds an idle keep-alive), and at most max_connections are open."""
    w = config.wechat
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=w.header_timeout_s)
    await runner.setup()
    site = CappedSite(runner, host, port, max_connections=w.max_connections, reuse_port=reuse_port or None)
    await site.start()
    return runner, site


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


async def show_demo(config: Config, db: Database, url: str) -> None:
    """Send the demo resident's first message through the running webhook,
    signed like WeChat, and print the reply and the notification it queued."""
    from aiohttp import ClientSession
    from sqlalchemy import select

    from bot.cli.demo_data import DEMO_RESIDENT, DEMO_TEXT
    from bot.models import OutboxMessage, Person, Ticket
    from bot.wechat.simulator import WeChatSimulator

    async with db.reading() as session:
        existing = await session.scalar(select(Ticket.id).where(Ticket.openid == DEMO_RESIDENT).limit(1))
    if existing is not None:
        print(f"Demo: ticket #{existing} already exists; see `python -m bot tickets {existing}`.", flush=True)
        return
    sim = WeChatSimulator(config.wechat.token, config.wechat.app_id, config.wechat.encoding_aes_key,
                          "aes" if config.aes_mode else "plain")
    request = sim.sign(sim.text(DEMO_RESIDENT, DEMO_TEXT), DEMO_RESIDENT)
    async with ClientSession() as http, http.post(url, params=request.query, data=request.body) as response:
        reply = sim.read_reply(await response.text(), request).get("Content", "")
    async with db.reading() as session:
        rows = (await session.execute(
            select(OutboxMessage.text, Person.name).join(Person, OutboxMessage.person_id == Person.id)
            .join(Ticket, OutboxMessage.ticket_id == Ticket.id).where(Ticket.openid == DEMO_RESIDENT))).all()
    print(f"\nDemo: the resident {DEMO_RESIDENT} wrote “{DEMO_TEXT}”; the reply was:\n{reply}", flush=True)
    for text, name in rows:
        print(f"\nQueued for {name}:\n{text}", flush=True)
    print("\nTry more: python -m bot chat --as o_demo_resident  (or --as 13800000004, the party member)\n",
          flush=True)
