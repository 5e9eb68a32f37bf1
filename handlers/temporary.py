"""TEMPORARY: acknowledges text until the ticket handlers land."""

from bot.dispatcher import Router
from bot.events import Context
from bot.filters import msg_type

router = Router("temporary")


@router.handler(msg_type("text"))
async def acknowledge(ctx: Context) -> str:
    return "已收到：" + ctx.text[:50]
