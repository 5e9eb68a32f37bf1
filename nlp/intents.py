"""Messages that are not requests, and the commands of volunteers and staff.

Intents (greeting, thanks, usage_help, bind_address, status_query, rate, urge,
cancel) are decided before a message becomes a ticket, with their arguments:
the ticket number in any form (#123, 123号, 工单123, ＃１２３), the rating
(五星, 打个四分, 基本满意, 评价 123 5) and the invite code. Commands (接单 123,
办结 123 已修好, 分类 123 停车 ...) are parsed into ``Command`` values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from nlp.matcher import Found, Match, Matcher
from nlp.places import to_int
from nlp.results import Command, Place
from nlp.rules import Rules
from nlp.text import Clauses, normalise

MAX_INTENT_CHARS = 200  # a longer message is a request ...
SHORT_CHARS = 80  # ... and only a rating with its reason may be longer than this
_DIGITS = r"[0-9]{1,9}"
# a number that is part of a place, a time or an amount is not a ticket
_NOT_TICKET_AFTER = (r"(?!\s?(?:栋|幢|号楼|号院|单元|室|楼|层|-|点|分|星|元|块|天|年|月|日|岁|度|个|次|小时|周|平|斤"
                     r"|米))")
_STARS = re.compile(r"(?<![0-9])([1-5]|[一二两三四五])\s?(?:颗)?\s?(?:星|分)(?![钟之])")
_SMALL = re.compile(r"(?<![0-9])([1-5]|[一二两三四五])(?![0-9])")
# characters without which a message has no reference to a report, no ticket number and no stars
_REFERENCE_HINTS = ("报", "反映", "提交", "投诉", "提了", "提过")
_TICKET_OR_STAR_HINTS = ("#", "号", "工单", "单子", "编号", "星", "分")
_QUESTION = ("如何", "怎么", "怎样", "什么", "咋", "啥", "有没有", "是不是")
_CONTENT = re.compile(r"[^\W_]")
_ANY_DIGIT = re.compile(r"[0-9]")
_INVITE = re.compile(r"邀请码\s?[:：#]?\s?([0-9a-z]{4,12})")
_BARE_INVITE = re.compile(r"(?<![0-9])([0-9]{6})(?![0-9])")


@dataclass
class IntentResult:
    intent: str
    confidence: float
    matched: list[str] = field(default_factory=list)
    ticket: int | None = None
    rating: int | None = None
    invite_code: str | None = None


class IntentDetector:
    """Recognises intents and commands with the compiled rules."""

    def __init__(self, rules: Rules, matcher: Matcher) -> None:
        self.rules = rules
        self.matcher = matcher
        prefixes = "|".join(re.escape(normalise(p)) for p in sorted(rules.ticket_prefixes, key=len, reverse=True))
        suffixes = "|".join(re.escape(normalise(s)) for s in sorted(rules.ticket_suffixes, key=len, reverse=True))
        explicit = [rf"#\s?({_DIGITS})(?![0-9])"]
        if prefixes:
            explicit.append(rf"(?:{prefixes})\s?[:#]?\s?({_DIGITS})(?![0-9])")
        if suffixes:
            explicit.append(rf"(?<![0-9月])({_DIGITS})\s?(?:{suffixes})(?!楼|栋|院|单元|室|房|线|路)")
        self._explicit = re.compile("|".join(explicit))
        self._bare = re.compile(rf"(?<![0-9a-z#.\-])({_DIGITS})(?![0-9]){_NOT_TICKET_AFTER}")
        self._patterns = {name: [re.compile(p) for p in cues.patterns] for name, cues in rules.intents.items()}
        self._reference = [re.compile(p) for p in rules.reference_patterns]
        fillers = sorted({normalise(w) for w in rules.intent_filler if w.strip()}, key=len, reverse=True)
        self._filler = re.compile("|".join(re.escape(w) for w in fillers)) if fillers else None
        words: dict[str, str] = {}
        for name, cmd_words in rules.commands.items():
            for word in cmd_words:
                words[normalise(word)] = name
        self._command_words = words
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        self._command = re.compile(rf"[/\s]*({alternatives})") if alternatives else None
        self._command_ticket = re.compile(
            rf"\s?[:]?\s?(?:工单号|工单|单号|编号)?\s?#?\s?({_DIGITS})(?:\s?号(?:工单|单)?)?(?![0-9])"
            rf"(?!\s?(?:栋|幢|号楼|号院|单元|室|楼|层|-))")

    # ------------------------------------------------------------ tickets
    def _numbers(self, text: str) -> list[tuple[int, int, int, bool]]:
        """Every ticket-like number: (value, start, end, explicit form)."""
        if _ANY_DIGIT.search(text) is None:
            return []  # every form has an ASCII digit
        out = []
        for m in self._explicit.finditer(text):
            group = next(i for i in range(1, (m.lastindex or 1) + 1) if m.group(i))
            out.append((int(m.group(group)), m.start(), m.end(), True))
        for m in self._bare.finditer(text):
            if not any(s <= m.start() < e for _, s, e, _ in out):
                out.append((int(m.group(1)), m.start(), m.end(), False))
        return sorted((x for x in out if x[0] > 0), key=lambda x: x[1])  # tickets count from 1

    def count_numbers(self, text: str) -> int:
        """How many ticket-like numbers ``text`` has."""
        return len(self._numbers(text))

    # ------------------------------------------------------------ intents
    def detect(self, text: str, found: Found, clauses: Clauses, has_topic: bool,
               place: Place) -> IntentResult | None:
        """The intent of ``text`` (normalised), or None when it is a request."""
        n = len(text.strip())
        if n > MAX_INTENT_CHARS:
            return None
        cues: dict[str, dict[str, list[str]]] = {}
        ratings: list[tuple[int, Match]] = []
        reference: list[str] = []
        intentish = found.intentish
        for m in intentish:
            term = m.term
            for name, level in term.intents.items():
                cues.setdefault(name, {}).setdefault(level, []).append(term.text)
            if term.rating is not None and m.primary:
                ratings.append((term.rating, m))
            if "reference" in term.flags:
                reference.append(term.text)
        if self._reference and any(hint in text for hint in _REFERENCE_HINTS):
            for pattern in self._reference:
                reference += [rm.group() for rm in pattern.finditer(text)]
        if has_topic and not (reference or ratings or any("strong" in levels for levels in cues.values())
                              or "bind_address" in cues or "cancel" in cues
                              or any(hint in text for hint in _TICKET_OR_STAR_HINTS)):
            return None  # the common case: a request; with a topic only these make it an intent
        if n == 0 or not _CONTENT.search(text):
            return self._contentless(text, found.all)
        covered = bytearray(len(text))
        if self._filler is not None:
            for fm in self._filler.finditer(text):
                covered[fm.start():fm.end()] = b"\x01" * (fm.end() - fm.start())
        for m in intentish:
            covered[m.start:m.end] = b"\x01" * (m.end - m.start)
        for name, patterns in self._patterns.items():
            for pattern in patterns:
                for pm in pattern.finditer(text):
                    cues.setdefault(name, {}).setdefault("cue", []).append(pm.group())
                    covered[pm.start():pm.end()] = b"\x01" * (pm.end() - pm.start())

        def has(name: str, level: str | None = None) -> bool:
            found = cues.get(name, {})
            return bool(found) if level is None else bool(found.get(level))

        def words(*names: str) -> list[str]:
            out: list[str] = []
            for name in names:
                for level in ("strong", "cue"):
                    out += cues.get(name, {}).get(level, [])
            return list(dict.fromkeys(out))

        numbers = self._numbers(text)
        explicit = [x for x in numbers if x[3]]
        for _, s, e, _ in numbers:
            covered[s:e] = b"\x01" * (e - s)
        stars = [(to_int(m.group(1)), m) for m in _STARS.finditer(text)]
        for _, sm in stars:
            covered[sm.start():sm.end()] = b"\x01" * (sm.end() - sm.start())

        def residual(a: int = 0, b: int = len(text)) -> int:
            return sum(1 for i in range(a, b) if not covered[i] and text[i].isalnum())

        rest = residual() if n <= 120 else n
        ticket = explicit[0][0] if explicit else (numbers[0][0] if numbers else None)

        short = n <= SHORT_CHARS
        # questions about the account itself
        if has("usage_help", "strong") and not numbers and short:
            return IntentResult("usage_help", 0.9, words("usage_help"))
        # binding an address or an invite code
        if short and (has("bind_address", "strong") or (has("bind_address") and (place.text or "邀请码" in text))):
            code = _INVITE.search(text)
            invite = code.group(1) if code else None
            if invite is None and not place.text:
                bare = _BARE_INVITE.search(text)
                invite = bare.group(1) if bare else None
            return IntentResult("bind_address", 0.95, words("bind_address"), invite_code=invite)
        # cancelling a ticket
        if short and (has("cancel", "strong") or (has("cancel") and (explicit or not has_topic))):
            return IntentResult("cancel", 0.9, words("cancel"), ticket=ticket)
        # rating the last resolved ticket
        rated = self._rating(text, clauses, covered, numbers, ratings, stars, has("rate", "strong") and short, rest)
        if rated is not None:
            rated.matched = words("rate") + rated.matched
            return rated
        if not short:
            return None
        # about an earlier report
        if reference or explicit:
            if has("urge"):
                return IntentResult("urge", 0.85, reference + words("urge"), ticket=ticket)
            if has("status_query") or rest <= 2 or not has_topic:
                return IntentResult("status_query", 0.85, reference + words("status_query"), ticket=ticket)
        if has("urge", "strong") and (not has_topic or self._opens_with(text, cues["urge"]["strong"])):
            return IntentResult("urge", 0.9, words("urge"), ticket=ticket)
        if has("status_query", "strong") and n <= 40:
            return IntentResult("status_query", 0.9, words("status_query"), ticket=ticket)
        if has_topic:
            return None
        if has("urge") and (numbers or rest <= 4):
            return IntentResult("urge", 0.75, words("urge"), ticket=ticket)
        if has("status_query") and (numbers or rest <= 2):
            return IntentResult("status_query", 0.75, words("status_query"), ticket=ticket)
        if rest <= 2:
            if has("thanks"):
                return IntentResult("thanks", 0.9, words("thanks"))
            if has("greeting"):
                return IntentResult("greeting", 0.9, words("greeting"))
        if has("usage_help") and rest <= 6:
            return IntentResult("usage_help", 0.75, words("usage_help"))
        if rest == 0:
            return self._contentless(text, found.all)
        return None

    def arguments(self, text: str, found: Found, intent: str) -> IntentResult:
        """The arguments of ``intent`` when the fitted weights, not the rules, decided it:
        the ticket number (an explicit form first), the rating, the invite code."""
        numbers = self._numbers(text)
        explicit = [x for x in numbers if x[3]]
        ticket = explicit[0][0] if explicit else (numbers[0][0] if numbers else None)
        result = IntentResult(intent, 0.5)
        if intent in ("status_query", "urge", "cancel", "rate"):
            result.ticket = ticket
        if intent == "rate":
            seen: list[tuple[int, int | None]] = [(m.start, m.term.rating) for m in found.intentish if m.primary]
            seen += [(sm.start(), to_int(sm.group(1))) for sm in _STARS.finditer(text)]
            ratings = sorted((start, r) for start, r in seen if r is not None and 1 <= r <= 5)
            if ratings:
                result.rating = ratings[0][1]
            elif ticket is not None and len(numbers) >= 2 and 1 <= numbers[-1][0] <= 5:
                result.rating = numbers[-1][0]
        if intent == "bind_address":
            code = _INVITE.search(text)
            result.invite_code = code.group(1) if code else None
        return result

    @staticmethod
    def _opens_with(text: str, cue_words: list[str]) -> bool:
        """Whether the message starts with one of the cues (a command, not a word in passing)."""
        head = text.lstrip(" ,.!?:，。！？：、")
        return head.startswith(tuple(cue_words))

    def _contentless(self, text: str, matches: list[Match]) -> IntentResult:
        """A message with nothing but punctuation, emoji or filler words."""
        for m in matches:
            if "thanks" in m.term.intents:
                return IntentResult("thanks", 0.6, [m.term.text])
        if "?" in text:
            return IntentResult("usage_help", 0.4, ["?"])
        return IntentResult("greeting", 0.3, [])

    def _rating(self, text: str, clauses: Clauses, covered: bytearray, numbers: list[tuple[int, int, int, bool]],
                ratings: list[tuple[int, Match]], stars: list[tuple[int | None, re.Match[str]]],
                command: bool, rest: int) -> IntentResult | None:
        found: list[tuple[int, int, str]] = []  # (start, score, words)
        for score, m in ratings:
            found.append((m.start, score, m.term.text))
        for star_score, sm in stars:
            if star_score is not None and 1 <= star_score <= 5:
                found.append((sm.start(), star_score, sm.group()))
        found.sort()
        ticket = None
        if command:
            small = [x for x in numbers if 1 <= x[0] <= 5 and not x[3]]
            if found:
                rating: int | None = found[0][1]
                tickets = [x for x in numbers if x[1] < found[0][0] or x[3]]
            elif len(numbers) >= 2 and 1 <= numbers[-1][0] <= 5 and not numbers[-1][3]:
                rating, tickets = numbers[-1][0], numbers[:-1]
            elif len(numbers) == 1 and small:
                rating, tickets = small[0][0], []
            else:
                cn = _SMALL.search(text)
                rating = to_int(cn.group(1)) if cn else None
                tickets = numbers
            ticket = tickets[0][0] if tickets else None
            return IntentResult("rate", 0.95, [w for _, _, w in found[:1]], ticket=ticket, rating=rating)
        if not found:
            return None
        start, score, word = found[0]
        # the rating opens the message (after a ticket number, if any) or is all it says
        first = clauses.of(start)
        lead_ok = all(
            self._clause_residual(text, clauses, covered, c) == 0 for c in range(first + 1)
        )
        if not (lead_ok or rest <= 1):
            return None
        tickets = [x for x in numbers if x[1] < start or x[3]]
        if tickets:
            ticket = tickets[0][0]
        return IntentResult("rate", 0.9, [word], ticket=ticket, rating=score)

    @staticmethod
    def _clause_residual(text: str, clauses: Clauses, covered: bytearray, index: int) -> int:
        a, b = clauses.spans[index]
        return sum(1 for i in range(a, b) if not covered[i] and text[i].isalnum())

    # ----------------------------------------------------------- commands
    def parse_command(self, text: str, category_of: Callable[[str], str | None]) -> Command | None:
        """A volunteer's or staff member's command, or None."""
        if self._command is None:
            return None
        original = text
        norm = normalise(text)
        m = self._command.match(norm)
        if m is None:
            return None
        name = self._command_words[m.group(1)]
        pos = m.end()
        ticket = None
        t = self._command_ticket.match(norm, pos)
        if t is not None and int(t.group(1)) > 0:
            ticket, pos = int(t.group(1)), t.end()
        elif pos < len(norm) and norm[pos].isalnum() and (not _cjk(norm[pos]) or name not in _RUN_ON) \
                and not (norm[pos].isdigit() and name in _PLACE_RUN_ON):
            return None  # "统计2023", "分类垃圾", "关闭了吗": a word that begins like a command
        arg = original[pos:].strip(" \t\r\n:：,，、。.")
        arg_norm = normalise(arg).strip()
        if ticket is None and (arg_norm.endswith(("吗", "?", "呢")) or arg_norm.startswith(_QUESTION)):
            return None  # a question, not a command
        if name in self.rules.bare_commands:
            if len(arg_norm) > 4 or (ticket is not None and name != "todo"):
                return None
            return Command(name, ticket, arg)
        if name == "recategorise":
            if not arg_norm:
                return Command(name, ticket, "") if ticket is not None else None
            code = category_of(arg_norm)
            if ticket is None and (code is None or len(arg_norm) > 6):
                return None
            return Command(name, ticket, code or "")
        if name == "accept" and ticket is None and len(arg_norm) > 20:
            return None
        return Command(name, ticket, arg)


# commands whose note may follow the word without a space or a ticket number: "请假三天"
_RUN_ON = frozenset({"leave", "stats", "campaign_open"})  # "统计本月"
# commands whose argument may follow the word directly when it opens with a place: "走访3栋2单元502 …"
_PLACE_RUN_ON = frozenset({"visit"})


def _cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"
