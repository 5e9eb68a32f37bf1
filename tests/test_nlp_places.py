"""Places in every form residents type them: buildings, units, rooms and named compounds."""

from __future__ import annotations

import pytest

from nlp import Place, TextAnalyser, parse_place


@pytest.fixture(scope="module")
def router() -> TextAnalyser:
    return TextAnalyser()


@pytest.mark.parametrize(("text", "building", "unit", "room"), [
    ("3栋", 3, None, None),
    ("三栋", 3, None, None),
    ("3号楼", 3, None, None),
    ("三号楼", 3, None, None),
    ("三幢", 3, None, None),
    ("十二栋", 12, None, None),
    ("3-2-501", 3, 2, "501"),
    ("2单元", None, 2, None),
    ("二单元", None, 2, None),
    ("501室", None, None, "501"),
    ("六零三", None, None, "603"),
    ("3栋2单元501", 3, 2, "501"),
    ("三栋二单元501室", 3, 2, "501"),
    ("3号楼2单元501", 3, 2, "501"),
    ("十一幢1单元201室", 11, 1, "201"),
    ("九栋二单元六零三", 9, 2, "603"),
    ("１２栋３单元４０１", 12, 3, "401"),
    ("６－２－５０２", 6, 2, "502"),
    ("14号楼3单元1602室", 14, 3, "1602"),
])
def test_building_unit_and_room_in_every_form(text: str, building: int | None, unit: int | None,
                                              room: str | None) -> None:
    place = parse_place(text)
    assert (place.building, place.unit, place.room) == (building, unit, room)
    assert place.text == text  # as written, full-width digits included


@pytest.mark.parametrize(("message", "text"), [
    ("3栋楼下天天有人乱停车", "3栋"),
    ("我们2单元楼道的灯坏了", "2单元"),
    ("3栋2单元501楼上漏水", "3栋2单元501"),
    ("我和3-2-501因为漏水的事吵了半年了", "3-2-501"),
    ("７号楼前面的车位能不能画线", "７号楼"),
    ("602装修把我家墙震裂了", "602"),
    ("六零三的邻居养了好多猫", "六零三"),
])
def test_the_place_is_the_text_as_the_resident_wrote_it(router: TextAnalyser, message: str, text: str) -> None:
    assert router.analyse(message).place.text == text


@pytest.mark.parametrize(("message", "name", "text"), [
    ("幸福小区东门口那辆车停了半个月了", "幸福小区", "幸福小区"),
    ("阳光花园的路灯不亮", "阳光花园", "阳光花园"),
    ("住在翠竹苑的老人", "翠竹苑", "翠竹苑"),
    ("和平街那段路边停车收费吗", "和平街", "和平街"),
    ("大货车晚上停在和平街小区门口", "和平街", "和平街"),
    ("和平街12号门口的共享单车堆成山了", "和平街12号", "和平街12号"),
    ("幸福小区5号楼门口垃圾堆了好几天", "幸福小区", "幸福小区5号楼"),
])
def test_named_compounds_and_streets(router: TextAnalyser, message: str, name: str, text: str) -> None:
    place = router.analyse(message).place
    assert (place.name, place.text) == (name, text)


@pytest.mark.parametrize("message", [
    "我们小区的垃圾没人收",
    "这个小区停车太难了",
    "老旧小区改造什么时候轮到我们",
    "一栋楼的人都没水了",
    "两栋楼之间的路灯坏了",
    "住6楼水压太小",
    "车开到马路上去了",
    "上班路上看到井盖没了",
    "叫了120还没来",
    "2023年就反映过了",
    "物业费一年多少钱？新房子120平",
])
def test_words_that_look_like_places_are_not_places(router: TextAnalyser, message: str) -> None:
    assert router.analyse(message).place == Place("")


def test_roster_names_are_recognised(router: TextAnalyser) -> None:
    roster = TextAnalyser(place_names=["锦绣里", "红星村"])
    place = roster.analyse("锦绣里3栋门口的井盖松了").place
    assert (place.name, place.building, place.text) == ("锦绣里", 3, "锦绣里3栋")
    assert router.analyse("锦绣里3栋门口的井盖松了").place.name is None


def test_roster_names_can_be_set_later() -> None:
    router = TextAnalyser()
    assert router.analyse("老槐树底下的路灯坏了").place.name is None  # no pattern makes it a place
    router.set_place_names(["老槐树"])
    assert router.analyse("老槐树底下的路灯坏了").place.name == "老槐树"


def test_a_zone_before_the_building_is_kept() -> None:
    place = parse_place("绑定 B区3栋501")
    assert (place.text, place.building, place.room) == ("B区3栋501", 3, "501")
