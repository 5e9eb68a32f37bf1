"""Who is who (design.md §2): invites and address binding, at the domain level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.db import Database
from bot.domain.identity import INVITE_TTL, bind_address, create_invite, load_sender, redeem_invite
from bot.models import Person, Resident
from tests.roster import make_roster

NOW = datetime(2024, 5, 15, 2, 0, tzinfo=UTC)


async def test_an_invite_binds_only_within_72_hours(db: Database) -> None:
    roster = await make_roster(db)
    async with db.transaction() as s:
        person = await s.get(Person, roster.unbound_member.id)
        assert person is not None
        late, in_time = await create_invite(s, person, NOW), await create_invite(s, person, NOW)
        late_code, in_time_code = late.code, in_time.code
    async with db.transaction() as s:
        outcome = await redeem_invite(s, "o_new_member_wu", late_code, NOW + INVITE_TTL + timedelta(minutes=1))
    assert (outcome.ok, outcome.reason) == (False, "bind.invite_expired")
    async with db.reading() as s:
        assert await s.scalar(select(Person.openid).where(Person.id == roster.unbound_member.id)) is None
    async with db.transaction() as s:
        outcome = await redeem_invite(s, "o_new_member_wu", in_time_code, NOW + INVITE_TTL - timedelta(minutes=1))
    assert outcome.ok


async def test_an_address_two_compounds_share_binds_nothing_and_asks_which(db: Database) -> None:
    await make_roster(db)  # 幸福小区3栋2单元501 and 和平花园3栋1单元501: "3栋501" names both
    async with db.transaction() as s:
        sender = await load_sender(s, "o_resident_zhou", NOW)
        binding = await bind_address(s, sender, building=3, unit=None, room="501", compound=None, now=NOW)
    assert (binding.household, binding.refusal) == (None, "bind.ambiguous")
    async with db.reading() as s:
        resident = await s.get(Resident, "o_resident_zhou")
        assert resident is not None and resident.household_id is None
    async with db.transaction() as s:
        sender = await load_sender(s, "o_resident_zhou", NOW)
        binding = await bind_address(s, sender, building=3, unit=None, room="501", compound="和平", now=NOW)
    assert binding.household is not None and binding.refusal == ""
