"""The command line: ``python -m bot [--config PATH] COMMAND``.

Commands live beside the code they drive (bot/cli_*.py) and are registered
here. A config mistake prints one line naming the key and exits with code 2.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import click

from bot.config import Config, ConfigError, load

T = TypeVar("T")


@dataclass
class CliState:
    """What every command gets: the --config path, loaded on first use."""

    config_path: Path | None
    _config: Config | None = field(default=None, repr=False)

    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load(self.config_path)
            except ConfigError as exc:
                click.echo(str(exc), err=True)
                sys.exit(2)
        return self._config


pass_state = click.make_pass_decorator(CliState)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine. A ConfigError raised inside exits with code 2;
    a database that is missing its tables, refuses the connection or cannot be
    found prints one line saying what to do and exits with code 1."""
    try:
        return asyncio.run(coro)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except Exception as exc:
        message = explain_database_error(exc, _database_url())
        if message is None:
            raise
        click.echo(f"error: {message}", err=True)
        sys.exit(1)


def _database_url() -> str:
    ctx = click.get_current_context(silent=True)
    state = ctx.find_object(CliState) if ctx is not None else None
    if state is not None and state._config is not None:
        return state._config.database.url
    return ""


def explain_database_error(exc: BaseException, url: str) -> str | None:
    """One line for a database problem a person can fix, or None for anything else."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError

    try:
        parsed = make_url(url) if url else None
    except ArgumentError:
        parsed = None
    where = parsed.render_as_string(hide_password=True) if parsed is not None else "the database"
    host = f"{parsed.host or 'localhost'}:{parsed.port or 5432}" if parsed is not None and parsed.host is not None \
        else "the database server"
    text = str(exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc)
    lowered = text.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return f"{where} has no Lianxin tables: run `python -m bot init-db` first"
    if "unable to open database file" in lowered:
        folder = Path(parsed.database).parent if parsed is not None and parsed.database else None
        missing = f" (the folder {folder} does not exist?)" if folder is not None and not folder.is_dir() else ""
        return f"cannot open the SQLite file of {where}{missing}: check [database] url"
    if "database" in lowered and "does not exist" in lowered:
        name = parsed.database if parsed is not None else ""
        return f"the database {name!r} does not exist on {host}: create it (createdb {name}), then run init-db"
    if "password authentication failed" in lowered or ("role" in lowered and "does not exist" in lowered):
        return f"{host} refused the login of {where}: check the user and password in [database] url"
    if isinstance(exc, ConnectionRefusedError) or "connect call failed" in lowered or "connection refused" in lowered:
        return f"the database server {host} refused the connection: is PostgreSQL running there? " \
               "(check [database] url)"
    if isinstance(exc, socket.gaierror) or "name or service not known" in lowered:
        return f"cannot find the database host {host}: check [database] url"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"the database server {host} did not answer in time: check [database] url and the network"
    return None


async def with_database(url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work`` with a database for ``url``, disposed of afterwards (a command's one use of it)."""
    from bot.db import Database

    db = Database(url)
    try:
        return await work(db)
    finally:
        await db.dispose()


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("jieba", "alembic", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class LazyGroup(click.Group):
    """A group whose commands live beside the code they drive and are imported
    only when used, so `serve` does not pay for every other command's libraries."""

    lazy: ClassVar[dict[str, tuple[str, str]]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*self.commands, *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands or name not in self.lazy:
            return self.commands.get(name)
        import importlib

        module_name, command_name = self.lazy[name]
        for value in vars(importlib.import_module(module_name)).values():
            if isinstance(value, click.Command) and value.name == command_name:
                return value
        raise LookupError(f"{module_name} defines no command {command_name!r}")


@click.group(cls=LazyGroup)
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="TOML config file (default: config.toml, with config.example.toml's values as defaults).")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """连心 Lianxin: residents' requests to the right party member."""
    ctx.obj = CliState(config_path)


@main.command("init-db")
@pass_state
def init_db(state: CliState) -> None:
    """Create or upgrade the database schema (alembic upgrade head; idempotent)."""
    from bot.db import redact, upgrade_sync

    config = state.config()
    upgrade_sync(config.database.url)
    click.echo(f"database ready: {redact(config.database.url)}")


@main.command("serve")
@click.option("--host", default=None, help="Override [server] host.")
@click.option("--port", type=int, default=None, help="Override [server] port.")
@click.option("--demo", is_flag=True, help="Load the example roster first (a newcomer's first run).")
@click.option("--no-worker", is_flag=True, help="Do not run the outbox worker in this process.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Web processes sharing the port (PostgreSQL only; SQLite serves from one process).")
@click.option("--sibling", is_flag=True, hidden=True)
@click.option("-v", "--verbose", is_flag=True)
@pass_state
def serve(state: CliState, host: str | None, port: int | None, demo: bool, no_worker: bool, processes: int,
          sibling: bool, verbose: bool) -> None:
    """Run the webhook (and, unless disabled, the outbox worker and the deadline clock)."""
    from bot.web.server import serve as run_server
    from bot.web.server import spawn_siblings

    config = state.config()
    if processes > 1 and config.database.url.startswith("sqlite"):
        click.echo("config error: --processes: expected 1 with SQLite (use PostgreSQL for several processes)",
                   err=True)
        sys.exit(2)
    setup_logging(verbose)
    siblings = spawn_siblings(processes - 1)
    try:
        run(run_server(config, host=host, port=port, demo=demo, worker=config.server.worker and not no_worker,
                       reuse_port=processes > 1 or sibling))
    finally:
        for child in siblings:
            child.terminate()
        for child in siblings:
            child.wait(timeout=10)


LazyGroup.lazy = {
    "classify": ("bot.cli.nlp", "classify"),
    "eval": ("bot.cli.nlp", "eval"),
    "train": ("bot.cli.nlp", "train"),
    "import-roster": ("bot.cli.roster", "import-roster"),
    "invite": ("bot.cli.tickets", "invite"),
    "tickets": ("bot.cli.tickets", "tickets"),
    "stats": ("bot.cli.stats", "stats"),
    "worker": ("bot.cli.delivery", "worker"),
    "demo": ("bot.cli.demo", "demo"),
    "chat": ("bot.cli.demo", "chat"),
    "console-link": ("bot.cli.console", "console-link"),
    "audit": ("bot.cli.security", "audit"),
    "deliveries": ("bot.cli.security", "deliveries"),
    "campaign-export": ("bot.cli.visits", "campaign-export"),
}
