"""Any text a resident can send gets an answer, is stored exactly once, and
never makes the webhook fail (property test, on SQLite)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.db import Database
from bot.models import InboundMessage
from bot.services import build
from bot.web.webhook import create_app
from tests.conftest import WeChat, _create_schema, make_config

# characters XML 1.0 can carry (WeChat cannot send the others)
xml_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff",
                                 min_codepoint=0x20) | st.sampled_from("\t\n\r"), max_size=600)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(xml_text, min_size=1, max_size=4))
def test_any_text_is_answered_and_stored_once(tmp_path: Path, texts: list[str]) -> None:
    async def scenario() -> None:
        from aiohttp.test_utils import TestClient, TestServer

        url = f"sqlite+aiosqlite:///{tmp_path / f'prop-{uuid.uuid4().hex}.db'}"
        await _create_schema(url)
        db = Database(url)
        try:
            client = TestClient(TestServer(create_app(build(make_config(url), db))))
            await client.start_server()
            try:
                wechat = WeChat(client, "aes")
                for i, text in enumerate(texts):
                    xml = wechat.sim.text(f"o_prop_{i}", text)
                    for _ in range(2):  # and its retry
                        response, req = await wechat.post(xml, f"o_prop_{i}")
                        assert response.status == 200
                        wechat.sim.read_reply(await response.text(), req)
            finally:
                await client.close()
            async with db.reading() as session:
                stored = (await session.scalars(select(InboundMessage.content).order_by(InboundMessage.id))).all()
            assert list(stored) == [t.replace("\r\n", "\n").replace("\r", "\n") for t in texts]
        finally:
            await db.dispose()

    asyncio.run(scenario())
