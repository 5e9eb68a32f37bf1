"""A small roster written straight into the database, for flow tests.

北团社区 / 幸福小区 / 3栋 (楼栋长 李卫东) / 2单元 501 and 502 (联户党员 王建国),
601 (联户党员 张秀英); 支部书记 陈志明; 社区工作人员 刘芳. A second
community, 西康社区, has its own staff (黄丽) and a 3栋 in 和平花园.
People marked bound have an openid, as if they had redeemed an invite.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.db import Database
from bot.models import Building, Community, Compound, Household, Person, Township


@dataclass
class Roster:
    member: Person
    member2: Person
    head: Person
    secretary: Person
    staff: Person
    other_staff: Person
    unbound_member: Person
    community_id: int
    household_501: int


async def make_roster(db: Database, *, bind: bool = True) -> Roster:
    def person(phone: str, name: str, openid: str | None, **kw: object) -> Person:
        return Person(phone=phone, name=name, openid=openid if bind else None, **kw)

    async with db.transaction() as s:
        town = Township(name="莲峰镇")
        s.add(town)
        await s.flush()
        beituan = Community(township_id=town.id, name="北团社区")
        xikang = Community(township_id=town.id, name="西康社区")
        s.add_all([beituan, xikang])
        await s.flush()
        member = person("13800000001", "王建国", "o_member_wang")
        member2 = person("13800000002", "张秀英", "o_member_zhang")
        head = person("13800000003", "李卫东", "o_head_li")
        secretary = person("13800000004", "陈志明", "o_secretary_chen")
        staff = person("13800000005", "刘芳", "o_staff_liu", staff_community_id=beituan.id, staff_title="网格员")
        other_staff = person("13800000006", "黄丽", "o_staff_huang", staff_community_id=xikang.id,
                             staff_title="社工")
        unbound = Person(phone="13800000007", name="吴海", openid=None)
        s.add_all([member, member2, head, secretary, staff, other_staff, unbound])
        await s.flush()
        xingfu = Compound(community_id=beituan.id, name="幸福小区", secretary_id=secretary.id)
        heping = Compound(community_id=xikang.id, name="和平花园")
        s.add_all([xingfu, heping])
        await s.flush()
        b3 = Building(compound_id=xingfu.id, label="3栋", number=3, head_id=head.id)
        b5 = Building(compound_id=xingfu.id, label="5栋", number=5)
        h3 = Building(compound_id=heping.id, label="3栋", number=3)
        s.add_all([b3, b5, h3])
        await s.flush()
        h501 = Household(building_id=b3.id, unit=2, room="501", head_name="周大爷", member_id=member.id)
        s.add_all([
            h501,
            Household(building_id=b3.id, unit=2, room="502", head_name="孙阿姨", member_id=member.id),
            Household(building_id=b3.id, unit=2, room="601", head_name="郑先生", member_id=member2.id),
            Household(building_id=b5.id, unit=1, room="101", head_name="钱奶奶", member_id=unbound.id),
            Household(building_id=h3.id, unit=1, room="501", head_name="冯女士"),
        ])
        await s.flush()
        return Roster(member, member2, head, secretary, staff, other_staff, unbound, beituan.id, h501.id)
