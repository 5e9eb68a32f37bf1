"""`demo` (load the example roster) and `chat` (a terminal chat through the
real webhook, signed like WeChat, printing replies and outbox messages)."""

from __future__ import annotations

import asyncio
import re
import sys

import click
from aiohttp import ClientSession, web
from sqlalchemy import select

from bot.cli.base import CliState, pass_state, run
from bot.config import Config
from bot.db import Database, upgrade
from bot.models import OutboxMessage, Person

PHONE = re.compile(r"^1\d{10}$")


@click.command("demo")
@pass_state
def demo(state: CliState) -> None:
    """Load the example roster into the configured database and say what to try."""
    from bot.cli.demo_data import DEMO_RESIDENT, DEMO_TEXT, load_demo

    config = state.config()

    async def go() -> str:
        await upgrade(config.database.url)
        db = Database(config.database.url)
        try:
            return await load_demo(db)
        finally:
            await db.dispose()

    click.echo(run(go()))
    click.echo(f"\nTry it:\n  python -m bot chat --as {DEMO_RESIDENT}    (a resident of 幸福小区3栋1单元501)\n"
               f"      then type: {DEMO_TEXT}\n"
               "  python -m bot chat --as 13800000004   (赵玉兰, the linked party member): 待办, 接单, 办结 …\n"
               "      and: 意见 1 同意封闭管理，希望多留停车位   (an opinion on campaign 征集#1)\n"
               "  python -m bot chat --as 13800000004   (赵玉兰): 走访 3栋1单元601 老人身体挺好, 走访情况\n"
               "  python -m bot chat --as 15800000002   (马晓丽, community staff): 待分派, 统计, 关闭 …,\n"
               "      征集结果 1, 征集结束 1 总结内容;  python -m bot campaign-export 1 --xlsx opinions.xlsx\n"
               "  python -m bot tickets")


class WebhookSession:
    """Sends lines to an in-process webhook over loopback, signed like WeChat."""

    def __init__(self, config: Config, db: Database) -> None:
        from bot import services as services_mod
        from bot.web.webhook import create_app

        self.config = config
        self.db = db
        self.services = services_mod.build(config, db)
        self.app = create_app(self.services)
        mode = "aes" if config.aes_mode else "plain"
        from bot.wechat.simulator import WeChatSimulator

        self.sim = WeChatSimulator(config.wechat.token, config.wechat.app_id, config.wechat.encoding_aes_key, mode)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.url = ""
        self.http: ClientSession | None = None
        self.last_outbox = 0

    async def __aenter__(self) -> WebhookSession:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}{self.config.wechat.path}"
        self.http = ClientSession()
        await self.mark_outbox()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.close()
        await self.runner.cleanup()

    async def send(self, openid: str, text: str) -> str:
        assert self.http is not None
        req = self.sim.sign(self.sim.text(openid, text), openid)
        async with self.http.post(self.url, params=req.query, data=req.body) as response:
            body = await response.text()
            if response.status != 200:
                return f"[HTTP {response.status}] {body}"
        return self.sim.read_reply(body, req).get("Content", "")

    async def exchange(self, openid: str, text: str) -> tuple[str, list[tuple[str, str]]]:
        """Send one line; the reply and the outbox messages this line queued (not
        what other chat windows or the worker queued meanwhile)."""
        await self.mark_outbox()
        reply = await self.send(openid, text)
        return reply, await self.new_outbox()

    async def mark_outbox(self) -> None:
        """Remember where the outbox ends now: new_outbox shows only what comes after."""
        async with self.db.reading() as session:
            self.last_outbox = int(await session.scalar(select(OutboxMessage.id).order_by(
                OutboxMessage.id.desc()).limit(1)) or 0)

    async def new_outbox(self) -> list[tuple[str, str]]:
        async with self.db.reading() as session:
            rows = (await session.execute(
                select(OutboxMessage, Person.name).outerjoin(Person, OutboxMessage.person_id == Person.id)
                .where(OutboxMessage.id > self.last_outbox).order_by(OutboxMessage.id))).all()
        if rows:
            self.last_outbox = rows[-1][0].id
        return [(name or message.openid or "?", message.text) for message, name in rows]


async def resolve_openid(session_db: Database, who: str) -> tuple[str, str | None]:
    """(openid, invite code to redeem first) for a phone number or an openid."""
    from bot.domain.identity import create_invite
    from bot.models import utcnow

    if not PHONE.match(who):
        return who, None
    async with session_db.transaction() as session:
        person = await session.scalar(select(Person).where(Person.phone == who))
        if person is None:
            raise click.ClickException(f"no one with phone {who} in the roster (import one, or run `demo`)")
        if person.openid:
            return person.openid, None
        invite = await create_invite(session, person, utcnow())
        return f"o_chat_{who}", invite.code


@click.command("chat")
@click.option("--as", "who", required=True, help="A phone number of the roster, or a resident's openid.")
@pass_state
def chat(state: CliState, who: str) -> None:
    """Chat as someone, through the real webhook path; replies and outbox messages are printed."""
    config = state.config()

    async def go() -> None:
        db = Database(config.database.url)
        try:
            if db.sqlite:
                await upgrade(config.database.url)
            openid, code = await resolve_openid(db, who)
            async with WebhookSession(config, db) as hook:
                if code is not None:
                    click.echo(f"> 绑定 邀请码 {code}")
                    click.echo(await hook.send(openid, f"绑定 邀请码 {code}"))
                click.echo(f"Chatting as {openid}. Type a message; Ctrl-D to quit.")
                loop = asyncio.get_running_loop()
                while True:
                    line = await loop.run_in_executor(None, _prompt)
                    if line is None:
                        break
                    if not line.strip():
                        continue
                    reply, queued = await hook.exchange(openid, line)
                    click.echo(click.style(reply, fg="green"))
                    for name, text in queued:
                        click.echo(click.style(f"  [outbox → {name}] {text}", fg="yellow"))
        finally:
            await db.dispose()

    run(go())


def _prompt() -> str | None:
    try:
        return input("> " if sys.stdin.isatty() else "")
    except EOFError:
        return None
