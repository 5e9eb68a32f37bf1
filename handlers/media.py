"""Voice, image and location messages.

Voice is read through WeChat's Recognition text like any text (the request
handlers see it); an empty recognition asks the resident to type. Images and
locations join the sender's recent open ticket, else wait for the next request.
"""

from __future__ import annotations

from bot.chat.context import Context
from bot.chat.dispatcher import Filter, Router
from bot.chat.filters import msg_type
from handlers.common import desk, reply, say

router = Router("media")

empty_voice = msg_type("voice") & Filter(lambda ctx: not ctx.message.content.strip(), "empty_recognition")


@router.handler(empty_voice)
async def ask_to_type(ctx: Context) -> str:
    return say(ctx, "voice.empty")


@router.handler(msg_type("image", "location"))
async def attach(ctx: Context) -> str:
    assert ctx.sender is not None
    return reply(ctx, await desk(ctx).attach_media(ctx.sender, ctx.data["message_id"]))
