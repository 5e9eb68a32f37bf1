"""``python -m bot worker``: the outbox worker alone, until SIGINT/SIGTERM.

Run one or more of these beside web processes started with `serve
--no-worker` (PostgreSQL), or let `serve` run the worker itself (SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click

from bot.cli.base import CliState, pass_state, run, setup_logging
from bot.config import Config


async def _work(config: Config, once: bool) -> int:
    from bot.db import Database, redact
    from bot.delivery.worker import OutboxWorker

    db = Database(config.database.url, config.database.pool_size)
    worker = OutboxWorker(config, db)
    try:
        if once:
            handled = 0
            async with worker:
                while (n := await worker.run_once()) > 0:
                    handled += n
                    if n < config.delivery.batch_size:
                        break
            click.echo(f"outbox: {handled} message(s) handled")
            return handled
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        click.echo(f"outbox worker {worker.name} on {redact(config.database.url)}; Ctrl-C stops it", err=True)
        await worker.run(stop)
        return 0
    finally:
        with contextlib.suppress(Exception):
            await db.dispose()


@click.command("worker")
@click.option("--once", is_flag=True, help="Handle the messages due now, then exit.")
@click.option("-v", "--verbose", is_flag=True)
@pass_state
def worker(state: CliState, once: bool, verbose: bool) -> None:
    """Deliver the outbox (WeChat, WeCom) until SIGINT or SIGTERM."""
    config = state.config()
    setup_logging(verbose)
    run(_work(config, once))
