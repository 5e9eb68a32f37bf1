"""Finds the place a message names: building, unit and room, and named compounds or streets.

Numbers come in every form residents type (3栋, 三栋, 3号楼, 三幢, 3-2-501,
2单元, 501室, 六零三, 3栋2单元501) and are converted with cn2an. Names are
found from generic patterns over the segmentation (幸福小区, 阳光花园, 和平街,
with a street number: 和平街12号院) and from the roster's names when the router
has them.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from nlp.results import Place
from nlp.text import normalise

# digits as typed or as Chinese numerals (converted by cn2an, not by a table)
_CN = "零〇一二两三四五六七八九十百"
_NUM = rf"(?:[0-9]{{1,4}}|[{_CN}]{{1,5}})"
_CN_ROOM = r"[一二三四五六七八九][一二三四五六七八九零〇]{0,1}[零〇][一二三四五六七八九零〇]"
_ROOM = rf"(?:[0-9]{{3,4}}|{_CN_ROOM})"
_DASH = r"\s?[-—–~]\s?"
_NOT_BEFORE = r"(?<![0-9a-z#\-这那每同整哪几某另各本该隔])"

_ADDRESS = re.compile(
    rf"""
    {_NOT_BEFORE}
    (?:
        (?P<d_b>[0-9]{{1,3}}){_DASH}(?P<d_u>[0-9]{{1,2}}){_DASH}(?P<d_r>[0-9]{{3,4}})(?![0-9])
      | (?P<dd_b>[0-9]{{1,3}}){_DASH}(?P<dd_r>[0-9]{{3,4}})(?![0-9\-])
      | (?:(?P<zone>[a-z东西南北]|[0-9{_CN}]{{1,3}})(?:区|期)\s?)?
        (?P<b>{_NUM})\s?(?P<b_suffix>号楼|号栋|栋|幢|座(?![位椅谈]))
        (?:\s?(?P<u>{_NUM})\s?单元)?
        (?:\s?(?P<r>{_ROOM}|[0-9]{{1,4}}(?=\s?室))\s?(?:室|号房|号|房|户)?(?![0-9层]))?
      | (?P<uu>{_NUM})\s?单元
        (?:\s?(?P<ur>{_ROOM})\s?(?:室|号房|号|房|户)?(?![0-9层]))?
      | (?P<rr>{_NUM})\s?(?:室|号房)
      | (?P<cr>{_CN_ROOM})(?![{_CN}栋幢楼单元号落])
      | (?P<yard>{_NUM})\s?号院
    )
    """,
    re.VERBOSE,
)

# every address above has one of these characters
_ADDRESS_HINT = re.compile(r"[栋幢座室号期房零〇\-—–~]|单元|(?<![小社])区")

# a bare room number ("602装修...") only when nothing else names the place
_BARE_ROOM = re.compile(
    r"(?:^|(?<=[\s,.!?;:、，。！？；：住是和跟找])|(?<=楼上|楼下|对门|隔壁|对面))([1-9][0-9]{2,3})(?![0-9])(?=[\u4e00-\u9fff])")
_MEASURE = set("元块年月日号个次天米平度岁分秒人斤克路多万千百期栋幢楼层单室户毫升吨里分页条台辆只")
_SPECIAL_NUMBERS = {"110", "119", "120", "122", "114", "12345", "12315", "12369"}

# a street's house number, after the street's name
_STREET_NUMBER = re.compile(rf"\s?({_NUM})\s?号(院)?(?!楼|栋|单元|室|房)")


NO_PLACE = Place("")


def to_int(digits: str) -> int | None:
    """``"12"``, ``"十二"``, ``"六零三"`` → int (cn2an for Chinese numerals)."""
    digits = digits.strip()
    if not digits:
        return None
    if digits.isascii():
        return int(digits) if digits.isdigit() else None
    import cn2an  # imported on the first Chinese numeral (a fifth of a second, once)

    try:
        value = cn2an.cn2an(digits, "smart")
    except Exception:  # cn2an refuses what is not a number; a message must never fail on it
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _room(digits: str | None) -> str | None:
    if not digits:
        return None
    value = to_int(digits)
    return str(value) if value is not None and value > 0 else None


@dataclass(slots=True)
class _Candidate:
    start: int
    end: int
    building: int | None = None
    unit: int | None = None
    room: str | None = None
    name: str | None = None

    def parts(self) -> int:
        return sum(x is not None for x in (self.building, self.unit, self.room, self.name))


class PlaceFinder:
    """Place extraction configured with the rules' suffixes and an optional roster of names."""

    def __init__(self, places: dict[str, list[str]] | None = None,
                 is_vocabulary: Callable[[str], bool] | None = None) -> None:
        places = places or {}
        self.suffixes = sorted(places.get("suffixes", []), key=len, reverse=True)
        self.suffix_set = set(self.suffixes)
        self._suffix_re = re.compile("|".join(re.escape(x) for x in self.suffixes)) if self.suffixes else None
        # one quick look for anything a place could be made of
        hints = [_ADDRESS_HINT.pattern, "[0-9]", *(re.escape(x) for x in self.suffixes)]
        self._hint = re.compile("|".join(hints))
        self.street_suffixes = tuple(places.get("street_suffixes", []))
        self.locatives = set(places.get("locatives", []))
        self.name_tails = set(places.get("name_tails", []))
        self.stop_prefixes = set(places.get("stop_prefixes", []))
        self.stop_words = tuple(places.get("stop_words", []))
        self.stop_first = set(places.get("stop_first_chars", []))
        self.stop_last = set(places.get("stop_last_chars", []))
        self.is_vocabulary = is_vocabulary or (lambda word: False)
        self._landmark, self._spot = _landmark_pattern(places)
        # a landmark name ends with one of these words: without one of their first characters the
        # text has none (one quick look instead of trying the pattern at every position)
        firsts = "".join(sorted({x[0] for x in places.get("landmark_suffixes", []) if x}))
        self._landmark_hint = re.compile(f"[{re.escape(firsts)}]") if firsts else None
        self._standalone = frozenset(places.get("standalone_landmarks", []))
        self._landmark_suffixes = sorted(places.get("landmark_suffixes", []), key=len, reverse=True)
        # some stop prefixes begin real landmarks (新泉镇, 老电影院): those are not skipped there
        may_start = set(places.get("landmark_may_start", []))
        self._stop_prefix_list = sorted({*(w for w in self.stop_prefixes if w not in may_start),
                                         *places.get("landmark_stop_words", [])}, key=len, reverse=True)
        # the first of the list that opens the text, as one pattern (alternatives in the list's order)
        self._stop_prefix_re = (re.compile("|".join(re.escape(w) for w in self._stop_prefix_list))
                                if self._stop_prefix_list else None)
        # the landmark suffixes by length, longest first: at most one of each length ends a name
        self._landmark_suffix_lengths = sorted({len(x) for x in self._landmark_suffixes}, reverse=True)
        self._landmark_suffix_set = frozenset(self._landmark_suffixes)
        self._not_names = tuple(places.get("landmark_not_names", []))
        self._name_never_ends = frozenset("".join(places.get("landmark_name_never_ends", [])))
        self._weak_spots = frozenset(places.get("weak_spots", []))
        self._landmark_breaks = frozenset("".join(places.get("landmark_breaks", [])))
        self._roster: re.Pattern[str] | None = None
        self._roster_names: dict[str, str] = {}

    def set_place_names(self, names: Iterable[str]) -> None:
        """Use these roster names (compounds, streets, landmarks) from now on."""
        table = {}
        for name in names:
            if isinstance(name, str) and name.strip():
                table[normalise(name.strip())] = name.strip()
        if table:
            alternatives = "|".join(re.escape(n) for n in sorted(table, key=len, reverse=True))
            pattern: re.Pattern[str] | None = re.compile(alternatives)
        else:
            pattern = None
        self._roster, self._roster_names = pattern, table  # swapped together: safe for readers

    # ------------------------------------------------------------- names
    def _names(self, text: str, tokens: list[str], original: str) -> list[_Candidate]:
        found: list[_Candidate] = []
        roster, names = self._roster, self._roster_names
        if roster is not None:
            for m in roster.finditer(text):
                found.append(_Candidate(m.start(), m.end(), name=names.get(m.group(), m.group())))
        taken = [(c.start, c.end) for c in found]
        if self._suffix_re is None:
            return found
        ends: dict[int, int] | None = None
        starts: list[int] = []
        for m in self._suffix_re.finditer(text):
            if ends is None:
                pos = 0
                ends = {}
                for i, tok in enumerate(tokens):
                    starts.append(pos)
                    pos += len(tok)
                    ends[pos] = i
            k = ends.get(m.end())
            if k is not None:
                cand = self._generic(tokens, starts, k)
            else:
                cand = self._street_and_where(tokens, starts, m)
            if cand is None or any(a < cand.end and cand.start < b for a, b in taken):
                continue
            sm = _STREET_NUMBER.match(text, cand.end)
            if sm and cand.name and cand.name.endswith(self.street_suffixes):
                cand.end = sm.end()
            cand.name = original[cand.start:cand.end]
            found.append(cand)
            taken.append((cand.start, cand.end))
        return found

    def _street_and_where(self, tokens: list[str], starts: list[int], m: re.Match[str]) -> _Candidate | None:
        """A street suffix that jieba joined with a locative ("和平/路上"): the street's name."""
        suffix = m.group()
        if suffix not in self.street_suffixes:
            return None
        k = bisect_right(starts, m.start()) - 1
        if k < 1 or starts[k] != m.start() or tokens[k][len(suffix):] not in self.locatives:
            return None
        prev = tokens[k - 1]
        if not self._name_like(prev) or prev in self.suffix_set:
            return None
        return _Candidate(starts[k - 1], m.end(), name=prev + suffix)

    def _generic(self, tokens: list[str], starts: list[int], k: int) -> _Candidate | None:
        tok, start = tokens[k], starts[k]
        if tok in self.suffix_set:
            if k == 0:
                return None
            p, p_start = tokens[k - 1], starts[k - 1]
            if len(p) == 1 and p in self.name_tails and k >= 2 and self._name_like(tokens[k - 2]):
                p_start = starts[k - 2]
                p = tokens[k - 2] + p
            elif not self._name_like(p) or p in self.suffix_set:
                return None
            if p.endswith(self.street_suffixes) and tok not in self.street_suffixes:
                return None  # "和平街小区": the street, not a compound named after it
            return _Candidate(p_start, start + len(tok), name=p + tok)
        for suffix in self.suffixes:
            if tok.endswith(suffix) and len(tok) - len(suffix) >= 2:
                if tok.endswith(self.stop_words) or self.is_vocabulary(tok) or not self._name_like(tok[:-len(suffix)]):
                    return None
                return _Candidate(start, start + len(tok), name=tok)
        return None

    def _name_like(self, word: str) -> bool:
        return (len(word) >= 2 and _is_cjk(word) and word not in self.stop_prefixes
                and word[0] not in self.stop_first and word[-1] not in self.stop_last
                and not self.is_vocabulary(word))

    # ------------------------------------------------------------ numbers
    def _landmark_place(self, text: str, original: str) -> Place:
        """The first landmark, compound, street or town named in ``text`` (else the first spot)
        when nothing more specific is: ``实验小学门口``, ``粮站宿舍``, ``朋口镇朋来社区``, ``楼下``."""
        hint = self._landmark_hint
        pattern = self._landmark if hint is not None and hint.search(text) else None
        for m in pattern.finditer(text) if pattern is not None else ():
            start, name_end = m.start(), m.end("name")
            cut = max((i for i in range(start, name_end) if text[i] in self._landmark_breaks), default=-1)
            start = cut + 1 if cut >= 0 else start
            start = self._skip_stop_prefixes(text, start, name_end)
            suffix = self._landmark_suffix(text, start, name_end)
            if not suffix:  # the name ends with a community or village after a town
                suffix = next((x for x in ("社区", "村", "居委会") if text.endswith(x, start, name_end)), "")
            if suffix in self._standalone or text[start:name_end] in self._standalone:
                shortest = 0  # 菜市场, 二中: a landmark by itself
            elif (len(suffix) >= 2 and suffix not in _GENERIC_SUFFIXES) or m.group("number"):
                shortest = 1
            else:
                shortest = 2
            before = name_end - len(suffix) - 1
            if before >= start and text[before] in self._name_never_ends:
                start = before + 1  # 救护车进小区, 路过菜市场: the verb ends what came before the name
            if name_end - len(suffix) - start < shortest or text.endswith(self._not_names, start, name_end):
                continue  # a bare or generic word (路, 社区, 建议社区, 走路) is not a place; 县医院 is
            span = original[start:m.end()].strip()
            if span:
                return Place(span, name=text[start:name_end])
        return self._spot_place(text, original)

    def _spot_place(self, text: str, original: str) -> Place:
        """The first spot named (a weak one such as 楼下 only when there is no other)."""
        first_weak = None
        for spot in self._spot.finditer(text) if self._spot is not None else ():
            if spot.group("owned") or spot.group("spot") not in self._weak_spots:
                return Place(original[spot.start():spot.end()].strip())
            first_weak = first_weak or spot
        return Place(original[first_weak.start():first_weak.end()].strip()) if first_weak else NO_PLACE

    def _landmark_suffix(self, text: str, start: int, end: int) -> str:
        """The longest landmark suffix that ends ``text[start:end]`` ("" when none)."""
        for n in self._landmark_suffix_lengths:
            if end - start >= n and text[end - n:end] in self._landmark_suffix_set:
                return text[end - n:end]
        return ""

    def _skip_stop_prefixes(self, text: str, start: int, end: int) -> int:
        """Past the stop words that open ``text[start:end]``, one after another (the first listed
        that fits each time)."""
        pattern = self._stop_prefix_re
        if pattern is None:
            return start
        while start < end:
            m = pattern.match(text, start, end)
            if m is None or m.end() == start:
                break
            start = m.end()
        return start

    def _addresses(self, text: str, original: str) -> list[_Candidate]:
        found: list[_Candidate] = []
        if not _ADDRESS_HINT.search(text):
            return found
        for m in _ADDRESS.finditer(text):
            g = m.groupdict()
            if g["d_b"]:
                c = _Candidate(m.start(), m.end(), to_int(g["d_b"]), to_int(g["d_u"]), _room(g["d_r"]))
            elif g["dd_b"]:
                c = _Candidate(m.start(), m.end(), to_int(g["dd_b"]), None, _room(g["dd_r"]))
            elif g["b"]:
                if g["b"] in ("两", "几") or (g["b"] == "一" and not (g["u"] or g["r"])):
                    continue  # "两栋楼之间", "一栋楼的人" are not addresses
                c = _Candidate(m.start(), m.end(), to_int(g["b"]), to_int(g["u"]) if g["u"] else None,
                               _room(g["r"]))
                if g["zone"]:
                    c.name = original[m.start():m.start("b")].strip()
            elif g["uu"]:
                c = _Candidate(m.start(), m.end(), None, to_int(g["uu"]), _room(g["ur"]))
            elif g["rr"]:
                c = _Candidate(m.start(), m.end(), room=_room(g["rr"]))
            elif g["cr"]:
                c = _Candidate(m.start(), m.end(), room=_room(g["cr"]))
            else:
                c = _Candidate(m.start(), m.end(), name=original[m.start():m.end()])
            if c.parts():
                found.append(c)
        return found

    def _bare_room(self, text: str) -> _Candidate | None:
        for m in _BARE_ROOM.finditer(text):
            digits = m.group(1)
            if digits in _SPECIAL_NUMBERS or text[m.end()] in _MEASURE or digits[:2] in ("19", "20"):
                continue
            floor, room = int(digits[:-2]), int(digits[-2:])
            if 1 <= floor <= 40 and 1 <= room <= 30:
                return _Candidate(m.start(), m.end(), room=digits)
        return None

    # --------------------------------------------------------------- find
    def find(self, text: str, tokens: list[str], original: str | None = None) -> Place:
        """The most specific place in ``text`` (normalised, segmented as ``tokens``), as written in ``original``."""
        original = text if original is None else original
        if self._roster is None and not self._hint.search(text):
            return self._landmark_place(text, original)
        names = self._names(text, tokens, original)
        addresses = self._addresses(text, original)
        candidates: list[_Candidate] = []
        used: set[int] = set()
        for name in names:
            joined = None
            for i, addr in enumerate(addresses):
                gap = text[name.end:addr.start]
                if i not in used and addr.start >= name.end and gap.strip() in ("", "的") and len(gap) <= 1:
                    joined = _Candidate(name.start, addr.end, addr.building, addr.unit, addr.room,
                                        name.name if not addr.name else f"{name.name}{addr.name}")
                    used.add(i)
                    break
            candidates.append(joined or name)
        candidates.extend(a for i, a in enumerate(addresses) if i not in used)
        if not candidates:
            bare = self._bare_room(text)
            if bare is None:
                return self._landmark_place(text, original)
            candidates.append(bare)
        best = max(candidates, key=lambda c: (c.parts(), -c.start))
        return Place(original[best.start:best.end].strip(), best.building, best.unit, best.room,
                     best.name)


# suffixes that need a two-character name before them to be a place ("我们社区" is not one)
_GENERIC_SUFFIXES = frozenset(("社区", "小区", "学校", "宿舍", "市场", "片区", "村", "镇", "乡", "街", "路", "河"))


def _landmark_pattern(places: dict[str, Any]) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """The landmark pattern: <up to 8 name characters><suffix>[<town's community or village>][<house
    number>][relation]; and the spot pattern: [relation]([owner]<spot> | <owner><owned spot>)[relation].
    Longest alternatives first."""
    suffixes = sorted(set(places.get("landmark_suffixes", [])), key=len, reverse=True)
    relations = sorted(set(places.get("relations", [])), key=len, reverse=True)
    spots = sorted(set(places.get("spots", [])), key=len, reverse=True)
    alt = lambda words: "|".join(re.escape(w) for w in words)  # noqa: E731
    relation = rf"(?:(?:那个|那条|的)?(?:{alt(relations)}))?" if relations else ""
    # 朋口镇朋来社区: a town, then its community or village; 西街62号: a street's house number
    inner = r"(?:[\u4e00-\u9fff]{0,4}?(?:社区|村|居委会))?"
    number = r"(?P<number>[0-9]{1,4}号(?!楼|栋|单元|室))?"
    named = (rf"(?P<name>[\u4e00-\u9fff0-9A-Za-z]{{0,8}}?(?:{alt(suffixes)}){inner}){number}{relation}"
             if suffixes else "")
    owners = sorted(set(places.get("spot_owners", [])), key=len, reverse=True)
    lead = rf"(?:(?:{alt(relations)})(?:那条|那个|的)?)?" if relations else ""
    owner = rf"(?:(?:{alt(owners)})(?:的|那个)?)?" if owners else ""
    owned = sorted(set(places.get("owned_spots", [])), key=len, reverse=True)
    owned_alt = rf"|(?:{alt(owners)})(?:的|那个)?(?P<owned>{alt(owned)})" if owners and owned else ""
    spot = rf"{lead}(?:{owner}(?P<spot>{alt(spots)}){owned_alt}){relation}" if spots else ""
    return (re.compile(named) if named else None), (re.compile(spot) if spot else None)


def _is_cjk(word: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in word)
