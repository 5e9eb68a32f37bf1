"""The staff console in a real browser (Playwright driving Debian's Chromium,
never a downloaded one): log in by a link, see a new ticket arrive without
reloading, open, reassign and close it and read the timeline; upload a roster
sheet and see the preview; download the 台账 and open it with openpyxl.
Screenshots of each page go to tests/artifacts/ (not committed)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.domain.console_access import create_link
from bot.models import Person, Ticket
from tests.conftest import WeChat, _create_schema, make_config
from tests.roster import make_roster

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _need_browser() -> None:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install -y chromium fonts-wqy-microhei)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: the browser tests must run)")
        pytest.skip(message)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    _need_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def site(tmp_path: Path, aiohttp_server, aiohttp_client, clock):  # type: ignore[no-untyped-def]
    """The whole app on a loopback port, SQLite, the queue polling every second."""
    from bot.services import build
    from bot.web.webhook import create_app

    url = f"sqlite+aiosqlite:///{tmp_path / 'console.db'}"
    await _create_schema(url)
    db = Database(url)
    services = build(make_config(url, console={"poll_interval_s": 1}), db, now=clock)
    server = await aiohttp_server(create_app(services))
    client = await aiohttp_client(server)
    roster = await make_roster(db)
    yield {"base": str(server.make_url("")).rstrip("/"), "db": db, "wechat": WeChat(client, "aes"),
           "roster": roster, "clock": clock}
    await db.dispose()


async def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"console_{name}.png"), full_page=True)


async def login_url(site: dict[str, Any], phone: str) -> str:
    db: Database = site["db"]
    async with db.transaction() as s:
        person = await s.scalar(select(Person).where(Person.phone == phone))
        assert person is not None
        return f"{site['base']}/console/login/{await create_link(s, person, site['clock'](), 10)}"


async def test_a_staff_members_day_in_the_browser(browser: Any, site: dict[str, Any], tmp_path: Path) -> None:
    from openpyxl import load_workbook

    context = await browser.new_context(accept_downloads=True, locale="zh-CN")
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(await login_url(site, "13800000005"))
    assert page.url.endswith("/console/")
    assert await page.locator("header .who").inner_text() == "刘芳"
    await shot(page, "queue_empty")

    # a resident reports; the ticket shows up on the open queue page by itself
    wechat: WeChat = site["wechat"]
    await wechat.send("o_resident_zhou", "绑定 3栋2单元501")
    reply = await wechat.send("o_resident_zhou", "3栋楼道灯坏了好几天了")
    no = int(re.search(r"#(\d+)", reply).group(1))  # type: ignore[union-attr]
    row = page.locator(f'tr[data-ticket="{no}"]')
    await row.wait_for()
    assert "楼道灯" in await row.inner_text()
    await shot(page, "queue")

    # open it, reassign to the building head 李卫东, close it; the timeline shows each step
    await row.locator("a").first.click()
    await page.wait_for_url(f"**/console/tickets/{no}")
    await shot(page, "ticket")
    await page.select_option('select[name="person"]', str(site["roster"].head.id))
    await page.click("#assign-form button")
    await page.wait_for_url(f"**/console/tickets/{no}?done=assign")
    assert "李卫东" in await page.locator("#handler").inner_text()
    await page.fill('#close-form input[name="note"]', "灯已换好")
    await page.click("#close-form button")
    await page.wait_for_url(f"**/console/tickets/{no}?done=close")
    timeline = await page.locator("#timeline").inner_text()
    assert "改派" in timeline and "关闭" in timeline and "灯已换好" in timeline
    await shot(page, "ticket_closed")
    async with site["db"].reading() as s:
        closed = await s.get(Ticket, no)
    assert closed is not None and closed.state == "closed" and closed.assignee_id == site["roster"].head.id

    # upload a roster sheet: a preview, nothing written yet
    sheet = tmp_path / "staff.csv"
    sheet.write_text("乡镇,社区,姓名,电话,角色\n莲峰镇,北团社区,赵新,15800000009,网格员\n莲峰镇,北团社区,坏行,123,网格员\n",
                     encoding="utf-8")
    await page.goto(f"{site['base']}/console/roster")
    await page.set_input_files('input[type="file"]', str(sheet))
    await page.click("text=上传并预览")
    preview = page.locator("#preview")
    await preview.wait_for()
    text = await preview.inner_text()
    assert "导入预览" in text and "第3行" in text
    await shot(page, "roster_preview")

    # the other pages
    for name in ("triage", "delivery", "stats"):
        await page.goto(f"{site['base']}/console/{name}")
        await shot(page, name)

    # download the 台账 and read it
    async with page.expect_download() as info:
        await page.click("#ledger-link")
    download = await info.value
    target = tmp_path / "ledger.xlsx"
    await download.save_as(str(target))
    book = load_workbook(target)
    first = book.active
    assert [c.value for c in first[1]][:3] == ["工单号", "提交时间", "居民诉求"]
    assert first.cell(row=2, column=1).value == no and first.freeze_panes == "A2"

    # on a phone
    phone = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN")
    small = await phone.new_page()
    await small.goto(await login_url(site, "13800000005"))
    await small.goto(f"{site['base']}/console/?state=all")
    await small.locator(f'tr[data-ticket="{no}"]').wait_for()
    await shot(small, "queue_phone")
    await phone.close()
    await context.close()


async def test_a_used_link_shows_how_to_get_a_new_one(browser: Any, site: dict[str, Any]) -> None:
    page = await (await browser.new_context()).new_page()
    url = await login_url(site, "13800000005")
    await page.goto(url)
    await page.goto(url)
    body = await page.locator("main").inner_text()
    assert "已经用过" in body and "登录" in body
    await shot(page, "login_refused")
