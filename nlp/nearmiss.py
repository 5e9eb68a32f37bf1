"""Near-miss commands: a message from a volunteer or staff member that looks
like a command but is not one (接但 7, 统记, 改排 6 赵玉兰, 详情 7,
I accept ticket 6). ``NearMiss.suggest`` returns the command they probably
meant, or None; the bot asks before doing anything.

Two kinds of slip are recognised, conservatively:
- the message opens with a word one character away from a command word, or
  sounding like it (pinyin without tones), followed by nothing (for commands
  that take nothing), or by a ticket number and a short note;
- a verb of nlp/data/nearmiss.toml with one ticket number and nothing else
  but filler words (a name may follow for 改派).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from nlp import sounds

_DATA = tomllib.loads((Path(__file__).resolve().parent / "data" / "nearmiss.toml").read_text("utf-8"))
_NUMBER = re.compile(r"#?\s?([0-9]{1,9})(?![0-9])(?!\s?(?:栋|幢|号楼|号院|单元|室|楼|层|点|分|元|块|天|年|月|日|岁|度"
                     r"|个|次|小时|周|平|斤|米|-))")
_LEAD = re.compile(r"([\u4e00-\u9fff]{2,4})")
_PUNCT = " \t\r\n,，。.!！?？:：;；、~～\"“”'‘’()（）"
_NAME = re.compile(r"[\u4e00-\u9fff]{2,4}")
MAX_CHARS = 40


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower().strip(_PUNCT)


def _one_apart(a: str, b: str) -> bool:
    """Same length and exactly one character different."""
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1


def _sounds_alike(a: str, b: str) -> bool:
    if len(a) != len(b) or a == b:
        return False
    theirs = set(sounds.keys(b))
    return any(k in theirs for k in sounds.keys(a))


class NearMiss:
    """Suggests the command a slip meant (see the module docstring)."""

    def __init__(self, commands: dict[str, list[str]], bare: Iterable[str]) -> None:
        self.usual = {name: words[0] for name, words in commands.items() if words}
        self.words = sorted(((w, name) for name, words in commands.items() for w in words if len(w) >= 2),
                            key=lambda x: -len(x[0]))
        self.bare = frozenset(bare)
        self.verbs = sorted(((v.lower(), usual) for usual, verbs in _DATA["verbs"].items() for v in verbs),
                            key=lambda x: -len(x[0]))
        self.fillers = sorted((w.lower() for w in _DATA["fillers"]["words"]), key=len, reverse=True)

    def suggest(self, text: str) -> str | None:
        plain = _plain(text)
        if not plain or len(plain) > MAX_CHARS:
            return None
        return self._misspelt(plain) or self._verb_and_number(plain)

    def _misspelt(self, plain: str) -> str | None:
        lead = _LEAD.match(plain)
        if lead is None:
            return None
        for word, name in self.words:
            head = plain[:len(word)]
            if len(head) < len(word) or head == word:
                continue
            alike = _sounds_alike(head, word)
            if not (alike or _one_apart(head, word)):
                continue
            rest = plain[len(word):].strip(_PUNCT)
            usual = self.usual[name] if head not in (w for w, _ in self.words) else None
            if usual is None:
                return None  # another command word: not a slip
            if not rest:
                if alike or name in self.bare:
                    return usual
                continue
            number = _NUMBER.match(rest)
            if number is None or name in self.bare:
                continue
            note = rest[number.end():].strip(_PUNCT)
            if len(note) > 20 or note.endswith(("吗", "呢")):
                continue
            return f"{usual} {number.group(1)}" + (f" {note}" if note else "")
        return None

    def _verb_and_number(self, plain: str) -> str | None:
        numbers = list(_NUMBER.finditer(plain))
        if len(numbers) != 1:
            return None
        number = numbers[0].group(1)
        rest = plain[:numbers[0].start()] + " " + plain[numbers[0].end():]
        tokens = re.findall(r"[a-z]+|[^a-z\s]+", rest)
        found: set[str] = set()
        leftover: list[str] = []
        for token in tokens:
            if token.isascii():
                usual = next((u for v, u in self.verbs if v == token), None)
                if usual is not None:
                    found.add(usual)
                elif token not in self.fillers:
                    leftover.append(token)
                continue
            chunk = token.strip(_PUNCT)
            for verb, usual in self.verbs:
                if not verb.isascii() and chunk.startswith(verb):
                    found.add(usual)
                    chunk = chunk[len(verb):]
                    break
            for filler in self.fillers:
                chunk = chunk.replace(filler, "") if not filler.isascii() else chunk
            chunk = chunk.strip(_PUNCT)
            if chunk:
                leftover.append(chunk)
        if len(found) != 1:
            return None
        usual = found.pop()
        if not leftover:
            return f"{usual} {number}"
        if usual == "改派" and len(leftover) == 1 and _NAME.fullmatch(leftover[0]):
            return f"{usual} {number} {leftover[0]}"
        return None
