"""Demo data: the example roster, with everyone's WeChat bound (as if each
had redeemed their invite) and one resident bound to 幸福小区3栋1单元501,
so a newcomer can watch a message become an assigned ticket."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.db import Database
from bot.domain.identity import create_invite, match_address, redeem_invite
from bot.domain.roster.importer import import_rosters
from bot.models import Person, Resident, utcnow

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "roster"
DEMO_RESIDENT = "o_demo_resident"
DEMO_ADDRESS = {"building": 3, "unit": 1, "room": "501", "compound": "幸福小区"}
DEMO_TEXT = "3栋楼道灯坏了好几天了"


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
    return report.summary()
