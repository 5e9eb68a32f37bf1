"""What nothing else handled: other events and message types are politely
ignored; a command nobody may use is explained."""

from __future__ import annotations

from bot.chat.context import Context
from bot.chat.dispatcher import Router
from bot.chat.filters import any_message, msg_type
from handlers.common import say

router = Router("fallback")


@router.handler(msg_type("event"))
async def other_event(ctx: Context) -> None:
    return None


@router.handler(msg_type("text", "voice"))
async def unreadable(ctx: Context) -> str:
    return say(ctx, "chat.unknown_command")


@router.handler(any_message())
async def other_message(ctx: Context) -> str:
    return say(ctx, "chat.unsupported")
