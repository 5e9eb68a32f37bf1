"""Demo data: the example roster, with everyone's WeChat bound (as if each
had redeemed their invite) and one resident bound to 幸福小区3栋1单元501,
so a newcomer can watch a message become an assigned ticket. The roster marks
a few households 关爱对象, and 北团社区 has an opinion campaign (征集#1) with
two opinions party members collected on their rounds."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.domain.identity import create_invite, match_address, redeem_invite
from bot.domain.roster.importer import import_rosters
from bot.domain.visits.campaigns import open_campaign
from bot.domain.visits.words import read_choice
from bot.models import Campaign, Opinion, Person, Resident, Visit, utcnow
from bot.texts import texts

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "roster"
DEMO_RESIDENT = "o_demo_resident"
DEMO_ADDRESS = {"building": 3, "unit": 1, "room": "501", "compound": "幸福小区"}
DEMO_TEXT = "3栋楼道灯坏了好几天了"
DEMO_STAFF = "15800000002"  # 马晓丽, 北团社区
DEMO_CAMPAIGN = "小区封闭式管理意见"
# opinions collected on visits: (member phone, building, unit, room, what the household said)
DEMO_VISITS = [
    ("13800000004", 3, 1, "502", "户主同意封闭管理，希望多留停车位"),
    ("13800000003", 3, 2, "401", "不同意封闭，老人出入不方便，停车位也不够"),
]


def demo_openid(phone: str) -> str:
    return f"o_demo_{phone}"


async def load_demo(db: Database) -> str:
    """Load the example roster and bind the demo people; returns the import summary."""
    report = await import_rosters(db, [EXAMPLES / "households.csv", EXAMPLES / "staff.csv"])
    now = utcnow()
    async with db.transaction() as session:
        for person in (await session.scalars(select(Person).where(Person.openid.is_(None)))).all():
            invite = await create_invite(session, person, now)
            await redeem_invite(session, demo_openid(person.phone), invite.code, now)
        match = await match_address(session, **DEMO_ADDRESS)  # type: ignore[arg-type]
        resident = await session.get(Resident, DEMO_RESIDENT)
        if resident is None:
            resident = Resident(openid=DEMO_RESIDENT, first_seen_at=now, last_message_at=now)
            session.add(resident)
        if match.household is not None:
            resident.household_id, resident.bound_at = match.household.id, now
        await session.flush()
        if await session.scalar(select(Campaign.id).limit(1)) is None:
            await _demo_campaign(session, now)
    return report.summary()


async def _demo_campaign(session: AsyncSession, now: datetime) -> None:
    staff = await session.scalar(select(Person).where(Person.phone == DEMO_STAFF))
    if staff is None or staff.staff_community_id is None:
        return
    opened = await open_campaign(session, texts, staff, DEMO_CAMPAIGN, now, deadline=now + timedelta(days=30))
    for phone, building, unit, room, words in DEMO_VISITS:
        member = await session.scalar(select(Person).where(Person.phone == phone))
        found = await match_address(session, building=building, unit=unit, room=room, compound="幸福小区")
        if member is None or found.household is None:
            continue
        session.add(Visit(household_id=found.household.id, person_id=member.id, text=words, at=now,
                          campaign_id=opened.campaign.id, data={}))
        session.add(Opinion(campaign_id=opened.campaign.id, household_id=found.household.id, text=words,
                            choice=read_choice(words), collector_id=member.id, created_at=now))
